package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// demoLeader runs three candidates, each with its own connection (as three
// processes would), kills the leader's connection (a crash: no resign),
// shows the failover, and the old leader's late write rejected by its term.
func demoLeader(ctx context.Context, addr func() *redis.Options, prefix string, out io.Writer) error {
	fmt.Fprintln(out, "\n== redisleader: election, crash, failover ==")
	opts := []redisleader.Option{redisleader.WithPrefix(prefix),
		redisleader.WithLeaseDuration(time.Second), redisleader.WithRenewDeadline(600 * time.Millisecond), redisleader.WithRetryPeriod(200 * time.Millisecond)}
	type candidate struct {
		name   string
		client *redis.Client
		e      *redisleader.Elector
	}
	var cands []*candidate
	defer func() {
		for _, c := range cands {
			c.e.Close()
			c.client.Close()
		}
	}()
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		c := &candidate{name: name, client: redis.NewClient(addr())}
		e, err := redisleader.New([]redis.UniversalClient{c.client}, "scheduler", opts...)
		if err != nil {
			return err
		}
		c.e = e
		cands = append(cands, c)
	}
	type win struct {
		c  *candidate
		ld *redisleader.Leadership
	}
	wins := make(chan win, len(cands))
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, c := range cands {
		go func() {
			ld, err := c.e.Campaign(cctx, c.name)
			if err == nil {
				wins <- win{c, ld}
			}
		}()
	}
	first := <-wins
	fmt.Fprintf(out, "%s leads with term %d\n", first.c.name, first.ld.Term())
	store, err := redislock.NewFencedStore(cands[0].client, prefix)
	if first.c == cands[0] {
		store, err = redislock.NewFencedStore(cands[1].client, prefix)
	}
	if err != nil {
		return err
	}
	if err := store.Write(ctx, "schedule", first.ld.Term(), "v1 by "+first.c.name); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s writes the schedule with term %d\n", first.c.name, first.ld.Term())

	// Crash: the leader's connection dies; it cannot renew or resign.
	killed := time.Now()
	first.c.client.Close()
	fmt.Fprintf(out, "%s crashes (connection killed, lease not released)\n", first.c.name)
	second := <-wins
	fmt.Fprintf(out, "%s leads with term %d, %v after the crash (lease 1s)\n",
		second.c.name, second.ld.Term(), time.Since(killed).Round(time.Millisecond))
	if err := store.Write(ctx, "schedule", second.ld.Term(), "v2 by "+second.c.name); err != nil {
		return err
	}
	fmt.Fprintf(out, "old leader still believes it leads? Valid()=%v (%v)\n", first.ld.Valid(), first.ld.Err())
	err = store.Write(ctx, "schedule", first.ld.Term(), "late write by "+first.c.name)
	if !errors.Is(err, redislock.ErrStaleToken) {
		return fmt.Errorf("the old leader's write was not rejected: %v", err)
	}
	fmt.Fprintf(out, "its late write with term %d is rejected: %v\n", first.ld.Term(), err)
	second.ld.Resign(ctx)
	third := <-wins
	fmt.Fprintf(out, "%s resigns; %s leads with term %d at once\n", second.c.name, third.c.name, third.ld.Term())
	third.ld.Resign(ctx)
	return nil
}
