package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// conn is the Redis syncctl talks to: one server, one cluster, or several
// independent masters (Redlock nodes).
type redisClient = redis.UniversalClient

type conn struct {
	nodes []redis.UniversalClient // lock and leader nodes; nodes[0] also holds queues and topics
	names []string                // each node's address, for output and errors
	down  []error                 // per node: why it did not answer PING or a later read in time (nil: it did)
	gates []*gate                 // per independent node: fails its commands at once once it is down
}

// gate is a go-redis hook that fails every command of a node marked down
// without sending it: a hung node (SIGSTOP, a frozen VM) would otherwise
// hold each later read until --timeout, one name at a time.
type gate struct {
	mu  stdsync.Mutex
	err error
}

func (g *gate) close(err error) {
	g.mu.Lock()
	g.err = err
	g.mu.Unlock()
}

func (g *gate) closed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if err := g.closed(); err != nil {
			return err
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := g.closed(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

func (cn *conn) quorum() int { return len(cn.nodes)/2 + 1 }

// nodeDown records that independent node i did not answer in time: it is
// left out of the rest of the command, with a warning. It fails with exit
// 3 when fewer than a majority of the nodes are left.
func (c *cli) nodeDown(i int, err error) error {
	cn := c.conn
	if len(cn.nodes) < 2 || cn.down[i] != nil {
		return cn.quorumLost()
	}
	cn.down[i] = err
	cn.gates[i].close(err)
	if lost := cn.quorumLost(); lost != nil {
		return lost
	}
	fmt.Fprintf(c.stderr, "syncctl: warning: node %s (continuing with a majority)\n", escape(fmt.Sprintf("%s: %v", cn.names[i], err), false))
	return nil
}

// quorumLost returns the exit-3 error when fewer than a majority of the
// nodes answer.
func (cn *conn) quorumLost() error {
	var bad []string
	for i, err := range cn.down {
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", cn.names[i], err))
		}
	}
	if len(cn.nodes)-len(bad) >= cn.quorum() {
		return nil
	}
	if len(cn.nodes) == 1 {
		return unreachableErr(fmt.Errorf("cannot reach Redis at %s", bad[0]))
	}
	return unreachableErr(fmt.Errorf("cannot reach a majority of the %d nodes: %s", len(cn.nodes), strings.Join(bad, "; ")))
}

// nodesDown marks down the nodes of an inspection that did not answer (in
// time); see nodeDown.
func (c *cli) nodesDown(states []redislock.NodeState) error {
	if len(c.conn.nodes) < 2 {
		return nil
	}
	for i, n := range states {
		if i < len(c.conn.nodes) && n.Err != nil && unreachable(n.Err) {
			if err := c.nodeDown(i, n.Err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (cn *conn) close() {
	for _, n := range cn.nodes {
		n.Close()
	}
}

// primary returns the node that holds queues and topics.
func (cn *conn) primary() (redis.UniversalClient, error) {
	if err := cn.down[0]; err != nil {
		return nil, unreachableErr(fmt.Errorf("cannot reach Redis at %s: %v", cn.names[0], err))
	}
	return cn.nodes[0], nil
}

// up returns the nodes that answered PING.
func (cn *conn) up() []redis.UniversalClient {
	var out []redis.UniversalClient
	for i, n := range cn.nodes {
		if cn.down[i] == nil {
			out = append(out, n)
		}
	}
	return out
}

// connect builds the clients for the URLs and PINGs them. It fails with
// exit 2 for a bad URL and exit 3 when the Redis (or a majority of the
// independent nodes) cannot be reached.
func (c *cli) connect(ctx context.Context) (*conn, error) {
	cn := &conn{}
	clusterURL := false
	for _, u := range c.cfg.urls {
		if strings.Contains(strings.SplitN(u, "://", 2)[0], "+cluster") {
			clusterURL = true
		}
	}
	if c.cfg.cluster || clusterURL {
		opt, err := clusterOptions(c.cfg.urls)
		if err != nil {
			return nil, err
		}
		c.tune(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
		cn.nodes = []redis.UniversalClient{redis.NewClusterClient(opt)}
		cn.names = []string{"cluster " + strings.Join(opt.Addrs, ",")}
	} else {
		// Parse every URL before creating any client: nothing to close on
		// a usage error.
		seen := map[string]string{}
		var opts []*redis.Options
		for _, u := range c.cfg.urls {
			opt, err := redis.ParseURL(u)
			if err != nil {
				return nil, usageErr("bad Redis URL %q: %v", redact(u), err)
			}
			id := fmt.Sprintf("%s/%s/%d", opt.Network, opt.Addr, opt.DB)
			if prev, dup := seen[id]; dup {
				return nil, usageErr("%q and %q name the same Redis; independent nodes must be different servers", redact(prev), redact(u))
			}
			seen[id] = u
			opts = append(opts, opt)
		}
		for _, opt := range opts {
			c.tune(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout)
			if opt.DialerRetries == 0 {
				opt.DialerRetries = 1 // an operator wants "refused" at once, not after 5 dials
			}
			g := &gate{}
			rc := redis.NewClient(opt)
			rc.AddHook(g)
			cn.nodes = append(cn.nodes, rc)
			cn.names = append(cn.names, opt.Addr)
			cn.gates = append(cn.gates, g)
		}
	}
	cn.down = make([]error, len(cn.nodes))
	ctx, cancel := c.op(ctx)
	defer cancel()
	var wg stdsync.WaitGroup
	for i, n := range cn.nodes {
		wg.Go(func() { cn.down[i] = n.Ping(ctx).Err() })
	}
	wg.Wait()
	if err := cn.quorumLost(); err != nil {
		cn.close()
		return nil, err
	}
	for i, err := range cn.down {
		if err != nil {
			// Later reads skip it rather than wait for it again.
			cn.gates[i].close(err)
			fmt.Fprintf(c.stderr, "syncctl: warning: node %s (continuing with a majority)\n", escape(fmt.Sprintf("%s: %v", cn.names[i], err), false))
		}
	}
	return cn, nil
}

// tune bounds the client's timeouts by --timeout.
func (c *cli) tune(ds ...*time.Duration) {
	for _, d := range ds {
		if *d <= 0 || *d > c.cfg.timeout {
			*d = c.cfg.timeout
		}
	}
}

// clusterOptions merges the URLs into the options of one cluster client:
// every URL's host is a seed; credentials, TLS and options come from the
// first URL.
func clusterOptions(urls []string) (*redis.ClusterOptions, error) {
	var opt *redis.ClusterOptions
	for _, raw := range urls {
		u := raw
		if scheme, rest, ok := strings.Cut(u, "://"); ok {
			u = strings.TrimSuffix(scheme, "+cluster") + "://" + rest
		}
		if p, err := url.Parse(u); err == nil && (p.Path != "" && p.Path != "/" && p.Path != "/0") {
			return nil, usageErr("bad Redis Cluster URL %q: a cluster has only database 0", redact(raw))
		}
		if p, err := url.Parse(u); err == nil {
			p.Path = ""
			u = p.String()
		}
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, usageErr("bad Redis Cluster URL %q: %v", redact(raw), err)
		}
		if opt == nil {
			opt = o
			continue
		}
		for _, a := range o.Addrs {
			if !slices.Contains(opt.Addrs, a) {
				opt.Addrs = append(opt.Addrs, a)
			}
		}
	}
	return opt, nil
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// unreachable reports errors that mean Redis could not be reached or
// answered too late, as opposed to errors Redis returned.
func unreachable(err error) bool {
	var ne net.Error
	var qe *redislock.QuorumError
	switch {
	case err == nil:
		return false
	case errors.As(err, &qe),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrClosed),
		errors.As(err, &ne):
		return true
	}
	s := err.Error()
	for _, m := range []string{"NOAUTH", "WRONGPASS", "too few nodes answered", "CLUSTERDOWN"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// scan returns the resource names of kind under the prefix on the given
// nodes (every master of a cluster client), sorted and deduplicated.
func (c *cli) scan(ctx context.Context, kind string, nodes []redis.UniversalClient) ([]string, error) {
	ks := keys.Must(c.cfg.prefix)
	pattern := ks.Pattern(kind)
	var (
		mu  stdsync.Mutex
		set = map[string]bool{}
	)
	one := func(ctx context.Context, n redis.Cmdable) error {
		it := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			if r, ok := ks.Resource(kind, it.Val()); ok {
				mu.Lock()
				set[r] = true
				mu.Unlock()
			}
		}
		return it.Err()
	}
	for _, n := range nodes {
		var err error
		if cc, ok := n.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return one(ctx, m) })
		} else {
			err = one(ctx, n)
		}
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", pattern, err)
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out, nil
}

// scanNodes returns the resource names of kind on the lock nodes that
// answer, each node scanned with its own --timeout. With independent
// nodes, one that does not answer in time is left out (see nodeDown).
func (c *cli) scanNodes(ctx context.Context, kind string) ([]string, error) {
	cn := c.conn
	if len(cn.nodes) < 2 {
		sctx, cancel := c.op(ctx)
		defer cancel()
		return c.scan(sctx, kind, cn.up())
	}
	found := make([][]string, len(cn.nodes))
	errs := make([]error, len(cn.nodes))
	var wg stdsync.WaitGroup
	for i, n := range cn.nodes {
		if cn.down[i] != nil {
			continue
		}
		wg.Go(func() {
			sctx, cancel := c.op(ctx)
			defer cancel()
			found[i], errs[i] = c.scan(sctx, kind, []redisClient{n})
		})
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		switch {
		case err == nil:
			out = append(out, found[i]...)
		case unreachable(err):
			if err := c.nodeDown(i, err); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// inspect reads one lock (or leader lease) on every node with its own
// --timeout, so that one slow name or node cannot use up the time of the
// others; nodes that do not answer in time are left out of the rest of
// the command (see nodeDown).
func (c *cli) inspect(ctx context.Context, l *redislock.Locker, name string) (redislock.Info, error) {
	ictx, cancel := c.op(ctx)
	defer cancel()
	in, err := l.Inspect(ictx, name)
	if derr := c.nodesDown(in.Nodes); derr != nil {
		return in, derr
	}
	return in, err
}
