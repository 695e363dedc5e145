package redistask

import (
	"context"
	"errors"
	"fmt"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// A consumer that read tasks and died (never acknowledged) leaves them
// pending; a live worker reclaims them after the visibility timeout.
func TestReclaimFromDeadConsumer(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			k, _ := newQueueKeys(p.keys, "q")
			for i := range 5 {
				p.Push(ctx, "q", Task{Name: "job", Payload: []byte(fmt.Sprint(i))})
			}
			ensureGroup(ctx, c, k.stream)
			got, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "dead", Streams: []string{k.stream, ">"}, Count: 5}).Result()
			if err != nil || len(got[0].Messages) != 5 {
				t.Fatalf("fake consumer read %v %v", got, err)
			}
			w := newWorker(t, c, "q", WithVisibilityTimeout(200*time.Millisecond))
			var mu stdsync.Mutex
			ran := map[string]int{}
			w.Handle("job", func(_ context.Context, tk *Task) error {
				mu.Lock()
				ran[string(tk.Payload)] = tk.Attempt
				mu.Unlock()
				return nil
			})
			runWorker(t, w)
			waitFor(t, 10*time.Second, "reclaimed tasks", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(ran) == 5
			})
			for p, a := range ran {
				if a != 1 {
					t.Errorf("task %s ran as attempt %d, want 1 (attempts count handler runs that ended, not deliveries)", p, a)
				}
			}
			waitFor(t, 5*time.Second, "nothing pending", func() bool {
				pe, err := c.XPending(ctx, k.stream, group).Result()
				return err == nil && pe.Count == 0
			})
		})
	}
}

// A long handler heartbeats: its task is not reclaimed by another worker
// while it runs, though it runs for several visibility timeouts.
func TestHeartbeatPreventsReclaim(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			var runs atomic.Int32
			handler := func(ctx context.Context, _ *Task) error {
				runs.Add(1)
				select {
				case <-time.After(1200 * time.Millisecond): // 4 visibility timeouts
				case <-ctx.Done():
				}
				return nil
			}
			w1 := newWorker(t, c, "q", WithVisibilityTimeout(300*time.Millisecond), WithConsumer("w1"))
			w1.Handle("long", handler)
			runWorker(t, w1)
			p.Push(ctx, "q", Task{Name: "long"})
			waitFor(t, 5*time.Second, "first run", func() bool { return runs.Load() == 1 })
			w2 := newWorker(t, c, "q", WithVisibilityTimeout(300*time.Millisecond), WithConsumer("w2"))
			w2.Handle("long", handler)
			runWorker(t, w2)
			time.Sleep(1500 * time.Millisecond)
			if n := runs.Load(); n != 1 {
				t.Fatalf("a heartbeated task ran %d times", n)
			}
		})
	}
}

// Graceful shutdown: handlers that finish within the deadline are
// acknowledged; one that does not is interrupted, left pending, and run to
// completion by another worker.
func TestGracefulShutdown(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	k, _ := newQueueKeys(p.keys, "q")
	w := newWorker(t, c, "q", WithShutdownTimeout(300*time.Millisecond), WithVisibilityTimeout(200*time.Millisecond))
	started := make(chan string, 2)
	var quickDone, slowInterrupted atomic.Bool
	w.Handle("quick", func(ctx context.Context, _ *Task) error {
		started <- "quick"
		time.Sleep(100 * time.Millisecond)
		quickDone.Store(true)
		return nil
	})
	w.Handle("slow", func(ctx context.Context, _ *Task) error {
		started <- "slow"
		<-ctx.Done() // only shutdown ends it
		slowInterrupted.Store(true)
		return ctx.Err()
	})
	stop := runWorker(t, w)
	p.Push(ctx, "q", Task{Name: "quick"})
	p.Push(ctx, "q", Task{Name: "slow"})
	<-started
	<-started
	stop()
	if !quickDone.Load() || !slowInterrupted.Load() {
		t.Fatalf("quick done %v, slow interrupted %v", quickDone.Load(), slowInterrupted.Load())
	}
	pe, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k.stream, Group: group, Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(pe) != 1 {
		t.Fatalf("pending after shutdown: %v %v; want the slow task alone", pe, err)
	}
	if r, _ := c.ZCard(ctx, k.retry).Result(); r != 0 {
		t.Fatalf("an interrupted task was scheduled for retry")
	}
	// Another worker finishes it.
	var finished atomic.Bool
	w2 := newWorker(t, c, "q", WithVisibilityTimeout(200*time.Millisecond))
	w2.Handle("slow", func(context.Context, *Task) error { finished.Store(true); return nil })
	w2.Handle("quick", func(context.Context, *Task) error { t.Error("quick ran twice"); return nil })
	runWorker(t, w2)
	waitFor(t, 10*time.Second, "slow task finished elsewhere", finished.Load)
}

func TestHandlerContextCarriesTimeout(t *testing.T) {
	ctx := t.Context()
	c := miniBackend.client(t)
	p := newProducer(t, c)
	w := newWorker(t, c, "q")
	got := make(chan time.Duration, 1)
	w.Handle("t", func(ctx context.Context, _ *Task) error {
		d, ok := ctx.Deadline()
		if !ok {
			got <- -1
			return nil
		}
		got <- time.Until(d)
		return nil
	})
	runWorker(t, w)
	p.Push(ctx, "q", Task{Name: "t", Timeout: 5 * time.Second})
	if d := <-got; d <= 0 || d > 5*time.Second {
		t.Fatalf("handler deadline in %v, want within 5s", d)
	}
}

func TestPeriodicOncePerTick(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			c := b.client(t)
			ctx, cancel := context.WithCancel(t.Context())
			var wg stdsync.WaitGroup
			for range 2 { // two replicas
				s, err := NewScheduler(c, "q", WithSchedulerPrefix(prefix(t)))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Add("heartbeat", "@every 100ms", Task{Name: "beat"}); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() { defer wg.Done(); s.Run(ctx) }()
			}
			time.Sleep(1050 * time.Millisecond)
			cancel()
			wg.Wait()
			k, _ := newQueueKeys(keysFor(t), "q")
			ms, err := c.XRange(t.Context(), k.stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			ticks := map[int64]int{}
			for _, m := range ms {
				tk, err := decode(m.Values["t"].(string))
				if err != nil {
					t.Fatal(err)
				}
				ticks[tk.EnqueuedAt.UnixMilli()]++
			}
			for at, n := range ticks {
				if n != 1 {
					t.Errorf("tick %d enqueued %d times", at, n)
				}
				if at%100 != 0 {
					t.Errorf("tick %d not aligned to the schedule", at)
				}
			}
			if len(ticks) < 8 || len(ticks) > 11 {
				t.Errorf("%d ticks in ~1s of @every 100ms", len(ticks))
			}
		})
	}
}

func TestCronSchedule(t *testing.T) {
	base := time.Date(2026, 11, 23, 10, 17, 30, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		want time.Time
	}{
		{"* * * * *", time.Date(2026, 11, 23, 10, 18, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)},
		{"0 9 * * 1-5", time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)},
		{"30 * * * * *", time.Date(2026, 11, 23, 10, 18, 30, 0, time.UTC)},
		{"@daily", time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 1 *", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 * * 7", time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}, // Sunday
		{"@every 1h", time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)},
	} {
		s, err := ParseSchedule(tc.spec)
		if err != nil {
			t.Fatalf("%q: %v", tc.spec, err)
		}
		if got := s.Next(base); !got.Equal(tc.want) {
			t.Errorf("%q: Next = %v, want %v", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"", "* * *", "60 * * * *", "*/0 * * * *", "@every x", "5-1 * * * *", "a * * * *"} {
		if _, err := ParseSchedule(bad); !errors.Is(err, ErrBadOption) {
			t.Errorf("ParseSchedule(%q) = %v", bad, err)
		}
	}
}

func TestRunCommand(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, clusterBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			var calls atomic.Int32
			for range 2 { // two workers share the runs
				w := newWorker(t, c, "cmds")
				w.HandleCommand("ok", func(context.Context) error { calls.Add(1); return nil })
				w.HandleCommand("fails", func(context.Context) error { return errors.New("disk full") })
				w.HandleCommand("panics", func(context.Context) error { panic("oops") })
				runWorker(t, w)
			}
			if err := p.RunCommand(ctx, "cmds", "ok", 10, 10*time.Second); err != nil {
				t.Fatalf("RunCommand ok = %v", err)
			}
			if calls.Load() != 10 {
				t.Fatalf("%d calls, want 10", calls.Load())
			}
			err := p.RunCommand(ctx, "cmds", "fails", 3, 10*time.Second)
			if err == nil || !contains(err.Error(), "run 0: disk full") || !contains(err.Error(), "run 2: disk full") {
				t.Fatalf("RunCommand fails = %v, want every run's error", err)
			}
			if err := p.RunCommand(ctx, "cmds", "panics", 1, 10*time.Second); err == nil || !contains(err.Error(), "panic: oops") {
				t.Fatalf("RunCommand panics = %v", err)
			}
			// Nobody handles it: a timeout naming the missing runs, not a hang.
			err = p.RunCommand(ctx, "cmds-nobody", "ok", 2, 300*time.Millisecond)
			if !errors.Is(err, ErrTimeout) || !contains(err.Error(), "runs 0,1") {
				t.Fatalf("RunCommand without workers = %v", err)
			}
			// Concurrent runs do not count each other's replies.
			var wg stdsync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.RunCommand(ctx, "cmds", "ok", 5, 10*time.Second); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if calls.Load() != 30 {
				t.Fatalf("%d calls after 4 concurrent runs of 5, want 30", calls.Load())
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestInspectorAdmin(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	in, _ := NewInspector(c, WithInspectorPrefix(prefix(t)))
	w := newWorker(t, c, "q", WithConsumer("w1"))
	var fail atomic.Bool
	fail.Store(true)
	var ok atomic.Int32
	w.Handle("x", func(context.Context, *Task) error {
		if fail.Load() {
			return errors.New("nope")
		}
		ok.Add(1)
		return nil
	})
	stop := runWorker(t, w)
	p.Push(ctx, "q", Task{Name: "x", MaxAttempts: 1})
	p.Push(ctx, "q", Task{Name: "x", MaxAttempts: 1})
	waitFor(t, 10*time.Second, "2 dead", func() bool { d, _ := in.Dead(ctx, "q", 10); return len(d) == 2 })
	dead, _ := in.Dead(ctx, "q", 10)
	fail.Store(false)
	if _, err := in.RequeueDead(ctx, "q", dead[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "requeued task ran", func() bool { return ok.Load() == 1 })
	if n, err := in.DeleteDead(ctx, "q", dead[1].ID); n != 1 || err != nil {
		t.Fatalf("DeleteDead = %d %v", n, err)
	}
	if _, err := in.RequeueDead(ctx, "q", dead[1].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("requeue of a deleted dead task = %v", err)
	}
	st, err := in.Stats(ctx, "q")
	if err != nil || st.Dead != 0 || st.Length != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	stop()
	// A consumer with pending work is never removed; an idle empty one is.
	k, _ := newQueueKeys(p.keys, "q")
	p.Push(ctx, "q", Task{Name: "x"})
	c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "busy", Streams: []string{k.stream, ">"}, Count: 1})
	time.Sleep(20 * time.Millisecond)
	removed, err := in.RemoveIdleConsumers(ctx, "q", 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != "w1" {
		t.Fatalf("removed %v, want [w1] (busy has a pending task)", removed)
	}
	st, _ = in.Stats(ctx, "q")
	if st.InFlight["busy"] != 1 || st.Pending != 1 || st.OldestAge <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A task delivered far more often than MaxAttempts allows (it keeps
// killing its workers) is dead-lettered instead of reclaimed forever.
func TestCrashLoopGuard(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	k, _ := newQueueKeys(p.keys, "q")
	id, err := p.Push(ctx, "q", Task{Name: "poison", MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ensureGroup(ctx, c, k.stream)
	c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "dead", Streams: []string{k.stream, ">"}, Count: 1})
	// As if it had been delivered to dying workers ten times.
	if err := c.Do(ctx, "XCLAIM", k.stream, group, "dead", 0, id, "RETRYCOUNT", 10).Err(); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, c, "q", WithVisibilityTimeout(100*time.Millisecond))
	w.Handle("poison", func(context.Context, *Task) error { t.Error("a crash-looping task ran again"); return nil })
	runWorker(t, w)
	in, _ := NewInspector(c, WithInspectorPrefix(prefix(t)))
	waitFor(t, 10*time.Second, "dead-lettered", func() bool {
		d, _ := in.Dead(ctx, "q", 10)
		return len(d) == 1 && d[0].Reason == "reclaimed"
	})
}

// A run that a worker dead-letters reports at once: the caller learns why
// instead of waiting out its timeout.
func TestRunCommandDeadLettered(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			in, _ := NewInspector(c, WithInspectorPrefix(prefix(t)))
			w := newWorker(t, c, "cmds")
			w.HandleCommand("known", func(context.Context) error { return nil })
			runWorker(t, w)

			err := p.RunCommand(ctx, "cmds", "ghost", 2, time.Minute)
			if !errors.Is(err, ErrDeadLettered) || errors.Is(err, ErrTimeout) {
				t.Fatalf("RunCommand of a name no worker handles = %v, want ErrDeadLettered and no timeout", err)
			}
			for _, want := range []string{"run 0: unknown-name", "run 1: unknown-name", `no handler registered for "ghost"`} {
				if !contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			dead, err := in.Dead(ctx, "cmds", 10)
			if err != nil || len(dead) != 2 || dead[0].Reason != "unknown-name" {
				t.Fatalf("dead letters = %+v, %v; want both runs, unknown-name", dead, err)
			}
			// The caller cleans its marker and reply list up.
			admin := redistest.Admin(t, c)
			k, _ := newQueueKeys(keysFor(t), "cmds")
			run, _, _ := commandRun(dead[0].Task.Payload)
			if n := admin.Exists(ctx, k.waiting(run), k.reply(run)).Val(); n != 0 {
				t.Errorf("%d of the run's keys left behind", n)
			}

			// A plain task that only looks like a command run, with no caller
			// waiting: dead-lettered as before, and no reply list appears.
			fake := strings.Repeat("ab", runIDLen/2)
			if _, err := p.Push(ctx, "cmds", Task{Name: "ghost", Payload: []byte(fake + "/0")}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the look-alike dead-lettered", func() bool {
				d, _ := in.Dead(ctx, "cmds", 10)
				return len(d) == 3
			})
			if n := admin.Exists(ctx, k.reply(fake)).Val(); n != 0 {
				t.Errorf("a report was pushed for a run nobody waits for")
			}

			// A known command still runs and reports as before.
			if err := p.RunCommand(ctx, "cmds", "known", 2, time.Minute); err != nil {
				t.Fatalf("RunCommand known = %v", err)
			}
		})
	}
}

// A command run delivered too often (it keeps killing its workers) is
// dead-lettered as "reclaimed", and its caller hears of it.
func TestRunCommandReclaimedReports(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	w := newWorker(t, c, "crashy", WithConsumer("c1"))
	w.HandleCommand("boom", func(context.Context) error {
		t.Error("a run past its delivery limit was executed")
		return nil
	})
	k, _ := newQueueKeys(keysFor(t), "crashy")
	admin := redistest.Admin(t, c)
	if err := admin.XGroupCreateMkStream(ctx, k.stream, group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.RunCommand(ctx, "crashy", "boom", 1, time.Minute) }()
	var m redis.XMessage
	waitFor(t, 10*time.Second, "the run pushed", func() bool {
		res, err := admin.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c1", Streams: []string{k.stream, ">"}, Count: 1, Block: -1}).Result()
		if err != nil || len(res) == 0 || len(res[0].Messages) == 0 {
			return false
		}
		m = res[0].Messages[0]
		return true
	})
	// As if this were its tenth delivery: the limit for MaxAttempts 3 is 9.
	w.process(m, 10)
	select {
	case err := <-done:
		if !errors.Is(err, ErrDeadLettered) || !contains(err.Error(), "run 0: reclaimed: delivered 10 times") {
			t.Fatalf("RunCommand = %v, want the reclaimed run reported", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunCommand did not hear of its dead-lettered run")
	}
}

// Concurrent RunCommand calls on one queue wait on one connection: 40
// calls on a client of 4 connections, shared with the worker that runs
// them. When each call waited in a BLPOP of its own they took every
// connection of the pool, and the worker's turns came seconds apart (42 of
// 50 calls timed out in a review).
func TestRunCommandSharesOneConnection(t *testing.T) {
	ctx := t.Context()
	const calls, pool = 40, 4
	c := redistest.Standalone(t).Client(func(o *redis.Options) { o.PoolSize = pool; o.PoolTimeout = 30 * time.Second })
	admin := redistest.Admin(t, c)
	p := newProducer(t, c)
	errs := make(chan error, calls)
	for range calls {
		go func() { errs <- p.RunCommand(ctx, "shared", "ok", 1, time.Minute) }()
	}
	k, _ := newQueueKeys(p.keys, "shared")
	waitFor(t, 10*time.Second, "every call's run pushed", func() bool { return admin.XLen(ctx, k.stream).Val() == calls })
	// Every call is waiting: one connection in use (the listener's BLPOP),
	// once the last pushes' replies are read.
	inUse := func() int { st := c.PoolStats(); return int(st.TotalConns - st.IdleConns) }
	waitFor(t, 5*time.Second, "the calls to wait on one connection", func() bool { return inUse() <= 1 })
	for range 10 {
		if st := c.PoolStats(); st.TotalConns-st.IdleConns > 1 {
			t.Fatalf("%d calls waiting hold %d connections, want 1 (pool %+v)", calls, st.TotalConns-st.IdleConns, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := newWorker(t, c, "shared")
	w.HandleCommand("ok", func(context.Context) error { return nil })
	runWorker(t, w)
	for range calls {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("RunCommand = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("RunCommand calls still waiting after 30s")
		}
	}
	// The listener ends with its last call, and leaves no key behind.
	l := waitListenerEnded(t, p, k)
	if n := admin.Exists(ctx, l.wake).Val(); n != 0 {
		t.Fatalf("wake key %s left behind", l.wake)
	}
	if keys := admin.Keys(ctx, p.keys.Prefix()+":task:{shared}:reply:*").Val(); len(keys) != 0 {
		t.Fatalf("reply keys left behind: %v", keys)
	}
}

// A Redis that goes away while calls wait fails them at once, with the
// listener's error, instead of after their timeout.
func TestRunCommandRedisGone(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	p := newProducer(t, c)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- p.RunCommand(t.Context(), "gone", "x", 1, time.Minute) }()
	}
	k, _ := newQueueKeys(p.keys, "gone")
	waitFor(t, 5*time.Second, "the runs pushed", func() bool { return c.XLen(t.Context(), k.stream).Val() == 2 })
	m.Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil || errors.Is(err, ErrTimeout) || !contains(err.Error(), "waiting for reports") {
				t.Fatalf("RunCommand with Redis gone = %v, want the listener's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("RunCommand still waiting 10s after Redis went away")
		}
	}
	waitListenerEnded(t, p, k)
}

// A client whose read timeout would cut the listener's BLPOPs off gets a
// clear error before anything is pushed; a long enough one works.
func TestRunCommandShortReadTimeout(t *testing.T) {
	for _, rt := range []time.Duration{100 * time.Millisecond, time.Second} {
		c := redistest.Standalone(t).Client(func(o *redis.Options) { o.ReadTimeout, o.MaxRetries = rt, -1 })
		p := newProducer(t, c)
		w := newWorker(t, c, "short")
		w.HandleCommand("later", func(context.Context) error { time.Sleep(300 * time.Millisecond); return nil })
		runWorker(t, w)
		err := p.RunCommand(t.Context(), "short", "later", 3, 30*time.Second)
		k, _ := newQueueKeys(p.keys, "short")
		switch {
		case rt < minReadTimeout && (!errors.Is(err, ErrBadOption) || redistest.Admin(t, c).XLen(t.Context(), k.stream).Val() != 0):
			t.Fatalf("RunCommand with a %v read timeout = %v, want ErrBadOption and nothing pushed", rt, err)
		case rt >= minReadTimeout && err != nil:
			t.Fatalf("RunCommand with a %v read timeout = %v", rt, err)
		}
	}
	for _, rt := range []time.Duration{0, -1, -2, time.Second} {
		c := redis.NewClient(&redis.Options{ReadTimeout: rt})
		if got := readTimeout(c); got > 0 && got < minReadTimeout {
			t.Errorf("readTimeout with %v = %v: RunCommand would refuse it", rt, got)
		}
		c.Close()
	}
}

// waitListenerEnded waits until p's RunCommand listener on k has ended.
func waitListenerEnded(t *testing.T, p *Producer, k queueKeys) *replyListener {
	t.Helper()
	l := p.listener(k)
	waitFor(t, 5*time.Second, "the listener to end", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.running
	})
	return l
}

// RunCommand ends as soon as its context is cancelled, not at the end of
// a BLPOP.
func TestRunCommandCancel(t *testing.T) {
	c := oneBackend.client(t)
	p := newProducer(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := p.RunCommand(ctx, "nobody", "x", 1, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunCommand after cancel = %v, want context.Canceled", err)
	}
	// The call waits on a channel (the listener does the BLPOPs): it
	// returns at the cancel, 50ms in; it used to wait out a BLPOP of up
	// to a quarter second (and before that a second).
	if took := time.Since(start); took > 750*time.Millisecond {
		t.Fatalf("RunCommand returned %v after the cancel", took)
	}
}

// A report that comes after its caller gave up expires with the run's
// timeout, not an hour later.
func TestRunCommandLateReportExpires(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	w := newWorker(t, c, "slowcmds")
	reported := make(chan string, 1)
	finish := make(chan struct{})
	w.HandleCommand("slow", func(context.Context) error {
		<-finish // past the caller's timeout, ignoring ctx
		return nil
	})
	w.hooks.OnDone = func(queue string, t *Task, _ time.Duration, _ error) {
		run, _, _ := commandRun(t.Payload)
		reported <- run
	}
	runWorker(t, w)
	const timeout = 300 * time.Millisecond
	if err := p.RunCommand(ctx, "slowcmds", "slow", 1, timeout); !errors.Is(err, ErrTimeout) {
		t.Fatalf("RunCommand = %v, want ErrTimeout", err)
	}
	// The report comes once nobody listens (a listener still in its BLPOP
	// would pop it and drop it).
	k, _ := newQueueKeys(keysFor(t), "slowcmds")
	waitListenerEnded(t, p, k)
	close(finish)
	var run string
	select {
	case run = <-reported:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never finished")
	}
	admin := redistest.Admin(t, c)
	var ttl time.Duration
	redistest.WaitFor(t, 5*time.Second, "the late report", func() bool {
		ttl = admin.PTTL(ctx, k.reply(run)).Val()
		return ttl != -2*time.Nanosecond && ttl != -2*time.Millisecond && ttl != 0
	})
	if ttl < 0 || ttl > timeout {
		t.Fatalf("late report kept for %v, want at most the run's timeout %v", ttl, timeout)
	}
}
