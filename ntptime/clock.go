package ntptime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"sync/atomic"
	"time"
)

// Clock reads synchronized time as an interval. Each synchronization with
// its Source publishes an anchor (a monotonic instant, the true time then,
// and the error bound then) with one atomic store; Now extrapolates from
// the anchor with the monotonic clock and widens the bound at the drift
// rate, without I/O and without a lock. A goroutine started by New keeps
// the anchor fresh at the pace the Source asks for; Close stops it.
//
// A Clock is safe for concurrent use. The zero value is not usable: build
// one with New.
type Clock struct {
	src      Source
	env      Env
	local    LocalClock
	drift    float64 // fraction: ppm / 1e6
	maxError time.Duration
	logger   *slog.Logger

	anchor atomic.Pointer[anchor]

	syncMu    stdsync.Mutex // serializes synchronizations (and so anchor updates)
	ready     chan struct{} // closed by the first successful synchronization
	readyOnce stdsync.Once
	closed    atomic.Bool
	closeOnce stdsync.Once
	cancel    context.CancelFunc
	done      chan struct{} // closed when the goroutine has returned
}

// minPoll is the shortest wait between two synchronizations, whatever the
// Source asks: a Source returning 0 must not make the goroutine spin.
const minPoll = time.Millisecond

// anchor is one published synchronization. It is never modified once
// stored.
type anchor struct {
	mono   time.Duration // LocalClock.Mono at the sample
	unix   int64         // best estimate of true time at mono, Unix ns
	err    time.Duration // error bound at mono
	fresh  time.Duration // Synchronized until this monotonic instant
	failed bool          // the synchronization after this one failed
}

// New returns a Clock over src and starts the goroutine that synchronizes
// it: at once, then each time src.Next() has passed. New does no I/O
// itself; until the first synchronization succeeds, readings are
// Unsynchronized and unbounded (WaitSynchronized waits for it). New fails
// if src is nil or an option is out of range.
func New(src Source, opts ...Option) (*Clock, error) {
	c, err := newClock(src, opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go c.run(ctx)
	return c, nil
}

// newClock builds a Clock without its goroutine (unit tests call Sync).
func newClock(src Source, opts ...Option) (*Clock, error) {
	if src == nil {
		return nil, errors.New("ntptime: New called with a nil Source")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Clock{
		src:      src,
		env:      Env{Clock: o.local, DriftPPM: o.driftPPM, Logger: o.logger},
		local:    o.local,
		drift:    o.driftPPM / 1e6,
		maxError: o.maxError,
		logger:   o.logger,
		ready:    make(chan struct{}),
	}, nil
}

func (c *Clock) run(ctx context.Context) {
	defer close(c.done)
	for {
		next, err := c.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.logger.Warn("ntptime: synchronization failed", "err", err, "retry_in", next)
		}
		t := time.NewTimer(max(next, minPoll))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Now returns the current time as an interval. It does no I/O, takes no
// lock and does not allocate; stepping the system clock does not move it
// (it reads the monotonic clock from the last anchor).
func (c *Clock) Now() Reading {
	a := c.anchor.Load()
	if a == nil {
		return Reading{Best: c.local.Wall().Round(0).UTC(), Latest: maxTime, Status: Unsynchronized}
	}
	return a.read(c.local.Mono(), c.drift, c.maxError)
}

// read extrapolates the anchor to the monotonic instant m.
func (a *anchor) read(m time.Duration, drift float64, maxError time.Duration) Reading {
	el := m - a.mono
	if el < 0 {
		el = 0
	}
	e := a.err + grow(el, drift)
	best := a.unix + int64(el)
	st := Synchronized
	if a.failed || m > a.fresh {
		st = Holdover
	}
	if e > maxError {
		st = Unsynchronized
	}
	return Reading{
		Earliest: time.Unix(0, best-int64(e)).UTC(),
		Latest:   time.Unix(0, best+int64(e)).UTC(),
		Best:     time.Unix(0, best).UTC(),
		Status:   st,
	}
}

// grow returns the growth of an error bound over d >= 0 at rate drift,
// rounded up.
func grow(d time.Duration, drift float64) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d)*drift) + 1
}

// Sync synchronizes with the source now, in addition to the background
// schedule, and publishes the result. On failure the last anchor is kept
// and readings report Holdover; on cancellation the error satisfies
// errors.Is(err, ctx.Err()) and the status is left alone. After Close it
// returns ErrClosed.
func (c *Clock) Sync(ctx context.Context) error {
	_, err := c.sync(ctx)
	return err
}

func (c *Clock) sync(ctx context.Context) (time.Duration, error) {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if c.closed.Load() {
		return 0, ErrClosed
	}
	s, err := c.src.Sample(ctx, c.env)
	next := c.src.Next()
	now := c.local.Mono()
	if err == nil {
		err = checkSample(s, now)
	}
	old := c.anchor.Load()
	if err != nil {
		if ctx.Err() == nil && old != nil && !old.failed {
			held := *old
			held.failed = true
			c.anchor.Store(&held)
		}
		return next, err
	}
	a := &anchor{mono: s.Mono, unix: s.Time.UnixNano(), err: s.Error}
	if old != nil {
		if merged, ok := intersect(old, a, c.drift); ok {
			a = merged
		} else {
			held := old.read(s.Mono, c.drift, c.maxError)
			c.logger.Warn("ntptime: new sample disagrees with the held interval; taking the new sample",
				"held", held.String(), "sample", s.Time.UTC().Format(time.RFC3339Nano), "sample_error", s.Error)
		}
	}
	a.fresh = now + 2*next + time.Second
	c.anchor.Store(a)
	c.readyOnce.Do(func() { close(c.ready) })
	return next, nil
}

// checkSample rejects samples that cannot be true.
func checkSample(s Sample, now time.Duration) error {
	switch {
	case s.Error < 0:
		return fmt.Errorf("%w: negative error bound %v", ErrBadSample, s.Error)
	case s.Mono > now:
		return fmt.Errorf("%w: monotonic instant %v is after now (%v)", ErrBadSample, s.Mono, now)
	case s.Time.Unix() <= 0 || s.Time.Unix() >= 1<<33:
		return fmt.Errorf("%w: time %v out of range", ErrBadSample, s.Time)
	case s.Error > 1<<50:
		return fmt.Errorf("%w: error bound %v out of range", ErrBadSample, s.Error)
	}
	return nil
}

// intersect narrows b with a extrapolated to b's instant: both hold the
// true time if the sources and the drift assumption hold, so their
// intersection does too. It reports false when they are disjoint (one of
// them is wrong), and b is then taken alone.
func intersect(a, b *anchor, drift float64) (*anchor, bool) {
	el := b.mono - a.mono
	ac := a.unix + int64(el)
	ae := a.err + grow(max(el, -el), drift)
	lo := max(ac-int64(ae), b.unix-int64(b.err))
	hi := min(ac+int64(ae), b.unix+int64(b.err))
	if lo > hi {
		return nil, false
	}
	mid := lo + (hi-lo)/2
	return &anchor{mono: b.mono, unix: mid, err: time.Duration(hi - mid)}, true
}

// WaitSynchronized blocks until the clock has synchronized once. It returns
// ctx.Err() if ctx ends first, and ErrClosed if the clock is closed first.
func (c *Clock) WaitSynchronized(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	default:
	}
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CommitWait blocks until t is surely in the past (Now().After(t)), as
// Spanner's commit wait does: take Now().Latest as a commit timestamp,
// then CommitWait for it before making the commit visible. It returns
// ctx.Err() if ctx ends first, and an error wrapping ErrUnsynchronized if
// the clock is or becomes Unsynchronized (it cannot vouch for any
// instant).
func (c *Clock) CommitWait(ctx context.Context, t time.Time) error {
	for {
		r := c.Now()
		if r.Status == Unsynchronized {
			return fmt.Errorf("%w: commit wait for %s: %v", ErrUnsynchronized, t.UTC().Format(time.RFC3339Nano), r)
		}
		if r.After(t) {
			return nil
		}
		// Earliest advances at (1 - drift) of the monotonic rate. Wake at
		// least every 100ms to notice the clock becoming unsynchronized.
		d := time.Duration(float64(t.Sub(r.Earliest))/(1-c.drift)) + time.Microsecond
		timer := time.NewTimer(min(d, 100*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// Close stops the synchronizing goroutine and waits for it (an NTP query
// in flight is abandoned). Readings go on from the last anchor and turn
// to Holdover, then Unsynchronized, as it ages. Close is idempotent and
// returns nil.
func (c *Clock) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.cancel != nil {
			c.cancel()
			<-c.done
		}
	})
	return nil
}
