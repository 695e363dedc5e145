package redislock

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// TryAcquire makes one attempt to acquire name. It returns an error
// wrapping ErrTaken when another holder has it, a *QuorumError (ErrQuorum)
// when too few nodes answered, ErrWrongType when the lock key holds
// something else, or the context's error. It never waits for the lock.
func (l *Locker) TryAcquire(ctx context.Context, name string, opts ...AcquireOption) (*Lock, error) {
	if h := l.opts.hooks.OnAcquire; h != nil {
		start := time.Now()
		var last time.Duration
		lk, err := l.tryAcquire(ctx, name, opts, &last)
		h(name, time.Since(start), last, err)
		return lk, err
	}
	return l.tryAcquire(ctx, name, opts, nil)
}

// tryAcquire is TryAcquire; it times the attempt into *timing when timing
// is not nil.
func (l *Locker) tryAcquire(ctx context.Context, name string, opts []AcquireOption, timing *time.Duration) (*Lock, error) {
	o, err := l.begin(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	lk, _, err := l.attempt(ctx, name, &o, timing)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &waitError{name: name, reason: ctx.Err()}
		}
		return nil, err
	}
	return lk, nil
}

// Acquire blocks until name is held, ctx ends, or the MaxWait bound
// passes. Waiters of this Locker on one name are served in arrival order;
// they retry when a release is announced, or when the holder's TTL runs
// out. Errors: the context's error (errors.Is(err, ctx.Err()) holds), or
// ErrWaitTimeout, each also wrapping the last reason the lock was not had
// (ErrTaken, or a *QuorumError while nodes were unreachable);
// ErrWrongType; ErrClosed when the Locker closes.
func (l *Locker) Acquire(ctx context.Context, name string, opts ...AcquireOption) (*Lock, error) {
	if h := l.opts.hooks.OnAcquire; h != nil {
		start := time.Now()
		var last time.Duration
		lk, err := l.acquire(ctx, name, opts, &last)
		h(name, time.Since(start), last, err)
		return lk, err
	}
	return l.acquire(ctx, name, opts, nil)
}

// acquire is Acquire; it times each attempt into *timing when timing is
// not nil.
func (l *Locker) acquire(ctx context.Context, name string, opts []AcquireOption, timing *time.Duration) (*Lock, error) {
	o, err := l.begin(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	// The wait bound is a context deadline with its own cause, so that a
	// bound passing mid-attempt stops the attempt too.
	parent := ctx
	if o.maxWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.maxWait, ErrWaitTimeout)
		defer cancel()
	}
	stop := func(reason, last error) error { return l.stopErr(parent, ctx, name, reason, last) }
	var last error
	// Fast path: no waiter of ours queues for name, so try at once.
	if !l.hasWaiters(name) {
		lk, _, err := l.attempt(ctx, name, &o, timing)
		if err == nil {
			return lk, nil
		}
		if fatal(ctx, err) {
			return nil, stop(err, nil)
		}
		last = err
	}

	w, created := l.enqueue(name, &o)
	var heldUntil time.Time
	defer func() { l.dequeue(name, w, heldUntil) }()
	if created {
		l.subscribe(ctx, name)
	}
	select {
	case <-w.turn:
	case <-ctx.Done():
		return nil, stop(ctx.Err(), last)
	case <-l.ctx.Done():
		return nil, stop(ErrClosed, last)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	if !w.after.IsZero() {
		// The previous head holds the lock: wait for its release (we are
		// notified) or its deadline, instead of a doomed attempt now.
		timer.Reset(time.Until(w.after) + time.Millisecond)
		lk, err := l.waitTurn(ctx, w, timer)
		if err != nil {
			return nil, stop(err, last)
		}
		if lk != nil {
			heldUntil = lk.Deadline()
			return lk, nil
		}
	}
	unreachable := 0
	for {
		select {
		case lk := <-w.handed:
			heldUntil = lk.Deadline()
			return lk, nil
		case <-w.wake: // stale: this attempt sees the lock as it is now
		default:
		}
		lk, wait, err := l.attempt(ctx, name, &o, timing)
		if err == nil {
			heldUntil = lk.Deadline()
			return lk, nil
		}
		if fatal(ctx, err) {
			return nil, stop(err, last)
		}
		last = err
		if errors.Is(err, errSplitVote) {
			// Contenders that split a vote release what they won, and
			// each release wakes the others: retrying at the next
			// notification would split them again, in lockstep, for as
			// long as a node hangs. Each pauses a random while first.
			lk, err := l.pause(ctx, w, rand.N(wait))
			if err != nil {
				return nil, stop(err, last)
			}
			if lk != nil {
				heldUntil = lk.Deadline()
				return lk, nil
			}
			continue
		}
		if errors.Is(err, ErrQuorum) {
			// Nodes unreachable: back off exponentially with jitter.
			wait = min(backoffUnreachable<<min(unreachable, 4), 2*time.Second)
			wait = wait/2 + rand.N(wait/2+1)
			unreachable++
		} else {
			unreachable = 0
		}
		timer.Reset(max(wait, time.Millisecond))
		lk, err = l.waitTurn(ctx, w, timer)
		if err != nil {
			return nil, stop(err, last)
		}
		if lk != nil {
			heldUntil = lk.Deadline()
			return lk, nil
		}
	}
}

// waitTurn waits for a release notification, a lock handed over by its
// releaser, or the timer; it returns the handed lock, or the reason to
// stop waiting.
func (l *Locker) waitTurn(ctx context.Context, w *waiter, timer *time.Timer) (*Lock, error) {
	select {
	case lk := <-w.handed:
		timer.Stop()
		return lk, nil
	case <-w.wake:
		timer.Stop()
	case <-timer.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
	return nil, nil
}

// pause waits for d, or for a lock handed over by its releaser; release
// notifications do not end it (they stay pending for the next attempt).
func (l *Locker) pause(ctx context.Context, w *waiter, d time.Duration) (*Lock, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case lk := <-w.handed:
		return lk, nil
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
}

// stopErr builds Acquire's error: ErrClosed; ErrWaitTimeout when the
// bound (ctx's cause) passed; the caller's context error; or reason.
func (l *Locker) stopErr(parent, ctx context.Context, name string, reason, last error) error {
	if reason != nil && reason != ctx.Err() && !errors.Is(reason, ErrClosed) {
		last = reason // an attempt cut short says which nodes held it up
	}
	switch {
	case errors.Is(reason, ErrClosed):
		return fmt.Errorf("%w: acquire %q", ErrClosed, name)
	case parent.Err() != nil:
		return &waitError{name: name, reason: parent.Err(), last: last}
	case ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrWaitTimeout):
		return &waitError{name: name, reason: ErrWaitTimeout, last: last}
	case ctx.Err() != nil:
		return &waitError{name: name, reason: ctx.Err(), last: last}
	}
	return reason
}

// fatal reports errors that waiting cannot cure.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, ErrWrongType) || errors.Is(err, ErrBadOption) || errors.Is(err, ErrClosed)
}

func (l *Locker) begin(ctx context.Context, name string, opts []AcquireOption) (acquireOptions, error) {
	if err := validName(name); err != nil {
		return acquireOptions{}, err
	}
	o, err := resolve(l, opts)
	if err != nil {
		return o, err
	}
	if l.isClosed() {
		return o, fmt.Errorf("%w: acquire %q", ErrClosed, name)
	}
	if err := ctx.Err(); err != nil {
		return o, &waitError{name: name, reason: err}
	}
	return o, nil
}
