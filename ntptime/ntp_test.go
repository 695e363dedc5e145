package ntptime

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/ntptest"
)

// shiftClock is the system clock plus an offset the test advances, on both
// readings at once: time "passes" without waiting. Fake servers add the
// same shift to the time they serve, so they stay consistent.
type shiftClock struct{ shift atomic.Int64 }

func (s *shiftClock) Wall() time.Time { return time.Now().Add(time.Duration(s.shift.Load())) }
func (s *shiftClock) Mono() time.Duration {
	return time.Since(origin) + time.Duration(s.shift.Load())
}
func (s *shiftClock) Advance(d time.Duration) { s.shift.Add(int64(d)) }
func (s *shiftClock) Shift() time.Duration    { return time.Duration(s.shift.Load()) }

func testEnv(t testing.TB, c LocalClock) Env {
	return Env{Clock: c, DriftPPM: DefaultDriftPPM, Logger: testLogger(t)}
}

// fakeNTP starts a FakeServer answering good replies (stratum 2, the
// clock's shift plus offset), or what override returns for request n.
func fakeNTP(t *testing.T, sc *shiftClock, offset time.Duration, override func(n int) (ntptest.Reply, bool)) *ntptest.FakeServer {
	return ntptest.Fake(t, func(n int) ntptest.Reply {
		if override != nil {
			if r, ok := override(n); ok {
				return r
			}
		}
		return ntptest.Reply{Stratum: 2, Offset: sc.Shift() + offset, RootDelay: 2 * time.Millisecond, RootDispersion: time.Millisecond}
	})
}

func newSource(t *testing.T, opts ...NTPOption) *NTPSource {
	t.Helper()
	s, err := NewNTP(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNTPBoundFromReply(t *testing.T) {
	sc := &shiftClock{}
	f := fakeNTP(t, sc, 3*time.Second, nil)
	src := newSource(t, WithServer(f.Addr), WithTimeout(time.Second))
	s, err := src.Sample(t.Context(), testEnv(t, sc))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := src.Servers()[0]
	// rootDelay/2 + rootDispersion = 2ms (rounded up to 16.16 fixed point),
	// plus half the round trip, the server's precision (2^-20 s) and the
	// drift over the exchange.
	if extra := s.Error - (2*time.Millisecond + st.Delay - st.Delay/2); extra < 0 || extra > 50*time.Microsecond {
		t.Fatalf("error bound %v with a %v round trip: %v beyond 2ms + rtt/2", s.Error, st.Delay, extra)
	}
	if got := s.Time.Add(time.Since(origin) - s.Mono).Sub(now.Add(3 * time.Second)); got < -s.Error || got > s.Error {
		t.Fatalf("sample off by %v, bound %v", got, s.Error)
	}
	if st.Reach != 1 || st.Samples != 1 || st.Delay <= 0 || st.Error > s.Error {
		t.Fatalf("server status %+v", st)
	}
	// The measured offset is the fake server's 3s to within the bound (a
	// loaded machine's slow round trip widens both).
	if d := st.Offset - 3*time.Second; d < -s.Error || d > s.Error {
		t.Fatalf("offset %v, want 3s within the bound %v", st.Offset, s.Error)
	}
}

func TestNTPKissOfDeath(t *testing.T) {
	for _, code := range []string{"DENY", "RSTR"} {
		t.Run(code+" drops the server", func(t *testing.T) {
			sc := &shiftClock{}
			env := testEnv(t, sc)
			bad := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Stratum: 0, Kiss: code}, true })
			src := newSource(t, WithServer(bad.Addr), WithTimeout(time.Second), WithPoll(time.Second, 4*time.Second))
			_, err := src.Sample(t.Context(), env)
			if !errors.Is(err, ErrNoServers) || !errors.Is(err, ErrKissOfDeath) || !strings.Contains(err.Error(), code) {
				t.Fatalf("Sample = %v, want ErrNoServers wrapping the kiss-of-death", err)
			}
			st := src.Servers()[0]
			if !errors.Is(st.Dropped, ErrKissOfDeath) {
				t.Fatalf("server not dropped: %+v", st)
			}
			if src.Next() != 4*time.Second {
				t.Fatalf("Next = %v with no server left, want the max poll", src.Next())
			}
			sc.Advance(time.Hour)
			src.Sample(t.Context(), env)
			if n := bad.Requests(); n != 1 {
				t.Fatalf("%d requests to a server that said %s", n, code)
			}
		})
	}
	t.Run("DENY from one of three", func(t *testing.T) {
		sc := &shiftClock{}
		env := testEnv(t, sc)
		a, b := fakeNTP(t, sc, time.Second, nil), fakeNTP(t, sc, time.Second, nil)
		bad := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Stratum: 0, Kiss: "DENY"}, true })
		src := newSource(t, WithServer(a.Addr, bad.Addr, b.Addr), WithTimeout(time.Second))
		s, err := src.Sample(t.Context(), env)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Time.Sub(env.Clock.Wall().Add(time.Second)); got < -s.Error-time.Millisecond || got > s.Error+time.Millisecond {
			t.Fatalf("sample %v off by %v", s, got)
		}
	})
	t.Run("RATE backs off", func(t *testing.T) {
		sc := &shiftClock{}
		env := testEnv(t, sc)
		var rate atomic.Bool
		f := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) {
			if rate.Load() {
				return ntptest.Reply{Stratum: 0, Kiss: "RATE"}, true
			}
			return ntptest.Reply{}, false
		})
		src := newSource(t, WithServer(f.Addr), WithTimeout(time.Second), WithPoll(64*time.Second, 1024*time.Second), WithBurst(4, 2*time.Second))
		if _, err := src.Sample(t.Context(), env); err != nil {
			t.Fatal(err)
		}
		if d := src.Next(); d > 2*time.Second || d < time.Second {
			t.Fatalf("Next in the burst = %v, want 2s", d)
		}
		rate.Store(true)
		sc.Advance(src.Next())
		_, err := src.Sample(t.Context(), env)
		if err != nil {
			t.Fatalf("Sample = %v: one RATE reply should leave the earlier sample in use", err)
		}
		st := src.Servers()[0]
		if !errors.Is(st.LastErr, ErrKissOfDeath) || st.Poll != 128*time.Second {
			t.Fatalf("after RATE: %+v, want poll doubled to 128s and the burst ended", st)
		}
		if d := src.Next(); d < 127*time.Second || d > 128*time.Second {
			t.Fatalf("Next after RATE = %v, want 128s", d)
		}
		// Nothing is sent before that.
		sc.Advance(100 * time.Second)
		src.Sample(t.Context(), env)
		if n := f.Requests(); n != 2 {
			t.Fatalf("%d requests, want 2 (no query before the back-off ends)", n)
		}
		sc.Advance(src.Next())
		src.Sample(t.Context(), env)
		if st := src.Servers()[0]; st.Poll != 256*time.Second || f.Requests() != 3 {
			t.Fatalf("after a second RATE: poll %v, %d requests", st.Poll, f.Requests())
		}
	})
	t.Run("unsynchronized server rejected", func(t *testing.T) {
		sc := &shiftClock{}
		f := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Stratum: 2, Leap: 3}, true })
		src := newSource(t, WithServer(f.Addr), WithTimeout(time.Second))
		if _, err := src.Sample(t.Context(), testEnv(t, sc)); !errors.Is(err, ErrNoSample) {
			t.Fatalf("Sample = %v, want ErrNoSample", err)
		}
	})
}

func TestNTPPollSchedule(t *testing.T) {
	sc := &shiftClock{}
	env := testEnv(t, sc)
	var drop atomic.Bool
	var jump atomic.Int64
	f := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) {
		if drop.Load() {
			return ntptest.Reply{Drop: true}, true
		}
		return ntptest.Reply{Stratum: 2, Offset: sc.Shift() + time.Duration(jump.Load())}, true
	})
	src := newSource(t, WithServer(f.Addr), WithTimeout(50*time.Millisecond), WithPoll(64*time.Second, 1024*time.Second), WithBurst(3, 2*time.Second))
	ctx := t.Context()
	step := func() time.Duration {
		t.Helper()
		if _, err := src.Sample(ctx, env); err != nil && !drop.Load() {
			t.Fatal(err)
		}
		next := src.Next()
		sc.Advance(next)
		return next
	}
	within := func(d, want time.Duration) bool { return d >= want*7/8-time.Millisecond && d <= want*9/8 }
	for i := range 2 {
		if d := step(); !within(d, 2*time.Second) || d > 2*time.Second {
			t.Fatalf("burst query %d: next in %v, want 2s", i+1, d)
		}
	}
	// After the burst: 64s, then doubling to 1024s, jittered ±12.5%.
	for _, want := range []time.Duration{64, 128, 256, 512, 1024, 1024} {
		if d := step(); !within(d, want*time.Second) {
			t.Fatalf("next in %v, want %vs ±12.5%%", d, want)
		}
	}
	// Lost replies do not make it poll faster (nor slower).
	drop.Store(true)
	for range 3 {
		if d := step(); !within(d, 1024*time.Second) {
			t.Fatalf("after a lost reply: next in %v, want 1024s", d)
		}
	}
	// A reply outside the server's last interval resets the poll.
	drop.Store(false)
	jump.Store(int64(time.Second))
	if d := step(); !within(d, 64*time.Second) {
		t.Fatalf("after the server jumped: next in %v, want 64s", d)
	}
	if n := f.Requests(); n != 2+6+3+1 {
		t.Fatalf("%d requests, want 12", n)
	}
}

func TestNTPFalsetickerAndMajority(t *testing.T) {
	sc := &shiftClock{}
	env := testEnv(t, sc)
	good1, good2 := fakeNTP(t, sc, 5*time.Second, nil), fakeNTP(t, sc, 5*time.Second, nil)
	bad := fakeNTP(t, sc, -time.Minute, nil)
	t.Run("two of three agree", func(t *testing.T) {
		src := newSource(t, WithServer(good1.Addr, bad.Addr, good2.Addr), WithTimeout(time.Second))
		s, err := src.Sample(t.Context(), env)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Time.Sub(env.Clock.Wall().Add(5 * time.Second)); got < -s.Error-time.Millisecond || got > s.Error+time.Millisecond {
			t.Fatalf("sample off by %v (bound %v)", got, s.Error)
		}
		st := src.Servers()
		if st[0].Falseticker || !st[1].Falseticker || st[2].Falseticker {
			t.Fatalf("falsetickers %v %v %v", st[0].Falseticker, st[1].Falseticker, st[2].Falseticker)
		}
	})
	t.Run("one against one", func(t *testing.T) {
		src := newSource(t, WithServer(good1.Addr, bad.Addr), WithTimeout(time.Second))
		if _, err := src.Sample(t.Context(), env); !errors.Is(err, ErrNoMajority) {
			t.Fatalf("Sample = %v, want ErrNoMajority", err)
		}
	})
	t.Run("one answering of three", func(t *testing.T) {
		silent1 := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Drop: true}, true })
		silent2 := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Drop: true}, true })
		src := newSource(t, WithServer(silent1.Addr, bad.Addr, silent2.Addr), WithTimeout(50*time.Millisecond))
		if _, err := src.Sample(t.Context(), env); !errors.Is(err, ErrNoMajority) {
			t.Fatalf("Sample = %v, want ErrNoMajority: a lone answer could be a falseticker", err)
		}
	})
}

func TestNTPCancel(t *testing.T) {
	sc := &shiftClock{}
	silent := fakeNTP(t, sc, 0, func(int) (ntptest.Reply, bool) { return ntptest.Reply{Drop: true}, true })
	src := newSource(t, WithServer(silent.Addr), WithTimeout(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := src.Sample(ctx, testEnv(t, sc)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sample = %v, want the context's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	// Close of a Clock abandons a query in flight.
	clk, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	start = time.Now()
	clk.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
}

func TestNewNTPValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []NTPOption
	}{
		{"no server", nil},
		{"empty server", []NTPOption{WithServer("")}},
		{"duplicate", []NTPOption{WithServer("127.0.0.1:1", "127.0.0.1:1")}},
		{"poll min > max", []NTPOption{WithServer("127.0.0.1:1"), WithPoll(2*time.Second, time.Second)}},
		{"zero poll", []NTPOption{WithServer("127.0.0.1:1"), WithPoll(0, time.Second)}},
		{"negative burst", []NTPOption{WithServer("127.0.0.1:1"), WithBurst(-1, time.Second)}},
		{"burst without interval", []NTPOption{WithServer("127.0.0.1:1"), WithBurst(2, 0)}},
		{"zero timeout", []NTPOption{WithServer("127.0.0.1:1"), WithTimeout(0)}},
		{"no samples kept", []NTPOption{WithServer("127.0.0.1:1"), WithSamplesKept(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewNTP(tc.opts...); err == nil {
				t.Fatal("NewNTP accepted invalid options")
			}
		})
	}
	if _, err := NewNTP(); !errors.Is(err, ErrNoServers) {
		t.Fatalf("NewNTP() = %v, want ErrNoServers", err)
	}
}

func TestServerAddressesNormalised(t *testing.T) {
	for _, tc := range []struct {
		servers []string
		ok      bool
	}{
		{[]string{"127.0.0.1", "127.0.0.1:123"}, false},
		{[]string{"127.0.0.1:11124", "127.0.0.1:011124"}, false},
		{[]string{"[::1]:123", "::1"}, false},
		{[]string{"Time.Example:123", "time.example"}, false},
		{[]string{"[::1"}, false},
		{[]string{"host:-5"}, false},
		{[]string{"host:abc"}, false},
		{[]string{"127.0.0.1:11121", "127.0.0.1:11122"}, true},
	} {
		_, err := NewNTP(WithServer(tc.servers...))
		if (err == nil) != tc.ok {
			t.Errorf("NewNTP(%q) = %v, want ok=%v", tc.servers, err, tc.ok)
		}
	}
}
