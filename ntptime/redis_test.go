package ntptime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestRedisSourceMeasuresRedisClock(t *testing.T) {
	m := miniredis.RunT(t)
	// miniredis serves a frozen clock when set: 42s ahead of ours.
	frozen := time.Now().Add(42 * time.Second).Truncate(time.Microsecond)
	m.SetTime(frozen)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	src, err := NewRedis(c, WithRedisRounds(5))
	if err != nil {
		t.Fatal(err)
	}
	s, err := src.Sample(t.Context(), testEnv(t, SystemClock()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Time.Add(-s.Error).After(frozen) || s.Time.Add(s.Error).Before(frozen) {
		t.Fatalf("sample %v ± %v does not contain Redis's clock %v", s.Time, s.Error, frozen)
	}
	if s.Error <= 0 || s.Error > 50*time.Millisecond {
		t.Fatalf("bound %v for a loopback round trip", s.Error)
	}
}

func TestRedisSourceRealServer(t *testing.T) {
	n := redistest.Standalone(t)
	src, err := NewRedis(n.Client(), WithRedisPoll(20*time.Millisecond), WithRedisError(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	clk, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clk.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := clk.WaitSynchronized(ctx); err != nil {
		t.Fatal(err)
	}
	// Redis runs on this machine: its clock is ours.
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		w1 := time.Now()
		r := clk.Now()
		w2 := time.Now()
		if r.Status != Synchronized || r.Earliest.After(w2) || r.Latest.Before(w1) {
			t.Fatalf("reading %v does not contain the local clock %v", r, w1)
		}
		if r.Bound() < time.Millisecond {
			t.Fatalf("bound %v lacks the assumed 1ms", r.Bound())
		}
	}
	// The server stops answering: holdover, then back.
	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for clk.Now().Status != Holdover {
		if time.Now().After(deadline) {
			t.Fatalf("no holdover with Redis paused: %v", clk.Now())
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.Resume()
	for clk.Now().Status != Synchronized {
		if time.Now().After(deadline) {
			t.Fatalf("not synchronized after Redis resumed: %v", clk.Now())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisSourceErrors(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	src, err := NewRedis(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := src.Sample(t.Context(), testEnv(t, SystemClock())); !errors.Is(err, ErrNoSample) || !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("Sample on a closed client = %v", err)
	}
	c2 := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c2.Close() })
	src2, _ := NewRedis(c2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := src2.Sample(ctx, testEnv(t, SystemClock())); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled Sample = %v", err)
	}
	for _, tc := range []struct {
		name string
		opt  RedisOption
	}{
		{"zero poll", WithRedisPoll(0)},
		{"zero rounds", WithRedisRounds(0)},
		{"negative error", WithRedisError(-1)},
	} {
		if _, err := NewRedis(c2, tc.opt); err == nil {
			t.Errorf("%s: NewRedis accepted it", tc.name)
		}
	}
	if _, err := NewRedis(nil); err == nil {
		t.Error("NewRedis accepted a nil client")
	}
	if src2.Next() != DefaultRedisPoll {
		t.Errorf("Next = %v", src2.Next())
	}
}

func TestLocalSource(t *testing.T) {
	if _, err := NewLocal(-time.Second); err == nil {
		t.Fatal("NewLocal accepted a negative bound")
	}
	src, err := NewLocal(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	w1 := time.Now()
	r := src.Now()
	w2 := time.Now()
	if r.Status != Synchronized || r.Bound() != 5*time.Millisecond || r.Earliest.After(w2) || r.Latest.Before(w1) {
		t.Fatalf("reading %v", r)
	}
	fc := newFakeClock()
	s, _ := src.Sample(t.Context(), Env{Clock: fc})
	if s.Mono != fc.Mono() || !s.Time.Equal(fc.Wall()) || s.Error != 5*time.Millisecond || src.Next() != LocalPoll {
		t.Fatalf("sample %+v", s)
	}
	// A Clock over the local source follows a step of the system clock at
	// its next synchronization, not before.
	c, err := newClock(src, WithLocalClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	c.Sync(t.Context())
	fc.Step(time.Minute)
	if r := c.Now(); r.Contains(fc.Wall()) {
		t.Fatalf("reading %v followed the step before the next sync", r)
	}
	c.Sync(t.Context())
	if r := c.Now(); !r.Contains(fc.Wall()) || r.Bound() != 5*time.Millisecond {
		t.Fatalf("reading %v after the next sync", r)
	}
}
