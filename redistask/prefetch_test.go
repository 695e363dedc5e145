package redistask

import (
	"context"
	"fmt"
	"testing"
	"time"
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
		{"100us", nil, 100 * time.Microsecond, 256},
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
	// pool + prefetch = 4, plus one finished task whose acknowledgement
	// may still be on the wire.
	if maxHeld > 5 || maxHeld < 2 {
		t.Fatalf("a pool-2 worker with 20ms handlers held up to %d tasks, want 2..5", maxHeld)
	}
}
