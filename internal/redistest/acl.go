package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ACLEnv names the environment variable that, set to "1", makes every
// server the harness starts carry a restricted ACL user and every client it
// hands out (Node.Client, RedisCluster.Client, SharedCluster, Options)
// authenticate as that user. Its grants are the README's least-privilege
// section and nothing else, with <prefix> standing for PrefixPattern, so a
// test passes only if the library kept to what the README lists. The
// harness's own connections (Do, AdminClient, cluster creation) use the
// default user.
const ACLEnv = "GO_SYNC_ACL"

// ACLUser and ACLPassword are the restricted user's credentials. Both are
// fixed, so helper processes started by StartProcess can log in too.
const (
	ACLUser     = "gosync"
	ACLPassword = "gosync-test-only"
)

// PrefixPattern is the glob every prefix from Prefix matches; it replaces
// <prefix> in the README's key and channel patterns for the restricted
// user.
const PrefixPattern = prefixRoot + "*"

// prefixRoot starts every prefix Prefix returns.
const prefixRoot = "gosynctest-"

// ACL reports whether GO_SYNC_ACL=1: servers get the restricted user and
// clients log in as it.
func ACL() bool { return os.Getenv(ACLEnv) == "1" }

// Grants is what the README's least-privilege section allows: commands
// ("evalsha", "xgroup|create") and key and channel patterns with <prefix>
// still in them ("<prefix>:*").
type Grants struct {
	Commands []string
	Keys     []string
	Channels []string
}

const (
	grantsBegin = "<!-- acl:begin -->"
	grantsEnd   = "<!-- acl:end -->"
)

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	commandRe  = regexp.MustCompile(`^[A-Z]+( [A-Z_]+)?$`)
)

// ParseGrants reads the section of readme between <!-- acl:begin --> and
// <!-- acl:end -->: the backticked words of every table row's second column
// are commands ("XGROUP CREATE" is a subcommand), and the backticked
// `~pattern` and `&pattern` outside the table are key and channel patterns.
func ParseGrants(readme string) (Grants, error) {
	_, rest, ok := strings.Cut(readme, grantsBegin)
	if !ok {
		return Grants{}, fmt.Errorf("redistest: README has no %s", grantsBegin)
	}
	section, _, ok := strings.Cut(rest, grantsEnd)
	if !ok {
		return Grants{}, fmt.Errorf("redistest: README has no %s", grantsEnd)
	}
	var g Grants
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			for _, m := range backticked.FindAllStringSubmatch(line, -1) {
				switch w := m[1]; {
				case strings.HasPrefix(w, "~"):
					g.Keys = append(g.Keys, w[1:])
				case strings.HasPrefix(w, "&"):
					g.Channels = append(g.Channels, w[1:])
				default:
					return Grants{}, fmt.Errorf("redistest: README ACL section: %q outside the table is neither ~keys nor &channels", w)
				}
			}
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) < 2 || strings.Trim(cols[0], " -") == "" || strings.TrimSpace(cols[1]) == "commands" {
			continue // separator or header
		}
		rows++
		for _, m := range backticked.FindAllStringSubmatch(cols[1], -1) {
			if !commandRe.MatchString(m[1]) {
				return Grants{}, fmt.Errorf("redistest: README ACL section: %q is not a command (upper case, at most one subcommand)", m[1])
			}
			cmd := strings.ToLower(strings.ReplaceAll(m[1], " ", "|"))
			if !slices.Contains(g.Commands, cmd) {
				g.Commands = append(g.Commands, cmd)
			}
		}
	}
	if rows == 0 || len(g.Commands) == 0 || len(g.Keys) == 0 {
		return Grants{}, errors.New("redistest: README ACL section lists no commands or no key pattern")
	}
	return g, nil
}

// Rule returns the ACL SETUSER rules after the user name and password for
// prefix (a prefix or a glob of prefixes), leaving out the commands for
// which known reports false (nil keeps all).
func (g Grants) Rule(prefix string, known func(cmd string) bool) []string {
	r := []string{"resetkeys"}
	for _, k := range g.Keys {
		r = append(r, "~"+strings.ReplaceAll(k, "<prefix>", prefix))
	}
	r = append(r, "resetchannels")
	for _, c := range g.Channels {
		r = append(r, "&"+strings.ReplaceAll(c, "<prefix>", prefix))
	}
	r = append(r, "-@all")
	for _, c := range g.Commands {
		if known == nil || known(c) {
			r = append(r, "+"+c)
		}
	}
	return r
}

// ScriptCommands returns, per package directory, the commands (upper case)
// the README's table row for that package lists itself: the row whose first
// column is `<pkg>`.
func ScriptCommands(readme string) (map[string][]string, error) {
	_, rest, _ := strings.Cut(readme, grantsBegin)
	section, _, _ := strings.Cut(rest, grantsEnd)
	out := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "|"), "|")
		if len(cols) < 2 {
			continue
		}
		m := backticked.FindStringSubmatch(cols[0])
		if m == nil {
			continue
		}
		for _, c := range backticked.FindAllStringSubmatch(cols[1], -1) {
			out[m[1]] = append(out[m[1]], c[1])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("redistest: README ACL section has no package rows")
	}
	return out, nil
}

// RepoRoot returns the directory of the module's go.mod, found from this
// source file's path (tests run from their package's directory).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("redistest: cannot locate the harness source")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("redistest: module root not found next to the harness source (built with -trimpath?): %w", err)
	}
	return filepath.Clean(root), nil
}

// ReadREADME returns the module's README.md.
func ReadREADME() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	return string(b), err
}

var (
	grantsOnce stdsync.Once
	grants     Grants
	grantsErr  error
)

// READMEGrants returns the grants of the module's README, read once.
func READMEGrants() (Grants, error) {
	grantsOnce.Do(func() {
		readme, err := ReadREADME()
		if err != nil {
			grantsErr = err
			return
		}
		grants, grantsErr = ParseGrants(readme)
	})
	return grants, grantsErr
}

// setupACL creates the restricted user on n, granting what the README
// lists for every prefix matching PrefixPattern. Commands this server does
// not know (CLIENT SETINFO before Redis 7.2) are left out.
func (n *Node) setupACL(ctx context.Context) error {
	g, err := READMEGrants()
	if err != nil {
		return err
	}
	c := redis.NewClient(n.adminOptions())
	defer c.Close()
	q := []any{"COMMAND", "INFO"}
	for _, cmd := range g.Commands {
		q = append(q, cmd)
	}
	info, err := c.Do(ctx, q...).Slice()
	if err != nil || len(info) != len(g.Commands) {
		return fmt.Errorf("redistest: COMMAND INFO on %s: %d answers, %v", n.Addr, len(info), err)
	}
	known := func(cmd string) bool { return info[slices.Index(g.Commands, cmd)] != nil }
	args := []any{"ACL", "SETUSER", ACLUser, "reset", "on", ">" + ACLPassword}
	for _, r := range g.Rule(PrefixPattern, known) {
		args = append(args, r)
	}
	if err := c.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("redistest: ACL SETUSER on %s: %w", n.Addr, err)
	}
	return c.Do(ctx, "ACL", "LOG", "RESET").Err()
}

// ACLDenials returns what Redis refused the restricted user on n since the
// last reset (its ACL LOG), one line per entry: reason, context, object
// and the client's name, empty when nothing was refused.
func (n *Node) ACLDenials(ctx context.Context) ([]string, error) {
	v, err := n.Do(ctx, "ACL", "LOG")
	if err != nil {
		return nil, err
	}
	entries, _ := v.([]any)
	var out []string
	for _, e := range entries {
		fields := map[string]any{}
		switch e := e.(type) {
		case map[any]any: // RESP3
			for k, v := range e {
				fields[fmt.Sprint(k)] = v
			}
		case []any: // RESP2: alternating names and values
			for i := 0; i+1 < len(e); i += 2 {
				fields[fmt.Sprint(e[i])] = e[i+1]
			}
		}
		out = append(out, fmt.Sprintf("%v %v %q refused to user %v (%v times)",
			fields["reason"], fields["context"], fields["object"], fields["username"], fields["count"]))
	}
	return out, nil
}

// ResetACLLog empties n's ACL LOG.
func (n *Node) ResetACLLog(ctx context.Context) error {
	_, err := n.Do(ctx, "ACL", "LOG", "RESET")
	return err
}

// checkACL reports through t what the restricted user was refused on the
// running nodes, and resets their logs.
func checkACL(t interface {
	Helper()
	Errorf(string, ...any)
}, nodes []*Node) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		if !n.cfg.ACL || !n.Running() || n.Paused() {
			continue
		}
		d, err := n.ACLDenials(ctx)
		if err != nil || len(d) == 0 {
			continue
		}
		n.ResetACLLog(ctx)
		t.Errorf("redistest: %s refused the restricted ACL user (%s=1):\n  %s\n"+
			"the library may send only the commands, keys and channels the README's least-privilege section lists; "+
			"list it there, or, if a test sent it for its own checks, use AdminClient",
			n.Addr, ACLEnv, strings.Join(d, "\n  "))
	}
}

// Options returns client options for addr, logged in as the restricted
// user when ACL() holds: for clients a test builds itself, such as those of
// helper processes.
func Options(addr string) *redis.Options {
	o := &redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	if ACL() {
		o.Username, o.Password = ACLUser, ACLPassword
	}
	return o
}

// Admin returns a client of the same server, or cluster, as c (a client
// the harness made, or any other), logged in as the default user, which may
// do anything: for a test's own setup and inspection, which are not the
// library's and so need no grant. It is closed when the test ends.
func Admin(t testing.TB, c redis.UniversalClient) redis.UniversalClient {
	t.Helper()
	var a redis.UniversalClient
	switch c := c.(type) {
	case *redis.Client:
		o := *c.Options()
		o.Username, o.Password = "", ""
		a = redis.NewClient(&o)
	case *redis.ClusterClient:
		o := *c.Options()
		o.Username, o.Password = "", ""
		a = redis.NewClusterClient(&o)
	default:
		t.Fatalf("redistest: Admin of a %T", c)
	}
	t.Cleanup(func() { a.Close() })
	return a
}
