package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-sync/sync/internal/keys"
)

// Exit codes.
const (
	exitOK          = 0 // done
	exitFailed      = 1 // the operation failed, what was named does not exist, or the operator said no
	exitUsage       = 2 // bad command line, or a confirmation needed without a terminal
	exitUnreachable = 3 // cannot reach (or authenticate to) Redis
)

// exitError carries an exit code with the error printed on stderr.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}

func failErr(format string, a ...any) error {
	return &exitError{exitFailed, fmt.Errorf(format, a...)}
}

func unreachableErr(err error) error { return &exitError{exitUnreachable, err} }

// config is the parsed command line.
type config struct {
	urls    []string
	cluster bool
	prefix  string
	json    bool
	yes     bool
	timeout time.Duration
	limit   int64
	all     bool
	help    bool
}

// cli runs one command. Tests build it directly to set tty and scrub.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// tty reports whether stdin is a terminal a human can answer on.
	tty bool
	// scrub, when set, rewrites a result before it is printed: tests make
	// times, TTLs and ids deterministic with it, before column widths
	// are computed.
	scrub func(any)
	// now is the clock ages are computed against.
	now func() time.Time
	// connected, when set, runs once the nodes answered PING: tests make
	// a node hang there, after the connection check.
	connected func()

	cfg  config
	conn *conn
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, tty: isTerminal(stdin), now: time.Now}
	return c.main(ctx, args)
}

// isTerminal reports whether r is a terminal a human can answer on; a
// character device such as /dev/null is not one.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminalFile(f)
}

func (c *cli) main(ctx context.Context, args []string) int {
	err := c.exec(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case unreachable(err):
		code = exitUnreachable
	}
	msg := escape(strings.ReplaceAll(err.Error(), "\n", " "), false)
	if code == exitUsage {
		msg += " (see syncctl --help)"
	}
	fmt.Fprintf(c.stderr, "syncctl: %s\n", msg)
	return code
}

// command is a subcommand: its words, its own flags and what it runs.
type command struct {
	words []string // e.g. {"dead", "list"}
	args  string   // positional arguments, for help
	min   int      // positional arguments after the words
	max   int      // -1: any number
	flags []string // command-specific flags allowed
	short string
	help  string
	run   func(c *cli, ctx context.Context, args []string) error
}

var commands []*command

func init() {
	commands = []*command{
		{words: []string{"locks", "list"}, max: 0, short: "every lock: state, owner, fencing token, TTL", help: helpLocksList, run: (*cli).locksList},
		{words: []string{"locks", "show"}, args: "NAME", min: 1, max: 1, short: "one lock on every node, and the quorum view", help: helpLocksShow, run: (*cli).locksShow},
		{words: []string{"leaders"}, args: "[GROUP]", max: 1, short: "leader of each election group: id, term, since, lease", help: helpLeaders, run: (*cli).leaders},
		{words: []string{"queues"}, args: "[QUEUE]", max: 1, short: "task queues: length, pending, lag, delayed, retry, dead, oldest age", help: helpQueues, run: (*cli).queues},
		{words: []string{"dead", "list"}, args: "QUEUE", min: 1, max: 1, flags: []string{"limit"}, short: "dead-lettered tasks of a queue, oldest first", help: helpDeadList, run: (*cli).deadList},
		{words: []string{"dead", "requeue"}, args: "QUEUE [ID...]", min: 1, max: -1, flags: []string{"all"}, short: "move dead tasks back to their queue (asks first)", help: helpDeadRequeue, run: (*cli).deadRequeue},
		{words: []string{"dead", "delete"}, args: "QUEUE [ID...]", min: 1, max: -1, flags: []string{"all"}, short: "delete dead tasks (asks first)", help: helpDeadDelete, run: (*cli).deadDelete},
		{words: []string{"topics"}, args: "[TOPIC]", max: 1, short: "event topics; with TOPIC: partitions, groups, owners, offsets, lag", help: helpTopics, run: (*cli).topics},
	}
}

// globalFlags are accepted by every command.
var globalFlags = []string{"redis", "cluster", "prefix", "json", "yes", "y", "timeout", "help", "h"}

func (c *cli) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("syncctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cfg := &c.cfg
	fs.Func("redis", "", func(s string) error {
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.urls = append(cfg.urls, u)
			}
		}
		return nil
	})
	fs.BoolVar(&cfg.cluster, "cluster", false, "")
	fs.StringVar(&cfg.prefix, "prefix", cfg.prefix, "")
	fs.BoolVar(&cfg.json, "json", false, "")
	fs.BoolVar(&cfg.yes, "yes", false, "")
	fs.BoolVar(&cfg.yes, "y", false, "")
	fs.DurationVar(&cfg.timeout, "timeout", cfg.timeout, "")
	fs.Int64Var(&cfg.limit, "limit", cfg.limit, "")
	fs.BoolVar(&cfg.all, "all", false, "")
	fs.BoolVar(&cfg.help, "help", false, "")
	fs.BoolVar(&cfg.help, "h", false, "")
	return fs
}

// parse reads flags anywhere on the line and returns the positional
// arguments and the flags that were set.
func (c *cli) parse(args []string) ([]string, []string, error) {
	fs := c.flagSet()
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return pos, nil, usageErr("%v", err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // after "--", everything is positional
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	var set []string
	fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
	return pos, set, nil
}

func (c *cli) exec(ctx context.Context, args []string) error {
	c.cfg = config{prefix: keys.DefaultPrefix, timeout: 10 * time.Second, limit: 100}
	if p := os.Getenv("SYNCCTL_PREFIX"); p != "" {
		c.cfg.prefix = p
	}
	pos, set, err := c.parse(args)
	if err != nil {
		if len(pos) > 0 {
			err = fmt.Errorf("%w (%s)", err, strings.Join(pos, " "))
		}
		return err
	}
	if len(pos) > 0 && pos[0] == "help" {
		c.help(pos[1:])
		return nil
	}
	if c.cfg.help || len(pos) == 0 {
		c.help(pos)
		if len(pos) == 0 && !c.cfg.help {
			return usageErr("no command given")
		}
		return nil
	}
	cmd, rest, err := lookup(pos)
	if err != nil {
		return err
	}
	for _, f := range set {
		if !slices.Contains(globalFlags, f) && !slices.Contains(cmd.flags, f) {
			return usageErr("flag --%s does not apply to %q", f, strings.Join(cmd.words, " "))
		}
	}
	if len(rest) < cmd.min || (cmd.max >= 0 && len(rest) > cmd.max) {
		return usageErr("usage: syncctl %s %s", strings.Join(cmd.words, " "), cmd.args)
	}
	if err := c.validate(); err != nil {
		return err
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	c.conn = conn
	defer conn.close()
	if c.connected != nil {
		c.connected()
	}
	return cmd.run(c, ctx, rest)
}

func (c *cli) validate() error {
	if err := keys.ValidatePrefix(c.cfg.prefix); err != nil {
		return usageErr("--prefix: %v", err)
	}
	if c.cfg.timeout <= 0 {
		return usageErr("--timeout must be positive, got %v", c.cfg.timeout)
	}
	if c.cfg.limit <= 0 {
		return usageErr("--limit must be positive, got %d", c.cfg.limit)
	}
	if len(c.cfg.urls) == 0 {
		for _, u := range strings.Split(os.Getenv("SYNCCTL_REDIS"), ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.cfg.urls = append(c.cfg.urls, u)
			}
		}
	}
	if len(c.cfg.urls) == 0 {
		return usageErr("no Redis given: pass --redis URL or set SYNCCTL_REDIS")
	}
	return nil
}

// lookup finds the command named by the leading words of pos; "locks"
// alone means "locks list".
func lookup(pos []string) (*command, []string, error) {
	for _, cmd := range commands {
		n := len(cmd.words)
		if len(pos) >= n && slices.Equal(pos[:n], cmd.words) {
			return cmd, pos[n:], nil
		}
	}
	if pos[0] == "locks" && len(pos) == 1 {
		return commands[0], nil, nil
	}
	var subs []string
	for _, cmd := range commands {
		if len(cmd.words) == 2 && cmd.words[0] == pos[0] {
			subs = append(subs, cmd.words[1])
		}
	}
	if len(subs) > 0 {
		if len(pos) == 1 {
			return nil, nil, usageErr("%s needs a subcommand: %s", pos[0], strings.Join(subs, ", "))
		}
		return nil, nil, usageErr("unknown subcommand %q of %s (want %s)", pos[1], pos[0], strings.Join(subs, ", "))
	}
	return nil, nil, usageErr("unknown command %q", pos[0])
}

// op returns a context for one round of Redis work, bounded by --timeout.
func (c *cli) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.timeout)
}
