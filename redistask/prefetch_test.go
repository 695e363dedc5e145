package redistask

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The adaptive prefetch limit follows the handlers' measured run time:
// the pool size until measured and for slow handlers, as many as the pool
// runs in prefetchHold for fast ones, never above prefetchMax; WithBatch
// fixes it.
func TestPrefetchAdapts(t *testing.T) {
	c := miniBackend.client(t)
	for _, tc := range []struct {
		name string
		opts []WorkerOption
		run  time.Duration // 0: nothing measured
		want int
	}{
		{"unmeasured", nil, 0, 10},
		{"slow", nil, 100 * time.Millisecond, 10},
		{"1ms", nil, time.Millisecond, 50},
		{"100us", nil, 100 * time.Microsecond, 160},
		{"100us, pool 20", []WorkerOption{WithPool(20)}, 100 * time.Microsecond, 256},
		{"1ms, pool 1", []WorkerOption{WithPool(1)}, time.Millisecond, 5},
		{"1us, pool 1", []WorkerOption{WithPool(1)}, time.Microsecond, 16},
		{"fixed", []WorkerOption{WithBatch(64)}, time.Microsecond, 64},
		{"big pool", []WorkerOption{WithPool(500)}, time.Microsecond, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorker(t, c, "q", tc.opts...)
			for range 200 { // the mean converges
				if tc.run > 0 {
					w.observeRun(tc.run)
				}
			}
			if got := w.prefetch(); got != tc.want {
				t.Fatalf("prefetch = %d, want %d", got, tc.want)
			}
		})
	}
}

// A worker whose handlers are slow holds no more than twice its pool:
// the rest of the queue stays for other workers (a reviewer once saw a
// pool-1 worker hold 65 tasks); one with fast handlers reads large
// batches.
func TestPrefetchHoldsLittleWithSlowHandlers(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	var batch []Task
	for i := range 60 {
		batch = append(batch, Task{Name: "slow", Payload: []byte(fmt.Sprint(i))})
	}
	if _, _, err := p.PushBatch(ctx, "q", batch); err != nil {
		t.Fatal(err)
	}
	w := newWorker(t, c, "q", WithPool(2), WithConsumer("slow-worker"))
	w.Handle("slow", func(ctx context.Context, _ *Task) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	stop := runWorker(t, w)
	waitFor(t, 5*time.Second, "the consumer group", func() bool {
		return c.XPending(ctx, w.k.stream, group).Err() == nil
	})
	maxHeld := int64(0)
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		pend, err := c.XPending(ctx, w.k.stream, group).Result()
		if err != nil {
			t.Fatal(err)
		}
		maxHeld = max(maxHeld, pend.Count)
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	// pool + prefetch = 4, plus a finished task per handler whose
	// acknowledgement may still be on the wire.
	if maxHeld > 6 || maxHeld < 2 {
		t.Fatalf("a pool-2 worker with 20ms handlers held up to %d tasks, want 2..6", maxHeld)
	}
}

// A worker shutting down keeps heartbeating the tasks it still runs: a
// handler that outlives the visibility timeout during a graceful shutdown
// is not reclaimed and run again by another worker.
func TestShutdownKeepsHeartbeating(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	var runs atomic.Int32
	started := make(chan struct{}, 2)
	handler := func(context.Context, *Task) error {
		runs.Add(1)
		started <- struct{}{}
		time.Sleep(1200 * time.Millisecond)
		return nil
	}
	a := newWorker(t, c, "q", WithPool(1), WithVisibilityTimeout(300*time.Millisecond), WithShutdownTimeout(5*time.Second), WithConsumer("a"))
	a.Handle("long", handler)
	actx, stopA := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() { aDone <- a.Run(actx) }()
	if _, err := p.Push(ctx, "q", Task{Name: "long"}); err != nil {
		t.Fatal(err)
	}
	<-started
	stopA() // graceful: a's handler runs on for ~1.2s, 4 visibility timeouts
	b := newWorker(t, c, "q", WithPool(1), WithVisibilityTimeout(300*time.Millisecond), WithConsumer("b"))
	b.Handle("long", handler)
	stopB := runWorker(t, b)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // room for b to reclaim, wrongly
	stopB()
	if n := runs.Load(); n != 1 {
		t.Fatalf("the task ran %d times, want once", n)
	}
}

// A dead worker's tasks are reclaimed within a few visibility timeouts
// even while the survivors have a backlog that keeps their prefetch
// window full.
func TestReclaimUnderBacklog(t *testing.T) {
	ctx := t.Context()
	c := oneBackend.client(t)
	p := newProducer(t, c)
	w := newWorker(t, c, "q", WithPool(2), WithVisibilityTimeout(300*time.Millisecond), WithConsumer("live"))
	if err := ensureGroup(ctx, c, w.k.stream); err != nil {
		t.Fatal(err)
	}
	// Four orphans: delivered to a consumer that then died.
	var orphans []Task
	for i := range 4 {
		orphans = append(orphans, Task{Name: "work", Payload: []byte(fmt.Sprint("orphan", i))})
	}
	if _, _, err := p.PushBatch(ctx, "q", orphans); err != nil {
		t.Fatal(err)
	}
	if err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "dead", Streams: []string{w.k.stream, ">"}, Count: 4}).Err(); err != nil {
		t.Fatal(err)
	}
	// A backlog of 3s of work for the live worker (200 x 30ms / 2).
	var backlog []Task
	for i := range 200 {
		backlog = append(backlog, Task{Name: "work", Payload: []byte(fmt.Sprint("b", i))})
	}
	if _, _, err := p.PushBatch(ctx, "q", backlog); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var orphansDone atomic.Int32
	w.Handle("work", func(_ context.Context, tk *Task) error {
		if len(tk.Payload) > 6 && string(tk.Payload[:6]) == "orphan" {
			orphansDone.Add(1)
		}
		time.Sleep(30 * time.Millisecond)
		return nil
	})
	runWorker(t, w)
	waitFor(t, 10*time.Second, "the orphans run", func() bool { return orphansDone.Load() == 4 })
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the orphans ran %v after the worker started, behind the 3s backlog", took)
	}
}
