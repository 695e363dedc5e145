package redisleader

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observe returns a channel that delivers the current leader (if any) when
// Observe was called, then every new leader of the group in term order
// (terms strictly increase). It is fed by a blocking read of the group's
// announcement history on one node; a read that does not return within
// the block time plus a RetryPeriod (a hung node) or fails moves the
// observer to the next node, whose history it reads in order from the
// start, and a RetryPeriod without news triggers a reconciling read of all
// nodes, so an observer that lost its connection converges to the latest
// leader. The channel is closed when ctx ends or the Elector closes. A
// slow reader delays the observer but loses nothing while the history
// (the last 64 announcements) still holds the missed leaders.
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
	// Position on the history now, so that leaders elected after Observe
	// returns are delivered.
	pctx, pcancel := context.WithTimeout(ctx, e.opts.retryPeriod)
	start, err := lastEntry(pctx, e.nodes[0], e.history)
	pcancel()
	if err != nil {
		start = ""
	}
	go func() {
		defer e.wg.Done()
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(e.ctx, cancel)
		defer stop()
		e.observe(ctx, out, start)
	}()
	return out
}

type xreadResult struct {
	res []redis.XStream
	err error
}

func (e *Elector) observe(ctx context.Context, out chan<- Info, start string) {
	var last uint64
	emit := func(in Info) bool {
		if in.Term <= last {
			return true
		}
		select {
		case out <- in:
			last = in.Term
			if h := e.opts.hooks.OnObserve; h != nil {
				h(e.group, in)
			}
			return true
		case <-ctx.Done():
			return false
		}
	}
	// reconcile reads the current leader from all nodes; when it is newer
	// than the last delivered, the leaders in between are first taken
	// from the nodes' histories, in term order, so none is skipped.
	reconcile := func() bool {
		in, err := e.Leader(ctx)
		if err != nil || in.Term <= last {
			return ctx.Err() == nil
		}
		for _, h := range e.histories(ctx, last, in.Term) {
			if !emit(h) {
				return false
			}
		}
		return emit(in)
	}
	node := 0
	lastID := start // "" until positioned; "0" reads a node's whole history
	backoff := 50 * time.Millisecond
	failures := 0 // reads in a row that failed
	var positioned uint64
	// Announcements up to our position are history, not changes to
	// deliver: start counting after the positioned one.
	if lastID != "" && lastID != "0" {
		ms, err := e.nodes[0].XRange(ctx, e.history, lastID, lastID).Result()
		if err == nil && len(ms) == 1 {
			if in, ok := parseEntry(ms[0].Values); ok {
				last = in.Term - 1 // the current leader may be this one
				positioned = in.Term
			}
		}
	}
	// The current leader first (none if the last announced one resigned),
	// then what the history gets after our position.
	if in, err := e.Leader(ctx); err == nil && !emit(in) {
		return
	}
	if lastID == "" {
		lastID = "$"
	}
	last = max(last, positioned)
	for ctx.Err() == nil {
		c := e.nodes[node]
		// The read runs in its own goroutine so a hung node cannot hold the
		// observer past the block time plus a retry period.
		done := make(chan xreadResult, 1)
		e.wg.Add(1)
		go func(id string) {
			defer e.wg.Done()
			res, err := c.XRead(context.WithoutCancel(ctx), &redis.XReadArgs{Streams: []string{e.history, id}, Count: historyLen, Block: e.opts.retryPeriod}).Result()
			done <- xreadResult{res, err}
		}(lastID)
		t := time.NewTimer(2*e.opts.retryPeriod + 100*time.Millisecond)
		var r xreadResult
		select {
		case r = <-done:
		case <-t.C:
			r.err = errors.New("redisleader: history read timed out")
		case <-ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
		if r.err == nil || errors.Is(r.err, redis.Nil) {
			failures = 0 // this node answers
		}
		switch {
		case errors.Is(r.err, redis.Nil):
			if !reconcile() {
				return
			}
			continue
		case r.err != nil:
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("redisleader: observer read failed; switching node", "group", e.group, "err", r.err)
			failures++
			node, lastID = e.nextNode(ctx, node, failures, &backoff)
			if !reconcile() { // catches up from every node's history
				return
			}
			continue
		}
		backoff = 50 * time.Millisecond
		// This node may have missed announcements (it was down, or
		// restarted empty, and go-redis reconnected without telling us):
		// before delivering a new term, take what lies between from every
		// node's history. Leader changes are rare; this costs one read of
		// each node's (capped) history per change.
		var batch []Info
		var top uint64
		for _, s := range r.res {
			for _, m := range s.Messages {
				lastID = m.ID
				if in, ok := parseEntry(m.Values); ok && in.Term > last {
					batch = append(batch, in)
					top = max(top, in.Term)
				}
			}
		}
		if len(batch) == 0 {
			continue
		}
		merged := e.histories(ctx, last, top+1)
		if len(merged) == 0 || merged[len(merged)-1].Term < top {
			merged = append(merged, batch...) // histories unreachable: at least this node's
			slices.SortFunc(merged, func(a, b Info) int { return cmp.Compare(a.Term, b.Term) })
		}
		for _, in := range merged {
			if !emit(in) {
				return
			}
		}
	}
}

// nextNode moves the observer to the next node, whose history it will
// read from its start (entries already delivered are skipped by term).
// After failures reads in a row it first waits a backoff, growing, once
// every node has failed in turn: one hung node costs a read timeout per
// round, not a backoff that keeps doubling while the others answer.
func (e *Elector) nextNode(ctx context.Context, node, failures int, backoff *time.Duration) (int, string) {
	if failures >= len(e.nodes) {
		t := time.NewTimer(*backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		*backoff = min(2**backoff, 2*time.Second)
	}
	return (node + 1) % len(e.nodes), "0"
}

// histories returns the announcements with after < term < before found in
// any node's history, in term order. Each node gets one retry period.
func (e *Elector) histories(ctx context.Context, after, before uint64) []Info {
	type res struct{ ms []redis.XMessage }
	ch := make(chan res, len(e.nodes))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.retryPeriod)
	e.wg.Add(len(e.nodes))
	for _, n := range e.nodes {
		go func() {
			defer e.wg.Done()
			ms, _ := n.XRange(rctx, e.history, "-", "+").Result()
			ch <- res{ms}
		}()
	}
	t := time.NewTimer(e.opts.retryPeriod)
	defer t.Stop()
	byTerm := map[uint64]Info{}
collect:
	for range e.nodes {
		select {
		case r := <-ch:
			for _, m := range r.ms {
				if in, ok := parseEntry(m.Values); ok && in.Term > after && in.Term < before {
					byTerm[in.Term] = in
				}
			}
		case <-t.C:
			break collect
		case <-ctx.Done():
			break collect
		}
	}
	cancel()
	out := make([]Info, 0, len(byTerm))
	for _, in := range byTerm {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int { return cmp.Compare(a.Term, b.Term) })
	return out
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
