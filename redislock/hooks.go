package redislock

import (
	"context"
	"time"
)

// Hooks are optional callbacks for metrics, set with WithHooks. A nil
// field costs one nil check and nothing else. Each hook runs
// synchronously on the goroutine named in its doc, so it must be quick
// and must not block: a slow hook delays the operation that called it.
// Hooks must be safe for concurrent use.
type Hooks struct {
	// OnAcquire is called when Acquire or TryAcquire returns, on the
	// caller's goroutine, with the call's error (nil: the lock is held).
	// wait is the time spent in the call: queueing behind other waiters
	// and every attempt. attempt is the duration of the last attempt the
	// call made, one round of scripts to the nodes until a majority
	// answered; zero when it made none (an invalid name or option, a
	// closed Locker, an ended context, or a queued waiter that was handed
	// the lock by its releaser: see Release).
	OnAcquire func(name string, wait, attempt time.Duration, err error)
	// OnRelease is called when Lock.Release returns, on the caller's
	// goroutine, with Release's error.
	OnRelease func(name string, err error)
	// OnLost is called once for a lock found lost (it ends with ErrLost):
	// its deadline passed without a renewal, a renewal found it gone, or
	// the watchdog could not reach a majority. It runs on the goroutine
	// that noticed: the expiry timer's, the watchdog's, or that of a
	// caller of Extend or of Lock.Context().Err(). It runs just after
	// Done is closed.
	OnLost func(name string, token uint64)
}

// WithHooks sets metric callbacks (see Hooks). The default is none.
func WithHooks(h Hooks) Option { return func(o *options) { o.hooks = h } }

// attempt runs one try, timing it into *timing when timing is not nil
// (only when OnAcquire is set: no clock read otherwise).
func (l *Locker) attempt(ctx context.Context, name string, o *acquireOptions, timing *time.Duration) (*Lock, time.Duration, error) {
	if timing == nil {
		return l.try(ctx, name, o, "")
	}
	start := time.Now()
	lk, wait, err := l.try(ctx, name, o, "")
	*timing = time.Since(start)
	return lk, wait, err
}
