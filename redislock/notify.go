package redislock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	stdsync "sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// waitQueue holds the waiters of one Locker for one name, in arrival order.
// Only the head retries; it is woken by a release notification, by its
// fallback timer, or by the previous head leaving.
type waitQueue struct {
	waiters []*waiter
}

type waiter struct {
	turn  chan struct{} // closed when this waiter becomes the head
	wake  chan struct{} // cap 1: a release was announced
	after time.Time     // set when the previous head acquired: its deadline

	// Handoff (see Lock.Release): a releasing holder of this Locker
	// acquires the lock for the head waiter in the same round trip.
	o       *acquireOptions // what the waiter asked for
	handed  chan *Lock      // cap 1: the lock acquired for this waiter
	handing bool            // under l.mu: a handoff to this waiter is under way
	gone    bool            // under l.mu: the waiter has left the queue
}

// hasWaiters reports whether anyone of this Locker waits for name.
func (l *Locker) hasWaiters(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[name]
	return q != nil && len(q.waiters) > 0
}

// enqueue appends a waiter for name; created reports whether the queue is
// new (its creator subscribes to the release channel).
func (l *Locker) enqueue(name string, o *acquireOptions) (w *waiter, created bool) {
	w = &waiter{turn: make(chan struct{}), wake: make(chan struct{}, 1), o: o, handed: make(chan *Lock, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[name]
	if q == nil {
		q = &waitQueue{}
		l.queues[name] = q
		created = true
	}
	q.waiters = append(q.waiters, w)
	if len(q.waiters) == 1 {
		close(w.turn)
	}
	return w, created
}

// dequeue removes w. If w was the head, the next waiter becomes the head;
// if w leaves holding the lock, the next head waits for its release (or its
// deadline) before trying. The last waiter out unsubscribes. A lock handed
// to w that w did not take is released (handing it on to the next head).
func (l *Locker) dequeue(name string, w *waiter, heldUntil time.Time) {
	l.mu.Lock()
	w.gone = true
	select {
	case lk := <-w.handed:
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), lk.ttl)
			defer cancel()
			lk.release(ctx) // not the caller's: no OnRelease
		}()
	default:
	}
	q := l.queues[name]
	if q == nil {
		l.mu.Unlock()
		return
	}
	for i, x := range q.waiters {
		if x != w {
			continue
		}
		q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
		if i == 0 && len(q.waiters) > 0 {
			next := q.waiters[0]
			next.after = heldUntil
			close(next.turn)
		}
		break
	}
	empty := len(q.waiters) == 0
	if empty {
		delete(l.queues, name)
	}
	l.mu.Unlock()
	if empty {
		l.unsubscribe(name)
	}
}

// claimHead returns the head waiter for name and marks a handoff to it
// under way, or nil when there is none to hand to.
func (l *Locker) claimHead(name string) *waiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queues[name]
	if l.closed || q == nil || len(q.waiters) == 0 {
		return nil
	}
	w := q.waiters[0]
	if w.handing || w.gone || len(w.handed) > 0 {
		return nil
	}
	w.handing = true
	return w
}

// deliver ends the handoff to w: it passes lk (if any) to w and reports
// whether w took it; a waiter that left meanwhile takes nothing.
func (l *Locker) deliver(w *waiter, lk *Lock) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w.handing = false
	if lk == nil || w.gone {
		return false
	}
	w.handed <- lk
	return true
}

// notify wakes the head waiter for name, if any.
func (l *Locker) notify(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if q := l.queues[name]; q != nil && len(q.waiters) > 0 {
		select {
		case q.waiters[0].wake <- struct{}{}:
		default:
		}
	}
}

// wakeAll wakes every head: used when a subscription broke and
// notifications may have been missed.
func (l *Locker) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.queues {
		if len(q.waiters) > 0 {
			select {
			case q.waiters[0].wake <- struct{}{}:
			default:
			}
		}
	}
}

// nodeSub is one pub/sub connection: one per lock node, or on a Redis
// Cluster node one per master, shared by every name waited on there.
type nodeSub struct {
	ps      *redis.PubSub
	sharded bool
	mu      stdsync.Mutex
	confirm map[string]chan struct{} // channel -> sent one value on confirmation
	names   map[string]bool          // channels wanted here
	// op orders the SUBSCRIBE and UNSUBSCRIBE calls, which run in
	// goroutines: each, under op, sends what names wants at that moment,
	// so the last call leaves the channel as wanted.
	op stdsync.Mutex
}

// sync sends SUBSCRIBE or UNSUBSCRIBE for ch, whichever names wants now
// (subscribe: whether this call was made to subscribe), unless that is
// not what the caller came for (the wish changed since; a later call
// handles it).
func (ns *nodeSub) sync(ctx context.Context, ch string, subscribe bool) error {
	ns.op.Lock()
	defer ns.op.Unlock()
	ns.mu.Lock()
	wanted := ns.names[ch]
	ns.mu.Unlock()
	switch {
	case wanted != subscribe:
		return nil
	case subscribe && ns.sharded:
		return ns.ps.SSubscribe(ctx, ch)
	case subscribe:
		return ns.ps.Subscribe(ctx, ch)
	case ns.sharded:
		return ns.ps.SUnsubscribe(ctx, ch)
	default:
		return ns.ps.Unsubscribe(ctx, ch)
	}
}

// subscribe subscribes to name's release channel on every node and waits
// (half a second at most) for a majority's confirmations, so that a
// release after the next attempt cannot go unnoticed. Each node's
// SUBSCRIBE runs in its own goroutine: a hung node (whose connection
// go-redis may first have to dial) must not hold up the waiter, nor the
// subscriptions to other names.
func (l *Locker) subscribe(ctx context.Context, name string) {
	ch := l.channel(name)
	// Every node sends one value when its SUBSCRIBE is confirmed (or has
	// failed: no confirmation is coming).
	acks := make(chan struct{}, len(l.nodes))
	subscribed := 0
	l.subMu.Lock()
	for i := range l.nodes {
		ns, err := l.nodeSubFor(ctx, i, ch)
		if err != nil {
			l.log.Warn("redislock: subscribe failed; falling back to TTL polling", "name", name, "err", err)
			continue
		}
		ns.mu.Lock()
		ns.confirm[ch] = acks
		ns.names[ch] = true
		ns.mu.Unlock()
		subscribed++
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := ns.sync(l.ctx, ch, true); err != nil {
				if l.ctx.Err() == nil {
					l.log.Warn("redislock: subscribe failed; falling back to TTL polling", "name", name, "err", err)
				}
				ns.mu.Lock()
				if ns.confirm[ch] == acks {
					delete(ns.confirm, ch) // no confirmation is coming
					acks <- struct{}{}
				}
				ns.mu.Unlock()
			}
		}()
	}
	l.subMu.Unlock()
	// A release reaches a majority of the nodes, and any two majorities
	// share a node: confirmations from a majority suffice, and a hung
	// node's do not hold the waiter up.
	t := time.NewTimer(500 * time.Millisecond)
	defer t.Stop()
	for range min(l.quorum, subscribed) {
		select {
		case <-acks:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// unsubscribe drops name's channel unless a new queue for name appeared.
// The UNSUBSCRIBE calls run in goroutines, like the SUBSCRIBE calls.
func (l *Locker) unsubscribe(name string) {
	ch := l.channel(name)
	l.subMu.Lock()
	defer l.subMu.Unlock()
	l.mu.Lock()
	_, again := l.queues[name]
	l.mu.Unlock()
	if again {
		return
	}
	for _, ns := range l.subs {
		ns.mu.Lock()
		had := ns.names[ch]
		delete(ns.names, ch)
		delete(ns.confirm, ch)
		ns.mu.Unlock()
		if !had {
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(l.ctx, time.Second)
			defer cancel()
			ns.sync(ctx, ch, false)
		}()
	}
}

// nodeSubFor returns (starting if needed) the subscription connection for
// channel on lock node i. Callers hold l.subMu.
func (l *Locker) nodeSubFor(ctx context.Context, i int, channel string) (*nodeSub, error) {
	n := l.nodes[i]
	key := fmt.Sprint(i)
	var client interface {
		Subscribe(context.Context, ...string) *redis.PubSub
		SSubscribe(context.Context, ...string) *redis.PubSub
	} = n.client
	if cc, ok := n.client.(*redis.ClusterClient); ok {
		m, err := cc.MasterForKey(ctx, channel)
		if err != nil {
			return nil, err
		}
		key += "/" + m.Options().Addr
		client = m
	}
	if ns := l.subs[key]; ns != nil {
		return ns, nil
	}
	if l.ctx.Err() != nil {
		return nil, ErrClosed
	}
	ns := &nodeSub{sharded: n.sharded, confirm: map[string]chan struct{}{}, names: map[string]bool{}}
	if n.sharded {
		ns.ps = client.SSubscribe(l.ctx)
	} else {
		ns.ps = client.Subscribe(l.ctx)
	}
	l.subs[key] = ns
	l.wg.Add(1)
	go l.receive(ns)
	return ns, nil
}

// receive dispatches release notifications and subscription confirmations
// until the Locker closes. After a connection error it wakes every waiter
// (notifications may have been lost) and lets go-redis reconnect and
// resubscribe.
func (l *Locker) receive(ns *nodeSub) {
	defer l.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		msg, err := ns.ps.Receive(l.ctx)
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
				return
			}
			l.log.Warn("redislock: subscription error; waiters fall back to TTL", "err", err)
			l.wakeAll()
			t := time.NewTimer(backoff)
			select {
			case <-l.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" && m.Kind != "ssubscribe" {
				continue
			}
			ns.mu.Lock()
			if c := ns.confirm[m.Channel]; c != nil {
				c <- struct{}{} // buffered for every node of that subscribe
				delete(ns.confirm, m.Channel)
			}
			ns.mu.Unlock()
		case *redis.Message:
			if i := strings.LastIndexByte(m.Payload, ':'); i >= 0 && strings.HasPrefix(m.Payload[i+1:], l.id) {
				continue // our own release: our waiters were woken locally
			}
			if name, ok := l.keys.Resource(l.opts.kind, m.Channel); ok {
				l.notify(name)
			}
		}
	}
}
