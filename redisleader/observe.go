package redisleader

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observe returns a channel that delivers the current leader, then every
// new leader of the group in term order (terms strictly increase). It is
// fed by a blocking read of the group's announcement history, with a
// reconciling read of all nodes after every RetryPeriod without news,
// every error and every switch of node, so an observer that lost its
// connection converges to the latest leader. The channel is closed when
// ctx ends or the Elector closes. A slow reader delays the observer but
// loses nothing while the history still holds the missed leaders.
func (e *Elector) Observe(ctx context.Context) <-chan Info {
	out := make(chan Info, 1)
	e.mu.Lock()
	closed := e.closed
	if !closed {
		e.wg.Add(1)
	}
	e.mu.Unlock()
	if closed {
		close(out)
		return out
	}
	go func() {
		defer e.wg.Done()
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(e.ctx, cancel)
		defer stop()
		e.observe(ctx, out)
	}()
	return out
}

func (e *Elector) observe(ctx context.Context, out chan<- Info) {
	var last uint64
	emit := func(in Info) bool {
		if in.Term <= last {
			return true
		}
		select {
		case out <- in:
			last = in.Term
			return true
		case <-ctx.Done():
			return false
		}
	}
	reconcile := func() bool {
		if in, err := e.Leader(ctx); err == nil {
			return emit(in)
		}
		return ctx.Err() == nil
	}
	node := 0
	lastID := ""
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		c := e.nodes[node]
		if lastID == "" {
			// Position on this node's history before the reconciling
			// read, so nothing announced in between is missed.
			id, err := lastEntry(ctx, c, e.history)
			if err != nil {
				node, lastID = e.nextNode(ctx, node, &backoff)
				continue
			}
			lastID = id
			if !reconcile() {
				return
			}
		}
		res, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{e.history, lastID}, Count: historyLen, Block: e.opts.retryPeriod}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			if !reconcile() {
				return
			}
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("redisleader: observer read failed; switching node", "group", e.group, "err", err)
			node, lastID = e.nextNode(ctx, node, &backoff)
			if !reconcile() {
				return
			}
			continue
		}
		backoff = 50 * time.Millisecond
		for _, s := range res {
			for _, m := range s.Messages {
				lastID = m.ID
				if in, ok := parseEntry(m.Values); ok && !emit(in) {
					return
				}
			}
		}
	}
}

// nextNode waits a backoff and moves the observer to the next node,
// whose history it will read from its start (entries already delivered
// are skipped by term).
func (e *Elector) nextNode(ctx context.Context, node int, backoff *time.Duration) (int, string) {
	t := time.NewTimer(*backoff)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	*backoff = min(2**backoff, 2*time.Second)
	return (node + 1) % len(e.nodes), "0"
}

func lastEntry(ctx context.Context, c redis.UniversalClient, stream string) (string, error) {
	ms, err := c.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "0", nil
	}
	return ms[0].ID, nil
}

func parseEntry(v map[string]any) (Info, bool) {
	id, _ := v["id"].(string)
	termS, _ := v["term"].(string)
	sinceS, _ := v["since"].(string)
	term, err1 := strconv.ParseUint(termS, 10, 64)
	since, err2 := strconv.ParseInt(sinceS, 10, 64)
	if id == "" || err1 != nil || err2 != nil {
		return Info{}, false
	}
	return Info{ID: id, Term: term, Since: time.UnixMilli(since)}, true
}
