// Command syncdemo is the showcase of Go Sync, in one run: three simulated
// nodes elect a leader; the leader schedules periodic tasks; workers on
// every node run them under fenced locks and publish events keyed by the
// resource they wrote; a consumer group audits the events' per-key order;
// a paused lock holder's late write is rejected by its fencing token; the
// leader is killed and the survivors fail over. Progress is shown live; the
// run ends with a summary and exits 0 when every check held (1 otherwise).
//
// By default it runs on an embedded miniredis, so it needs no server;
// -redis URL (or REDIS_URL) points it at a real one, e.g.
// redis://127.0.0.1:6380/0. Its keys live under a prefix unique to the run,
// deleted at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func main() {
	if _, err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "syncdemo:", err)
		os.Exit(1)
	}
}

// run parses args, runs the showcase and prints it to out. The error says
// which check failed, if one did.
func run(args []string, out io.Writer) (*report, error) {
	fs := flag.NewFlagSet("syncdemo", flag.ContinueOnError)
	fs.SetOutput(out)
	url := fs.String("redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:port/db); empty: embedded miniredis")
	prefix := fs.String("prefix", "syncdemo", "key prefix (the run appends a unique suffix)")
	duration := fs.Duration("duration", 10*time.Second, "how long the leader schedules tasks; the leader is killed at 40% of it")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := newConfig(*duration)
	if err != nil {
		return nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	srv, err := connect(*url)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	start := time.Now()
	if err := srv.client.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("ping %s: %w", srv.where, err)
	}
	srv.ping = time.Since(start)
	// A prefix of its own per run: runs on one server never see each
	// other's queue, locks or topic.
	cfg.prefix = *prefix + "-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	rep, err := showcase(ctx, srv, cfg, out)
	if cerr := srv.cleanup(cfg.prefix); err == nil && cerr != nil {
		err = fmt.Errorf("deleting the run's keys: %w", cerr)
	}
	return rep, err
}

// server is the Redis the nodes share: a client for the demo's own checks,
// and new connections for each node (three processes would have theirs).
type server struct {
	client   *redis.Client
	where    string
	embedded bool
	ping     time.Duration
	options  func() *redis.Options
	close    func()
}

// connect returns the server at url, or an embedded miniredis when url is
// empty.
func connect(url string) (*server, error) {
	if url == "" {
		m, err := miniredis.Run()
		if err != nil {
			return nil, err
		}
		m.ClockTTL(true) // expire keys in real time, as Redis does: leases must run out
		opts := func() *redis.Options { return &redis.Options{Addr: m.Addr()} }
		c := redis.NewClient(opts())
		return &server{client: c, where: "embedded miniredis " + m.Addr(), embedded: true, options: opts,
			close: func() { c.Close(); m.Close() }}, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bad -redis URL: %w", err)
	}
	opts := func() *redis.Options { o := *opt; return &o }
	c := redis.NewClient(opts())
	return &server{client: c, where: "redis " + opt.Addr, options: opts, close: func() { c.Close() }}, nil
}

// cleanup deletes the run's keys from a real server (miniredis goes away
// with the process).
func (s *server) cleanup(prefix string) error {
	if s.embedded {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	iter := s.client.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			errs = append(errs, s.client.Unlink(ctx, batch...).Err())
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 500 {
			flush()
		}
	}
	flush()
	return errors.Join(append(errs, iter.Err())...)
}
