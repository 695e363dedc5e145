package event

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// resolve returns the cursor (exclusive: reading starts after it) of
// position pos in partition p.
func (t *Topic) resolve(ctx context.Context, p int, pos Position) (Offset, error) {
	switch pos.kind {
	case posEnd:
		last, err := t.c.rdb.XRevRangeN(ctx, t.streamKey(p), "+", "-", 1).Result()
		if err != nil {
			return Offset{}, wrapErr(err)
		}
		if len(last) == 0 {
			return Offset{}, nil
		}
		return ParseOffset(last[0].ID)
	case posOffset:
		return pos.off.prev(), nil
	case posTime:
		if pos.t.Unix() >= math.MaxInt64/1000 {
			// Beyond what milliseconds since 1970 can hold in an int64: no
			// event is appended at or after it.
			return Offset{Ms: math.MaxInt64}, nil
		}
		return Offset{Ms: uint64(max(pos.t.UnixMilli(), 0))}.prev(), nil
	case posOffsets:
		if o, ok := pos.offs[p]; ok {
			return o.prev(), nil
		}
	}
	return Offset{}, nil
}

// read returns up to count events of partition p after cursor, waiting
// up to block for the first one.
func (t *Topic) read(ctx context.Context, p int, cursor Offset, count int, block time.Duration) ([]Event, error) {
	res, err := t.c.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{t.streamKey(p), cursor.String()}, Count: int64(count), Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapErr(err)
	}
	if len(res) == 0 {
		return nil, nil
	}
	evs := make([]Event, 0, len(res[0].Messages))
	for _, m := range res[0].Messages {
		ev, err := t.decode(p, m)
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func (t *Topic) decode(p int, m redis.XMessage) (Event, error) {
	off, err := ParseOffset(m.ID)
	if err != nil {
		return Event{}, fmt.Errorf("%w: entry id %q", ErrCorrupt, m.ID)
	}
	ev := Event{Topic: t.name, Partition: p, Offset: off}
	k, ok1 := m.Values["k"].(string)
	v, ok2 := m.Values["v"].(string)
	if !ok1 || !ok2 {
		// Not ours: deliver what there is, so a partition never stalls on
		// a foreign entry; the handler decides.
		return ev, nil
	}
	ev.Key, ev.Payload = k, []byte(v)
	ev.ID, _ = m.Values["i"].(string)
	tp, _ := m.Values["tp"].(string)
	ts, _ := m.Values["ts"].(string)
	ev.Trace = tracing.Context{TraceParent: tp, TraceState: ts}.Valid()
	return ev, nil
}

// claim registers token as the owner of p for the group and returns the
// committed offset (storing start when the group has none).
func (c *Consumer) claim(ctx context.Context, p int, token uint64, start Offset) (Offset, error) {
	t := c.t
	res, err := claimScript.Run(ctx, t.c.rdb, []string{t.offsetsKey(p), t.tokensKey(p)}, c.group, strconv.FormatUint(token, 10), start.String()).Slice()
	if err != nil {
		return Offset{}, wrapErr(err)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return Offset{}, fmt.Errorf("%w: partition %d claimed with token %v, ours %d", ErrStaleToken, p, res[1], token)
	}
	s, _ := res[1].(string)
	return ParseOffset(s)
}

// commit stores off as the group's offset of p if token is still the
// partition's newest owner; ErrStaleToken otherwise.
func (t *Topic) commit(ctx context.Context, group string, p int, token uint64, off Offset) error {
	res, err := commitScript.Run(ctx, t.c.rdb, []string{t.offsetsKey(p), t.tokensKey(p)}, group, strconv.FormatUint(token, 10), off.String()).Slice()
	if err != nil {
		return wrapErr(err)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return fmt.Errorf("%w: partition %d owned with token %v, ours %d", ErrStaleToken, p, res[1], token)
	}
	return nil
}

// runPartition consumes partition p while lk is held and ctx lasts.
func (c *Consumer) runPartition(ctx context.Context, p int, lk *redislock.Lock) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopAfter := context.AfterFunc(lk.Context(), cancel)
	defer stopAfter()
	token := lk.Token()
	h := &c.o.hooks
	var endErr error
	defer func() {
		if h.OnRevoke != nil {
			if endErr == nil && lk.Err() != nil && !errors.Is(lk.Err(), redislock.ErrReleased) {
				endErr = lk.Err()
			}
			h.OnRevoke(p, endErr)
		}
	}()
	start, err := c.t.resolve(ctx, p, c.o.start)
	if err == nil {
		start, err = c.claim(ctx, p, token, start)
	}
	if err != nil {
		endErr = err
		if ctx.Err() == nil {
			c.log.Warn("event: cannot claim partition", "partition", p, "err", err)
		}
		return
	}
	if h.OnAssign != nil {
		h.OnAssign(p, token, start)
	}
	c.log.Info("event: partition assigned", "partition", p, "token", token, "from", start)
	cursor, committed := start, start
	commit := func(ctx context.Context) bool {
		if cursor == committed {
			return true
		}
		err := c.t.commit(ctx, c.group, p, token, cursor)
		if h.OnCommit != nil {
			h.OnCommit(p, token, cursor, err)
		}
		if err != nil {
			if errors.Is(err, ErrStaleToken) {
				endErr = err
				c.log.Warn("event: commit rejected; partition lost", "partition", p, "err", err)
				return false
			}
			if ctx.Err() == nil {
				c.log.Warn("event: commit failed", "partition", p, "err", err)
			}
			return true
		}
		committed = cursor
		return true
	}
	defer func() {
		// Commit what was handled, with a fresh context: ours has ended.
		// After a lost lease this is rejected if a new owner claimed the
		// partition, and harmless otherwise.
		fctx, cancel := context.WithTimeout(context.Background(), c.o.lease)
		commit(fctx)
		cancel()
	}()
	block := c.t.c.opts.block
	for ctx.Err() == nil {
		evs, err := c.t.read(ctx, p, cursor, c.o.batch, block)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("event: read failed", "partition", p, "err", err)
			if !sleep(ctx, block) {
				return
			}
			continue
		}
		for i := range evs {
			// Stop at once when the run ends or the lease is gone (Valid
			// reads the monotonic clock: right after a pause, before any
			// timer fired): the rest of the batch is not handled here.
			if ctx.Err() != nil || !lk.Valid() {
				return
			}
			if !c.handle(ctx, &evs[i], commit) {
				return
			}
			cursor = evs[i].Offset
		}
		if ctx.Err() != nil {
			return // the deferred commit runs with a fresh context
		}
		if !commit(ctx) {
			return
		}
	}
}

// handle runs the handler on ev until it succeeds or is dead-lettered
// (true), or ctx ends (false).
func (c *Consumer) handle(ctx context.Context, ev *Event, commit func(context.Context) bool) bool {
	for attempt := 1; ; attempt++ {
		ev.Attempt = attempt
		err := c.call(ctx, ev)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if c.o.dlq != nil && attempt >= c.o.maxAttempts {
			id := fmt.Sprintf("dead/%s/%s/%d/%s", c.t.name, c.group, ev.Partition, ev.Offset)
			_, derr := c.o.dlq.Publish(ctx, Event{Key: ev.Key, Payload: ev.Payload, ID: id, Trace: ev.Trace})
			if derr == nil {
				if c.o.hooks.OnDeadLetter != nil {
					c.o.hooks.OnDeadLetter(ev, err)
				}
				c.log.Warn("event: dead-lettered", "partition", ev.Partition, "offset", ev.Offset, "err", err)
				return true
			}
			c.log.Warn("event: dead-letter publish failed", "partition", ev.Partition, "err", derr)
		}
		// Commit the events before this one, so a rebalance during the
		// backoff does not redeliver them.
		if !commit(ctx) {
			return false
		}
		d := c.o.backoff(attempt, err)
		if c.o.hooks.OnRetry != nil {
			c.o.hooks.OnRetry(ev, err, d)
		}
		if !sleep(ctx, d) {
			return false
		}
	}
}

func (c *Consumer) call(ctx context.Context, ev *Event) (err error) {
	if h := c.o.hooks.OnConsume; h != nil {
		start := time.Now()
		defer func() { h(c.group, ev, time.Since(start), err) }()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("event: handler panic: %v", r)
		}
	}()
	return c.h(tracing.Extract(ctx, c.t.c.opts.prop, ev.Trace), ev)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
