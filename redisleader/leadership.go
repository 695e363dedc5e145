package redisleader

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/redislock"
)

// Leadership is a won election. Its methods are safe for concurrent use.
// It ends on Resign, when a renewal finds the lease gone, or when no
// renewal succeeded for RenewDeadline, which comes before the lease could
// expire on Redis.
type Leadership struct {
	e     *Elector
	lk    *redislock.Lock
	id    string
	term  uint64
	since time.Time

	mu       stdsync.Mutex
	deadline time.Time // monotonic: last renewal's lease deadline - (lease - renewDeadline)
	err      error
	done     chan struct{}
	timer    *time.Timer
	ctx      context.Context
	cancel   context.CancelCauseFunc
}

func (e *Elector) newLeadership(id string, lk *redislock.Lock) (*Leadership, error) {
	ld := &Leadership{e: e, lk: lk, id: id, term: lk.Token(), since: time.Now(), done: make(chan struct{})}
	e.mu.Lock()
	if e.closed {
		// Won as the Elector closes (Close resigned the previous leader):
		// give the lease back rather than hand out a dead leadership.
		e.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), e.giveBack())
		lk.Release(ctx)
		cancel()
		return nil, fmt.Errorf("%w: campaign %q", ErrClosed, e.group)
	}
	ld.mu.Lock()
	ld.deadline = e.stepDown(lk.Deadline())
	ld.timer = time.AfterFunc(time.Until(ld.deadline), ld.checkDeadline)
	ld.mu.Unlock()
	e.active[ld] = struct{}{}
	e.wg.Add(1)
	go ld.renew()
	e.mu.Unlock()
	if h := e.opts.hooks.OnElected; h != nil {
		h(e.group, id, ld.term)
	}
	return ld, nil
}

// stepDown converts a lease deadline into the leadership deadline: the
// leader stops RenewDeadline after the renewal started, which is
// lease - renewDeadline (> drift) before the lease can expire.
func (e *Elector) stepDown(leaseDeadline time.Time) time.Time {
	return leaseDeadline.Add(-(e.opts.lease - e.opts.renewDeadline))
}

// ID returns the candidate id.
func (ld *Leadership) ID() string { return ld.id }

// Term returns the leadership's term: larger than every earlier leader's.
// Send it as the fencing token with every write the leader makes.
func (ld *Leadership) Term() uint64 { return ld.term }

// Since returns when the leadership began.
func (ld *Leadership) Since() time.Time { return ld.since }

// Info returns the leadership as an Info.
func (ld *Leadership) Info() Info { return Info{ID: ld.id, Term: ld.term, Since: ld.since} }

// Deadline returns the moment (monotonic clock) the leader steps down
// unless a renewal succeeds first. Once the leadership has ended before
// that (resigned, or lost), it returns the moment it ended.
func (ld *Leadership) Deadline() time.Time {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.deadline
}

// Done returns a channel closed when the leadership ends.
func (ld *Leadership) Done() <-chan struct{} { return ld.done }

// Err returns nil while leading, ErrResigned after Resign, ErrLost
// otherwise. A deadline passed during a pause reads as ErrLost at once.
func (ld *Leadership) Err() error {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.err == nil && !time.Now().Before(ld.deadline) {
		return ErrLost
	}
	return ld.err
}

// Valid reports whether the candidate leads at the moment of the call.
func (ld *Leadership) Valid() bool { return ld.Err() == nil }

// Context returns a context that ends with the leadership (context.Cause:
// ErrLost or ErrResigned). Its Err reads the monotonic clock, so a leader
// paused past its deadline learns it at its first check.
func (ld *Leadership) Context() context.Context {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	if ld.ctx == nil {
		inner, cancel := context.WithCancelCause(context.Background())
		ld.ctx, ld.cancel = &leaderContext{Context: inner, ld: ld}, cancel
		if ld.err != nil {
			cancel(ld.err)
		}
	}
	return ld.ctx
}

type leaderContext struct {
	context.Context
	ld *Leadership
}

func (c *leaderContext) Err() error {
	if err := c.ld.Err(); err != nil {
		c.ld.end(err)
	}
	return c.Context.Err()
}

// Resign ends the leadership and releases the lease, waking the next
// candidate at once. It returns the lease release's error (nil when the
// lease was released; redislock.ErrNotHeld when it had already gone).
func (ld *Leadership) Resign(ctx context.Context) error {
	ld.end(ErrResigned)
	return ld.lk.Release(ctx)
}

// end marks the leadership over with cause err, once. A leadership that
// ends without Resign releases its lease in the background, so a lost
// leader does not hold the group until its lease expires.
func (ld *Leadership) end(err error) {
	ld.mu.Lock()
	if ld.err != nil {
		ld.mu.Unlock()
		return
	}
	ld.err = err
	if now := time.Now(); now.Before(ld.deadline) {
		ld.deadline = now // ended early: Deadline reports the end
	}
	ld.timer.Stop()
	if ld.cancel != nil {
		ld.cancel(err)
	}
	close(ld.done)
	ld.mu.Unlock()
	e := ld.e
	e.mu.Lock()
	delete(e.active, ld)
	e.mu.Unlock()
	if h := e.opts.hooks.OnEnded; h != nil {
		h(e.group, ld.id, ld.term, err)
	}
	if errors.Is(err, ErrLost) {
		e.log.Warn("redisleader: leadership lost", "group", e.group, "id", ld.id, "term", ld.term)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), e.opts.retryPeriod)
			defer cancel()
			ld.lk.Release(ctx)
		}()
	}
}

func (ld *Leadership) checkDeadline() {
	ld.mu.Lock()
	left := time.Until(ld.deadline)
	held := ld.err == nil
	if held && left > 0 {
		ld.timer.Reset(left)
	}
	ld.mu.Unlock()
	if held && left <= 0 {
		ld.end(ErrLost)
	}
}

// renew extends the lease every RetryPeriod until the leadership ends.
func (ld *Leadership) renew() {
	e := ld.e
	defer e.wg.Done()
	t := time.NewTimer(e.opts.retryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ld.done:
			return
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithDeadline(e.ctx, ld.Deadline())
		err := ld.lk.Extend(ctx, e.opts.lease)
		cancel()
		switch {
		case err == nil:
			ld.mu.Lock()
			if ld.err == nil {
				ld.deadline = e.stepDown(ld.lk.Deadline())
				ld.timer.Reset(time.Until(ld.deadline))
			}
			ld.mu.Unlock()
		case errors.Is(err, redislock.ErrNotHeld):
			ld.end(ErrLost)
			return
		default:
			e.log.Warn("redisleader: renewal failed; retrying", "group", e.group, "term", ld.term, "err", err)
		}
		t.Reset(e.opts.retryPeriod)
	}
}
