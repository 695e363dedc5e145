package ntptime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }

// fakeClock is a LocalClock whose wall and monotonic readings the test
// moves by hand, together (Advance) or the wall alone (Step).
type fakeClock struct {
	mu   stdsync.Mutex
	wall time.Time
	mono time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{wall: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), mono: time.Hour}
}

func (f *fakeClock) Wall() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wall
}

func (f *fakeClock) Mono() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

// Advance lets d pass on both clocks.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall = f.wall.Add(d)
	f.mono += d
}

// Step moves the system clock alone, as an administrator or a daemon
// stepping it would.
func (f *fakeClock) Step(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall = f.wall.Add(d)
}

// scriptSource returns what the test sets: a sample taken "now" with a
// given true time and error, or an error.
type scriptSource struct {
	mu    stdsync.Mutex
	truth func() time.Time // true time now
	err   time.Duration
	fail  error
	next  time.Duration
	calls int
}

func (s *scriptSource) Sample(_ context.Context, env Env) (Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		return Sample{}, s.fail
	}
	return Sample{Mono: env.Clock.Mono(), Time: s.truth(), Error: s.err}, nil
}

func (s *scriptSource) Next() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

func (s *scriptSource) set(f func(*scriptSource)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// testSetup returns a Clock without its goroutine over a scriptSource whose
// true time is the fake wall clock plus offset.
func testSetup(t *testing.T, offset time.Duration, opts ...Option) (*Clock, *fakeClock, *scriptSource) {
	t.Helper()
	fc := newFakeClock()
	truth := fc.wall.Add(offset)
	start := fc.Mono()
	src := &scriptSource{
		truth: func() time.Time { return truth.Add(fc.Mono() - start) },
		err:   time.Millisecond,
		next:  time.Minute,
	}
	opts = append([]Option{WithLocalClock(fc)}, opts...)
	c, err := newClock(src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, fc, src
}

func TestUnsynchronizedBeforeFirstSync(t *testing.T) {
	c, fc, _ := testSetup(t, 0)
	r := c.Now()
	if r.Status != Unsynchronized {
		t.Fatalf("status %v, want unsynchronized", r.Status)
	}
	if !r.Earliest.IsZero() || !r.Latest.Equal(maxTime) {
		t.Fatalf("interval [%v, %v], want unbounded", r.Earliest, r.Latest)
	}
	if !r.Best.Equal(fc.Wall()) {
		t.Fatalf("best %v, want the local clock %v", r.Best, fc.Wall())
	}
	past, future := fc.Wall().Add(-time.Hour), fc.Wall().Add(time.Hour)
	if r.After(past) || r.Before(future) {
		t.Fatal("an unbounded reading vouches for nothing")
	}
	if r.Bound() <= 0 {
		t.Fatalf("bound %v", r.Bound())
	}
	if err := c.CommitWait(t.Context(), past); !errors.Is(err, ErrUnsynchronized) {
		t.Fatalf("CommitWait = %v, want ErrUnsynchronized", err)
	}
}

func TestBoundGrowsWithDrift(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ppm      float64
		elapsed  time.Duration
		wantGrow time.Duration
	}{
		{"default 50ppm over 10s", DefaultDriftPPM, 10 * time.Second, 500 * time.Microsecond},
		{"15ppm over 1000s", 15, 1000 * time.Second, 15 * time.Millisecond},
		{"no drift", 0, time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fc, _ := testSetup(t, 3*time.Second, WithDriftPPM(tc.ppm), WithMaxError(time.Hour))
			if err := c.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			truth0 := fc.Wall().Add(3 * time.Second)
			r0 := c.Now()
			if r0.Bound() != time.Millisecond || !r0.Best.Equal(truth0) || r0.Status != Synchronized {
				t.Fatalf("right after sync: %v, want %v ± 1ms synchronized", r0, truth0)
			}
			fc.Advance(tc.elapsed)
			r := c.Now()
			if got := r.Bound() - time.Millisecond; got < tc.wantGrow || got > tc.wantGrow+time.Nanosecond {
				t.Fatalf("bound grew by %v over %v, want %v", got, tc.elapsed, tc.wantGrow)
			}
			if !r.Best.Equal(truth0.Add(tc.elapsed)) {
				t.Fatalf("best %v, want %v", r.Best, truth0.Add(tc.elapsed))
			}
			if !r.Contains(fc.Wall().Add(3 * time.Second)) {
				t.Fatalf("%v does not contain the true time", r)
			}
		})
	}
}

func TestSystemClockStepDoesNotMoveReadings(t *testing.T) {
	c, fc, _ := testSetup(t, 0)
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Second)
	before := c.Now()
	for _, step := range []time.Duration{time.Hour, -3 * time.Hour, 500 * time.Millisecond} {
		fc.Step(step)
		if r := c.Now(); r != before {
			t.Fatalf("after stepping the system clock by %v: %v, want %v", step, r, before)
		}
	}
}

func TestStatusHoldoverAndUnsynchronized(t *testing.T) {
	// 1ms at sync, 50ppm: the 10ms tolerance is passed after 180s.
	c, fc, src := testSetup(t, 0, WithMaxError(10*time.Millisecond))
	ctx := t.Context()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s := c.Now().Status; s != Synchronized {
		t.Fatalf("status %v, want synchronized", s)
	}
	src.set(func(s *scriptSource) { s.fail = errors.New("server down") })
	fc.Advance(time.Minute)
	if err := c.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded with a failing source")
	}
	r := c.Now()
	if r.Status != Holdover {
		t.Fatalf("status %v after a failed sync, want holdover", r.Status)
	}
	if want := time.Millisecond + 3*time.Millisecond; r.Bound() < want {
		t.Fatalf("bound %v in holdover, want >= %v", r.Bound(), want)
	}
	fc.Advance(119 * time.Second) // 180s since the sync: bound 10ms
	if s := c.Now().Status; s != Holdover {
		t.Fatalf("status %v at the tolerance, want holdover", s)
	}
	fc.Advance(time.Second)
	r = c.Now()
	if r.Status != Unsynchronized {
		t.Fatalf("status %v with bound %v past the 10ms tolerance, want unsynchronized", r.Status, r.Bound())
	}
	if !r.Contains(fc.Wall()) {
		t.Fatalf("%v lost the true time", r)
	}
	// Recovery.
	src.set(func(s *scriptSource) { s.fail = nil })
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := c.Now(); r.Status != Synchronized || r.Bound() != time.Millisecond {
		t.Fatalf("after recovery %v, want synchronized ± 1ms", r)
	}
}

func TestStatusStaleWithoutSync(t *testing.T) {
	c, fc, _ := testSetup(t, 0, WithMaxError(time.Hour))
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Next is 1 minute: synchronized until 2 minutes + 1s have passed.
	fc.Advance(2*time.Minute + time.Second)
	if s := c.Now().Status; s != Synchronized {
		t.Fatalf("status %v at the freshness limit, want synchronized", s)
	}
	fc.Advance(time.Millisecond)
	if s := c.Now().Status; s != Holdover {
		t.Fatalf("status %v with an overdue sync, want holdover", s)
	}
}

func TestCanceledSyncKeepsStatus(t *testing.T) {
	c, _, src := testSetup(t, 0)
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	src.set(func(s *scriptSource) { s.fail = ctx.Err() })
	if err := c.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync = %v, want context.Canceled", err)
	}
	if s := c.Now().Status; s != Synchronized {
		t.Fatalf("status %v after a canceled sync, want synchronized", s)
	}
}

func TestSyncIntersectsWithHeldInterval(t *testing.T) {
	c, fc, src := testSetup(t, 0, WithDriftPPM(0))
	ctx := t.Context()
	truth := func() time.Time { return fc.Wall() }
	// First sample: truth ± 10ms, centred 4ms late.
	src.set(func(s *scriptSource) {
		s.truth = func() time.Time { return truth().Add(4 * time.Millisecond) }
		s.err = 10 * time.Millisecond
	})
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Second: truth ± 10ms, centred 4ms early. Intersection: [-6ms, +6ms].
	src.set(func(s *scriptSource) {
		s.truth = func() time.Time { return truth().Add(-4 * time.Millisecond) }
	})
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	r := c.Now()
	if r.Bound() != 6*time.Millisecond || !r.Best.Equal(truth()) {
		t.Fatalf("after two overlapping samples: %v, want %v ± 6ms", r, truth())
	}
	// A disjoint sample (the held interval was wrong): taken alone.
	src.set(func(s *scriptSource) {
		s.truth = func() time.Time { return truth().Add(time.Second) }
		s.err = time.Millisecond
	})
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if r := c.Now(); r.Bound() != time.Millisecond || !r.Best.Equal(truth().Add(time.Second)) {
		t.Fatalf("after a disjoint sample: %v", r)
	}
}

func TestEarliestNeverDecreases(t *testing.T) {
	c, fc, src := testSetup(t, 0)
	ctx := t.Context()
	var last time.Time
	// Samples with varying error around the truth.
	for i := range 200 {
		e := time.Duration(1+(i*7919)%13) * time.Millisecond
		skew := time.Duration((i*104729)%(2*int(e))-int(e)) / 2
		src.set(func(s *scriptSource) {
			s.err = e
			s.truth = func() time.Time { return fc.Wall().Add(skew) }
		})
		if err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		r := c.Now()
		if r.Earliest.Before(last) {
			t.Fatalf("sync %d: earliest went back from %v to %v", i, last, r.Earliest)
		}
		if !r.Contains(fc.Wall()) {
			t.Fatalf("sync %d: %v lost the truth %v", i, r, fc.Wall())
		}
		last = r.Earliest
		fc.Advance(time.Duration(i%5) * time.Second)
	}
}

func TestBadSamplesRejected(t *testing.T) {
	fc := newFakeClock()
	for _, tc := range []struct {
		name string
		s    Sample
	}{
		{"negative error", Sample{Mono: fc.Mono(), Time: fc.Wall(), Error: -1}},
		{"future instant", Sample{Mono: fc.Mono() + time.Second, Time: fc.Wall()}},
		{"zero time", Sample{Mono: fc.Mono()}},
		{"huge error", Sample{Mono: fc.Mono(), Time: fc.Wall(), Error: 1 << 62}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &fixedSource{s: tc.s}
			c, err := newClock(src, WithLocalClock(fc))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Sync(t.Context()); !errors.Is(err, ErrBadSample) {
				t.Fatalf("Sync = %v, want ErrBadSample", err)
			}
			if s := c.Now().Status; s != Unsynchronized {
				t.Fatalf("status %v", s)
			}
		})
	}
}

type fixedSource struct{ s Sample }

func (f *fixedSource) Sample(context.Context, Env) (Sample, error) { return f.s, nil }
func (f *fixedSource) Next() time.Duration                         { return time.Hour }

func TestNewValidatesOptions(t *testing.T) {
	src := &fixedSource{}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"negative drift", []Option{WithDriftPPM(-1)}},
		{"absurd drift", []Option{WithDriftPPM(1e6)}},
		{"zero tolerance", []Option{WithMaxError(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(src, tc.opts...); err == nil {
				t.Fatal("New accepted invalid options")
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Fatal("New accepted a nil source")
	}
}

func TestNowDoesNotAllocate(t *testing.T) {
	c, _, _ := testSetup(t, 0)
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = c.Now() }); n != 0 {
		t.Fatalf("Now allocates %v times per call", n)
	}
}

func TestClockLifecycle(t *testing.T) {
	src, err := NewLocal(2 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	c, err := New(src, WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.WaitSynchronized(ctx); err != nil {
		t.Fatal(err)
	}
	w1 := time.Now()
	r := c.Now()
	w2 := time.Now()
	if r.Status != Synchronized || r.Bound() < 2*time.Millisecond || r.Earliest.After(w2) || r.Latest.Before(w1) {
		t.Fatalf("reading %v", r)
	}
	// Commit wait: the interval is ~4ms wide, so it waits ~4ms.
	ts := r.Latest
	start := time.Now()
	if err := c.CommitWait(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if !c.Now().After(ts) {
		t.Fatal("CommitWait returned before the timestamp was surely past")
	}
	if waited := time.Since(start); waited < 3*time.Millisecond {
		t.Fatalf("commit wait took %v, want about the interval width", waited)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.CommitWait(cctx, time.Now().Add(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled CommitWait = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := c.Sync(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close = %v", err)
	}
	w1 = time.Now()
	r = c.Now()
	w2 = time.Now()
	if r.Earliest.After(w2) || r.Latest.Before(w1) {
		t.Fatalf("reading after Close %v", r)
	}
}

func TestWaitSynchronizedEnds(t *testing.T) {
	src := &scriptSource{fail: errors.New("never"), next: time.Hour}
	c, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := c.WaitSynchronized(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynchronized = %v, want deadline exceeded", err)
	}
	c.Close()
	if err := c.WaitSynchronized(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSynchronized after Close = %v, want ErrClosed", err)
	}
}

func TestReadingHelpers(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := Reading{Earliest: base, Latest: base.Add(10 * time.Millisecond), Best: base.Add(5 * time.Millisecond), Status: Synchronized}
	for _, tc := range []struct {
		name                    string
		t                       time.Time
		after, before, contains bool
	}{
		{"long past", base.Add(-time.Second), true, false, false},
		{"earliest", base, false, false, true},
		{"inside", base.Add(3 * time.Millisecond), false, false, true},
		{"latest", base.Add(10 * time.Millisecond), false, false, true},
		{"future", base.Add(11 * time.Millisecond), false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r.After(tc.t) != tc.after || r.Before(tc.t) != tc.before || r.Contains(tc.t) != tc.contains {
				t.Fatalf("After/Before/Contains = %v/%v/%v, want %v/%v/%v",
					r.After(tc.t), r.Before(tc.t), r.Contains(tc.t), tc.after, tc.before, tc.contains)
			}
		})
	}
	if r.Bound() != 5*time.Millisecond {
		t.Fatalf("Bound = %v", r.Bound())
	}
	if got := r.String(); got != "2025-01-01T00:00:00.005Z ± 5ms (synchronized)" {
		t.Fatalf("String = %q", got)
	}
	for s, want := range map[Status]string{Unsynchronized: "unsynchronized", Holdover: "holdover", Synchronized: "synchronized", 7: "Status(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q", s, s.String())
		}
	}
}
