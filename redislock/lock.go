package redislock

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"
)

// Lock is a held lock. Its methods are safe for concurrent use. A Lock is
// held until Release, until its validity deadline passes without a renewal,
// or until a renewal finds it gone; Done and Context report the end.
type Lock struct {
	l     *Locker
	name  string
	value string
	token uint64
	ttl   time.Duration

	mu        stdsync.Mutex
	deadline  time.Time // monotonic: start + TTL - drift
	err       error     // nil while held; ErrLost or ErrReleased
	done      chan struct{}
	expiry    *time.Timer
	ctx       context.Context
	cancel    context.CancelCauseFunc
	stop      chan struct{} // closed to stop the watchdog; nil without one
	released  bool          // a Release reached a majority, or found the lock gone
	releasing bool          // a Release is under way
	chain     int           // handoffs in a row that led to this grant
}

// maxChain bounds handoffs in a row: then a Release frees the lock and
// announces it, so that waiters elsewhere get their chance.
const maxChain = 16

func (l *Locker) newLock(name, value string, token uint64, ttl time.Duration, deadline time.Time, o *acquireOptions) *Lock {
	lk := &Lock{l: l, name: name, value: value, token: token, ttl: ttl, deadline: deadline, done: make(chan struct{})}
	lk.mu.Lock() // the timer may fire before the assignment completes
	lk.expiry = time.AfterFunc(time.Until(deadline), lk.checkExpiry)
	lk.mu.Unlock()
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.held[lk] = struct{}{}
		if o.autoRenew {
			lk.stop = make(chan struct{})
			l.wg.Add(1)
			go lk.watchdog()
		}
	}
	l.mu.Unlock()
	if closed {
		// Never handed out: the caller gets ErrClosed, so this is no loss.
		lk.end(ErrClosed)
		ctx, cancel := context.WithTimeout(context.Background(), ttl)
		l.releaseWait(ctx, name, value)
		cancel()
	}
	return lk
}

// releaseWait releases value on every node and waits until a majority
// has answered either way, or ctx ends. It reports how many released,
// how many did not hold the lock, and the errors.
func (l *Locker) releaseWait(ctx context.Context, name, value string) (ok, notHeld int, errs []NodeError) {
	if err := ctx.Err(); err != nil {
		return 0, 0, []NodeError{{"(not sent)", err}}
	}
	if len(l.nodes) == 1 && ctx.Done() == nil {
		// One node and nothing to cancel: call inline.
		switch r := l.releaseOne(ctx, 0, name, value); {
		case r.ok:
			return 1, 0, nil
		case r.err == nil:
			return 0, 1, nil
		default:
			return 0, 0, []NodeError{{l.nodes[0].addr, r.err}}
		}
	}
	ch := make(chan opReply, len(l.nodes))
	l.releaseOn(ctx, name, value, l.allNodes(), ch)
	for range l.nodes {
		select {
		case r := <-ch:
			switch {
			case r.ok:
				ok++
			case r.err == nil:
				notHeld++
			default:
				errs = append(errs, NodeError{l.nodes[r.i].addr, r.err})
			}
		case <-ctx.Done():
			return ok, notHeld, append(errs, NodeError{"(pending)", ctx.Err()})
		}
		if ok >= l.quorum || len(l.nodes)-notHeld < l.quorum {
			return ok, notHeld, errs
		}
	}
	return ok, notHeld, errs
}

func (l *Locker) allNodes() []int {
	idx := make([]int, len(l.nodes))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// Holder returns the value this grant wrote at the lock key: the owner id,
// a colon, and a random suffix unique to the grant.
func (lk *Lock) Holder() string { return lk.value }

// Name returns the lock's name.
func (lk *Lock) Name() string { return lk.name }

// Token returns the fencing token of this grant: larger than the token of
// every earlier holder of the name. Send it with every write the lock
// protects (see FencedStore).
func (lk *Lock) Token() uint64 { return lk.token }

// Deadline returns the moment (on the monotonic clock) until which the
// lock is surely held, as last renewed. Once the lock has ended before
// that (released, or declared lost by the watchdog), it returns the moment
// it ended: the hold was [acquired, Deadline()] either way.
func (lk *Lock) Deadline() time.Time {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.deadline
}

// Valid reports whether the lock is held at the moment of the call: not
// released, not found lost, and its deadline not passed. It reads the
// monotonic clock, so it is right even just after the process was paused,
// before any timer has fired.
func (lk *Lock) Valid() bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return lk.err == nil && time.Now().Before(lk.deadline)
}

// Done returns a channel closed when the lock ends: released, or lost.
func (lk *Lock) Done() <-chan struct{} { return lk.done }

// Err returns nil while the lock is held, ErrReleased after Release, and
// ErrLost when it was lost. A deadline passed while the process was
// paused reads as ErrLost even before the expiry timer fires.
func (lk *Lock) Err() error {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.err == nil && !time.Now().Before(lk.deadline) {
		return ErrLost
	}
	return lk.err
}

// Context returns a context cancelled when the lock ends, with cause
// ErrLost or ErrReleased (context.Cause). Run work protected by the lock
// under it, so the work stops when the lock is no longer held. Its Err
// reads the monotonic clock: right after the process was paused past the
// deadline, Err already reports the loss (and ends the lock), before any
// timer has fired.
func (lk *Lock) Context() context.Context {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.ctx == nil {
		inner, cancel := context.WithCancelCause(context.Background())
		lk.ctx, lk.cancel = &lockContext{Context: inner, lk: lk}, cancel
		if lk.err != nil {
			lk.cancel(lk.err)
		}
	}
	return lk.ctx
}

// lockContext checks the lock's deadline on every Err call.
type lockContext struct {
	context.Context
	lk *Lock
}

func (c *lockContext) Err() error {
	if err := c.lk.Err(); err != nil {
		c.lk.end(err) // no-op if already ended; closes Done before Err reports
	}
	return c.Context.Err()
}

// end marks the lock ended with cause err, once.
func (lk *Lock) end(err error) bool {
	lk.mu.Lock()
	if lk.err != nil {
		lk.mu.Unlock()
		return false
	}
	lk.err = err
	if now := time.Now(); now.Before(lk.deadline) {
		// Ended early (released, or given up by the watchdog, which
		// then releases it): Deadline reports the end of the hold.
		lk.deadline = now
	}
	lk.expiry.Stop()
	if lk.cancel != nil {
		lk.cancel(err)
	}
	if lk.stop != nil {
		close(lk.stop)
	}
	close(lk.done)
	lk.mu.Unlock()
	lk.l.mu.Lock()
	delete(lk.l.held, lk)
	lk.l.mu.Unlock()
	if errors.Is(err, ErrLost) {
		lk.l.log.Warn("redislock: lock lost", "name", lk.name, "token", lk.token)
		if h := lk.l.opts.hooks.OnLost; h != nil {
			h(lk.name, lk.token)
		}
	}
	return true
}

// checkExpiry runs when the deadline timer fires; a renewal may have moved
// the deadline since the timer was set.
func (lk *Lock) checkExpiry() {
	lk.mu.Lock()
	left := time.Until(lk.deadline)
	held := lk.err == nil
	if held && left > 0 {
		lk.expiry.Reset(left)
	}
	lk.mu.Unlock()
	if held && left <= 0 {
		lk.end(ErrLost)
	}
}

// Extend renews the lock for ttl (the lock's own TTL when zero) from now.
// It returns ErrNotHeld, and the lock ends with ErrLost, when a majority no
// longer holds it; a *QuorumError when too few nodes answered (the lock
// stays held until its current deadline); the context's error on
// cancellation.
func (lk *Lock) Extend(ctx context.Context, ttl time.Duration) error {
	if ttl == 0 {
		ttl = lk.ttl
	}
	if ttl < MinTTL {
		return fmt.Errorf("%w: TTL %v below the minimum %v", ErrBadOption, ttl, MinTTL)
	}
	if err := lk.Err(); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrNotHeld, lk.name, err)
	}
	l := lk.l
	start := time.Now()
	ks := []string{l.lockKey(lk.name)}
	ctx, cancel := context.WithDeadline(ctx, lk.Deadline())
	defer cancel()
	ch := make(chan opReply, len(l.nodes))
	l.goEach(ctx, l.allNodes(), func(ctx context.Context, i int) {
		v, err := extendScript.Run(ctx, l.nodes[i].client, ks, lk.value, ttl.Milliseconds()).Int64()
		ch <- opReply{i, err == nil && v == 1, err}
	})
	ok, notHeld := 0, 0
	var errs []NodeError
	for range l.nodes {
		var r opReply
		select {
		case r = <-ch:
		case <-ctx.Done():
			r = opReply{i: -1, err: ctx.Err()}
		}
		switch {
		case r.i < 0:
			errs = append(errs, NodeError{"(pending)", r.err})
		case r.ok:
			ok++
		case r.err == nil:
			notHeld++
			errs = append(errs, NodeError{l.nodes[r.i].addr, ErrNotHeld})
		default:
			errs = append(errs, NodeError{l.nodes[r.i].addr, r.err})
		}
		if r.i < 0 || ok >= l.quorum || len(l.nodes)-notHeld < l.quorum || len(l.nodes)-len(errs) < l.quorum {
			break
		}
	}
	if ok >= l.quorum {
		deadline := start.Add(ttl - drift(ttl))
		lk.mu.Lock()
		if lk.err == nil && time.Now().Before(lk.deadline) {
			lk.deadline = deadline
			lk.expiry.Reset(time.Until(deadline))
			lk.mu.Unlock()
			return nil
		}
		lk.mu.Unlock()
		return fmt.Errorf("%w: %q: %v", ErrNotHeld, lk.name, lk.Err())
	}
	if len(l.nodes)-notHeld < l.quorum {
		lk.end(ErrLost)
		return fmt.Errorf("%w: %q: expired or taken over", ErrNotHeld, lk.name)
	}
	if err := ctx.Err(); err != nil && !time.Now().Before(lk.Deadline()) {
		// The renewal ran out of validity, not out of the caller's patience.
		lk.end(ErrLost)
		return fmt.Errorf("%w: %q: deadline passed during renewal", ErrNotHeld, lk.name)
	}
	return &QuorumError{Op: "extend", Name: lk.name, Quorum: l.quorum, OK: ok, Nodes: errs}
}

// Release releases the lock on every node and notifies waiters. The lock
// ends (Done closes, Err returns ErrReleased) whatever the outcome. It
// returns ErrNotHeld when the lock had already expired or been taken over
// (nothing was released), and a *QuorumError when too few nodes answered
// (the lock then expires by its TTL; or call Release again: a release
// that did not reach a majority can be retried, for example after ctx was
// cancelled). It returns once a majority has answered, without waiting
// for slow nodes.
func (lk *Lock) Release(ctx context.Context) error {
	err := lk.release(ctx)
	if h := lk.l.opts.hooks.OnRelease; h != nil {
		h(lk.name, err)
	}
	return err
}

func (lk *Lock) release(ctx context.Context) error {
	prior := lk.Err()
	lk.mu.Lock()
	done, busy := lk.released, lk.releasing
	if !done && !busy {
		lk.releasing = true
	}
	lk.mu.Unlock()
	if done || busy {
		// Released, or another Release (or Close) is under way; a
		// Release that was cut short can be retried once it returned.
		return fmt.Errorf("%w: %q: already released", ErrNotHeld, lk.name)
	}
	defer func() {
		lk.mu.Lock()
		lk.releasing = false
		lk.mu.Unlock()
	}()
	expired := prior != nil && !errors.Is(prior, ErrReleased)
	if expired {
		// Past its deadline (a pause, say) before the expiry timer ran:
		// the lock was lost, whatever runs first.
		lk.end(ErrLost)
	} else {
		lk.end(ErrReleased)
	}
	l := lk.l
	tried := false
	if !expired && ctx.Err() == nil && lk.chain < maxChain {
		var handed bool
		if handed, tried = lk.handoff(ctx); handed {
			return nil
		}
	}
	ok, notHeld, errs := l.releaseWait(ctx, lk.name, lk.value)
	l.notify(lk.name) // our own waiters need not wait for the pub/sub echo
	settled := ok >= l.quorum || len(l.nodes)-notHeld < l.quorum
	if settled {
		lk.mu.Lock()
		lk.released = true
		lk.mu.Unlock()
	}
	switch {
	case expired:
		return fmt.Errorf("%w: %q: the lock had expired before Release", ErrNotHeld, lk.name)
	case ok >= l.quorum:
		return nil
	case tried && ok+notHeld >= l.quorum:
		// A handoff that failed took this value over on some nodes and
		// releases them itself: the lock, valid until now, is let go.
		return nil
	case len(l.nodes)-notHeld < l.quorum:
		return fmt.Errorf("%w: %q: expired or taken over before Release", ErrNotHeld, lk.name)
	default:
		return &QuorumError{Op: "release", Name: lk.name, Quorum: l.quorum, OK: ok, Nodes: errs}
	}
}

// handoff passes the lock to the head waiter of this Locker, if any: one
// acquire round trip with the releasing value as precondition, instead of
// a release and then an acquire. It reports whether the lock was handed
// over (and so released by lk), and whether a waiter was tried; if not
// handed, Release goes on as usual. The caller has ended lk.
func (lk *Lock) handoff(ctx context.Context) (handed, tried bool) {
	l := lk.l
	w := l.claimHead(lk.name)
	if w == nil {
		return false, false
	}
	next, _, _ := l.try(ctx, lk.name, w.o, lk.value)
	if next != nil {
		next.chain = lk.chain + 1
	}
	if !l.deliver(w, next) && next != nil {
		// The waiter left while its lock was being taken: the lock has
		// passed from lk all the same; free it (or hand it on).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), next.ttl)
		next.release(rctx) // not the caller's: no OnRelease
		cancel()
	}
	if next == nil {
		return false, true
	}
	lk.mu.Lock()
	lk.released = true
	lk.mu.Unlock()
	return true, true
}

// watchdog renews the lock every TTL/3 until it ends or the Locker closes.
// A renewal that cannot reach a majority is retried twice, TTL/30 apart;
// if the majority is still unreachable the lock is declared lost at once,
// well before its deadline: a holder must not keep working on a lock that
// it can no longer keep.
func (lk *Lock) watchdog() {
	defer lk.l.wg.Done()
	every := lk.ttl / 3
	t := time.NewTimer(every)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-lk.stop:
			return
		case <-lk.l.ctx.Done():
			return
		case <-t.C:
		}
		// Bound each renewal, so that retries against dead nodes (go-redis
		// redials and retries) cannot use up the validity.
		ctx, cancel := context.WithTimeout(lk.l.ctx, lk.ttl/10)
		err := lk.Extend(ctx, 0)
		cancel()
		switch {
		case err == nil:
			failures = 0
			t.Reset(every)
		case errors.Is(err, ErrNotHeld):
			return
		case lk.l.ctx.Err() != nil:
			return
		default:
			failures++
			if failures > 2 {
				lk.l.log.Warn("redislock: renewals cannot reach a majority; lock lost", "name", lk.name, "err", err)
				lk.end(ErrLost)
				ctx, cancel := context.WithTimeout(context.Background(), lk.ttl/3)
				lk.l.releaseWait(ctx, lk.name, lk.value)
				cancel()
				return
			}
			lk.l.log.Warn("redislock: renewal failed; retrying", "name", lk.name, "err", err)
			t.Reset(lk.ttl / 30)
		}
	}
}
