// Command syncdemo shows Go Sync at work. By default it runs on an embedded
// miniredis, so it needs no server; -redis URL (or REDIS_URL) points it at a
// real one, e.g. redis://127.0.0.1:6380/0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/alicebob/miniredis/v2"
	gosync "github.com/go-sync/sync"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "syncdemo:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("syncdemo", flag.ContinueOnError)
	url := fs.String("redis", os.Getenv("REDIS_URL"), "Redis URL (redis://host:port/db); empty: embedded miniredis")
	prefix := fs.String("prefix", "syncdemo", "key prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client, where, opts, cleanup, err := connect(*url)
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping %s: %w", where, err)
	}
	fmt.Fprintf(out, "connected to %s (PING %v)\n", where, time.Since(start).Round(time.Microsecond))

	s := gosync.New(client, gosync.WithPrefix(*prefix))
	defer s.Close()
	fmt.Fprintf(out, "sync.New: prefix %q, %d Redlock node(s)\n", s.Prefix(), len(s.Nodes()))
	now, err := s.Time().Now()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "time: %s (local clock)\n", now.UTC().Format(time.RFC3339Nano))
	if err := demoLocks(ctx, s, out); err != nil {
		return fmt.Errorf("locks: %w", err)
	}
	if err := demoLeader(ctx, opts, *prefix, out); err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	if err := demoTasks(ctx, s, out); err != nil {
		return fmt.Errorf("tasks: %w", err)
	}
	if err := demoEvents(ctx, client, *prefix, out); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if err := demoTime(ctx, client, out); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	fmt.Fprintln(out, "\ndone")
	return nil
}

// connect returns a client for url, or for an embedded miniredis when url
// is empty, and a function giving options for more connections (the demo
// simulates several processes).
func connect(url string) (redis.UniversalClient, string, func() *redis.Options, func(), error) {
	if url == "" {
		m, err := miniredis.Run()
		if err != nil {
			return nil, "", nil, nil, err
		}
		m.ClockTTL(true) // expire keys in real time, as Redis does
		opts := func() *redis.Options { return &redis.Options{Addr: m.Addr()} }
		c := redis.NewClient(opts())
		return c, "embedded miniredis " + m.Addr(), opts, func() { c.Close(); m.Close() }, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, "", nil, nil, fmt.Errorf("bad -redis URL: %w", err)
	}
	opts := func() *redis.Options { o := *opt; return &o }
	c := redis.NewClient(opts())
	return c, "redis " + opt.Addr, opts, func() { c.Close() }, nil
}
