package main

import (
	"context"
	"strconv"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

// tickLedger learns from Redis which ticks of the periodic tasks were
// enqueued: a Scheduler claims each tick with a key
// <prefix>:task:{<queue>}:tick:<name>:<unix ms> (see redistask's doc),
// set in the same script as the enqueue and kept for at least a minute.
// The demo checks that every one of them was processed, without trusting
// the queue's own counts. Not safe for concurrent use.
type tickLedger struct {
	ks     keys.Space
	names  []string
	period time.Duration
	first  time.Time       // first tick of the run
	next   time.Time       // first tick not scanned yet
	pushed map[string]bool // tickID -> enqueued
}

func newTickLedger(ks keys.Space, names []string, period time.Duration, start time.Time) *tickLedger {
	first := start.Truncate(period)
	return &tickLedger{ks: ks, names: names, period: period, first: first, next: first, pushed: map[string]bool{}}
}

// rescan scans every tick of the run again, up to upTo: the final count,
// once the schedulers have stopped, catches ticks claimed later than the
// margin advance was given.
func (l *tickLedger) rescan(ctx context.Context, c redis.UniversalClient, upTo time.Time) error {
	next := l.next
	l.next = l.first
	if err := l.advance(ctx, c, upTo, upTo); err != nil {
		l.next = next
		return err
	}
	return nil
}

// advance scans the ticks not settled yet up to now, and settles those
// up to settled: later scans skip them. While schedulers run, settle with
// a margin behind the present (a tick is claimed a little after its
// time). On error nothing is settled.
func (l *tickLedger) advance(ctx context.Context, c redis.UniversalClient, now, settled time.Time) error {
	type check struct {
		id  string
		cmd *redis.IntCmd
	}
	var checks []check
	pipe := c.Pipeline()
	for t := l.next; !t.After(now); t = t.Add(l.period) {
		for _, name := range l.names {
			key := l.ks.Key("task", taskQueue, "tick", name, strconv.FormatInt(t.UnixMilli(), 10))
			checks = append(checks, check{tickID(name, t), pipe.Exists(ctx, key)})
		}
	}
	if len(checks) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for _, ch := range checks {
		if ch.cmd.Val() == 1 {
			l.pushed[ch.id] = true
		}
	}
	for !l.next.After(settled) {
		l.next = l.next.Add(l.period)
	}
	return nil
}

// count returns the number of ticks known to be enqueued.
func (l *tickLedger) count() int { return len(l.pushed) }
