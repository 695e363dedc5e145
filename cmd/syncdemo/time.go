package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-sync/sync/ntptime"
	"github.com/redis/go-redis/v9"
)

// demoTime shows time as an interval: the local clock with an assumed
// bound, and the clock of the Redis server behind client (its TIME
// command, a reference every service sharing that Redis agrees on), each
// read with its error bound; a commit wait; and hybrid logical clock
// timestamps on top. It talks to nothing but client.
func demoTime(ctx context.Context, client redis.UniversalClient, out io.Writer) error {
	fmt.Fprintln(out, "\n== ntptime: time with error bounds ==")
	local, err := ntptime.NewLocal(5 * time.Millisecond)
	if err != nil {
		return err
	}
	localClock, err := ntptime.New(local)
	if err != nil {
		return err
	}
	defer localClock.Close()
	rsrc, err := ntptime.NewRedis(client, ntptime.WithRedisPoll(time.Second))
	if err != nil {
		return err
	}
	redisClock, err := ntptime.New(rsrc)
	if err != nil {
		return err
	}
	defer redisClock.Close()

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, c := range []*ntptime.Clock{localClock, redisClock} {
		if err := c.WaitSynchronized(wctx); err != nil {
			return fmt.Errorf("first synchronization: %w", err)
		}
	}

	printReading := func(name string, r ntptime.Reading) {
		fmt.Fprintf(out, "%-22s %s ± %-9v [%s .. %s] %s\n", name,
			r.Best.Format("15:04:05.000000"), r.Bound().Round(time.Microsecond),
			r.Earliest.Format("15:04:05.000000"), r.Latest.Format("15:04:05.000000"), r.Status)
	}
	for i := range 3 {
		printReading("local clock (±5ms)", localClock.Now())
		r := redisClock.Now()
		printReading("Redis TIME", r)
		if i == 0 {
			fmt.Fprintf(out, "%-22s %v (the Redis reading is good to ±%v; our local clock is not bounded that tightly)\n", "Redis clock - ours", time.Until(r.Best).Round(time.Microsecond), r.Bound().Round(time.Microsecond))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Commit wait on the Redis clock: a timestamp every service sharing
	// this Redis sees as past once the wait is over.
	commit := redisClock.Now().Latest
	start := time.Now()
	if err := redisClock.CommitWait(ctx, commit); err != nil {
		return fmt.Errorf("commit wait: %w", err)
	}
	fmt.Fprintf(out, "commit timestamp %s surely past after waiting %v\n",
		commit.Format("15:04:05.000000"), time.Since(start).Round(time.Microsecond))

	// Hybrid logical clocks: causality survives clocks that disagree.
	alice, err := ntptime.NewHLC(redisClock)
	if err != nil {
		return err
	}
	bob, err := ntptime.NewHLC(localClock, ntptime.WithMaxOffset(100*time.Millisecond))
	if err != nil {
		return err
	}
	sent := alice.Now()
	received, err := bob.Update(sent)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "HLC: alice sends %v, bob receives at %v (after: %v), packed %#016x\n",
		sent, received, received > sent, uint64(received))
	future, _ := ntptime.NewTimestamp(time.Now().Add(time.Hour), 0)
	if _, err := bob.Update(future); errors.Is(err, ntptime.ErrMaxOffset) {
		fmt.Fprintf(out, "HLC: a timestamp 1h ahead is rejected: %v\n", err)
	} else {
		return fmt.Errorf("HLC accepted a timestamp 1h ahead: %v", err)
	}
	return nil
}
