package main

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

// tickLedger learns from Redis how many ticks of the periodic tasks were
// enqueued: a Scheduler claims each tick with a key
// <prefix>:task:{<queue>}:tick:<name>:<unix ms> (see redistask's doc), set
// in the same script as the enqueue and kept for a minute (so a run lasts
// less). The demo checks that every enqueued tick was processed without
// trusting the queue's own counts. Each count is one EXISTS over many
// keys. Not safe for concurrent use.
type tickLedger struct {
	ks      keys.Space
	names   []string
	period  time.Duration
	first   time.Time // first tick of the run
	next    time.Time // first tick not settled
	settled int       // ticks before next that were enqueued
	recent  int       // ticks from next on that were enqueued, at the last advance
}

func newTickLedger(ks keys.Space, names []string, period time.Duration, start time.Time) *tickLedger {
	first := start.Truncate(period)
	return &tickLedger{ks: ks, names: names, period: period, first: first, next: first}
}

func (l *tickLedger) key(name string, t time.Time) string {
	return l.ks.Key("task", taskQueue, "tick", name, strconv.FormatInt(t.UnixMilli(), 10))
}

// keys returns the claim keys of every tick in [from, to].
func (l *tickLedger) keys(from, to time.Time) []string {
	var ks []string
	for t := from; !t.After(to); t = t.Add(l.period) {
		for _, name := range l.names {
			ks = append(ks, l.key(name, t))
		}
	}
	return ks
}

// exists counts the keys that exist.
func exists(ctx context.Context, c redis.UniversalClient, ks []string) (int, error) {
	if len(ks) == 0 {
		return 0, nil
	}
	n, err := c.Exists(ctx, ks...).Result()
	return int(n), err
}

// advance counts the ticks enqueued up to now, and settles those up to
// settled: later calls do not count them again. While schedulers run,
// settle with a margin behind the present (a tick is claimed a little
// after its time).
func (l *tickLedger) advance(ctx context.Context, c redis.UniversalClient, now, settled time.Time) error {
	end := l.next // the first tick after settled
	for !end.After(settled) {
		end = end.Add(l.period)
	}
	old, err := exists(ctx, c, l.keys(l.next, end.Add(-l.period)))
	if err != nil {
		return err
	}
	recent, err := exists(ctx, c, l.keys(end, now))
	if err != nil {
		return err
	}
	l.settled += old
	l.next, l.recent = end, recent
	return nil
}

// count returns the number of ticks enqueued, as of the last advance.
func (l *tickLedger) count() int { return l.settled + l.recent }

// total counts again every tick of the run enqueued up to upTo.
func (l *tickLedger) total(ctx context.Context, c redis.UniversalClient, upTo time.Time) (int, error) {
	return exists(ctx, c, l.keys(l.first, upTo))
}

// enqueued counts the ticks among ids (as made by tickID) that were
// enqueued.
func (l *tickLedger) enqueued(ctx context.Context, c redis.UniversalClient, ids []string) (int, error) {
	ks := make([]string, 0, len(ids))
	for _, id := range ids {
		i := strings.LastIndexByte(id, '@')
		ms, err := strconv.ParseInt(id[i+1:], 10, 64)
		if i < 0 || err != nil {
			continue // not a tick: counted as not enqueued
		}
		ks = append(ks, l.key(id[:i], time.UnixMilli(ms)))
	}
	return exists(ctx, c, ks)
}
