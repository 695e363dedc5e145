package redistask

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestPushRunAck(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			w := newWorker(t, c, "q", WithPool(4))
			var mu stdsync.Mutex
			seen := map[string]int{}
			if err := w.Handle("echo", func(ctx context.Context, tk *Task) error {
				mu.Lock()
				seen[string(tk.Payload)]++
				mu.Unlock()
				if tk.Attempt != 1 || tk.EnqueuedAt.IsZero() {
					return fmt.Errorf("attempt %d enqueued %v", tk.Attempt, tk.EnqueuedAt)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			runWorker(t, w)
			for i := range 20 {
				if _, err := p.Push(ctx, "q", Task{Name: "echo", Payload: []byte(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			var batch []Task
			for i := 20; i < 50; i++ {
				batch = append(batch, Task{Name: "echo", Payload: []byte(fmt.Sprint(i))})
			}
			ids, errs, err := p.PushBatch(ctx, "q", batch)
			if err != nil || len(ids) != 30 {
				t.Fatalf("PushBatch: %v %d", err, len(ids))
			}
			for _, e := range errs {
				if e != nil {
					t.Fatal(e)
				}
			}
			waitFor(t, 10*time.Second, "50 tasks", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) == 50
			})
			// Acknowledged entries are deleted; nothing stays pending.
			waitFor(t, 5*time.Second, "empty stream", func() bool {
				n, _ := c.XLen(ctx, w.k.stream).Result()
				return n == 0
			})
			pend, err := c.XPending(ctx, w.k.stream, group).Result()
			if err != nil || pend.Count != 0 {
				t.Fatalf("pending %+v %v", pend, err)
			}
		})
	}
}

func TestRetryThenDeadLetter(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			w := newWorker(t, c, "q", WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond }),
				WithPromoteInterval(10*time.Millisecond))
			var attempts atomic.Int32
			w.Handle("flaky", func(ctx context.Context, tk *Task) error {
				n := attempts.Add(1)
				if int(n) != tk.Attempt {
					t.Errorf("attempt %d reported as %d", n, tk.Attempt)
				}
				if n > 1 && tk.LastError == "" {
					t.Errorf("attempt %d without the last error", n)
				}
				if n == 2 {
					panic("kaboom")
				}
				return fmt.Errorf("failure %d", n)
			})
			runWorker(t, w)
			if _, err := p.Push(ctx, "q", Task{Name: "flaky", MaxAttempts: 3}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Push(ctx, "q", Task{Name: "nobody-handles-this"}); err != nil {
				t.Fatal(err)
			}
			c.XAdd(ctx, &redis.XAddArgs{Stream: w.k.stream, Values: []string{"t", "garbage"}}) // undecodable
			in, err := NewInspector(c, WithInspectorPrefix(prefix(t)))
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "3 dead tasks", func() bool {
				d, _ := in.Dead(ctx, "q", 10)
				return len(d) == 3
			})
			if attempts.Load() != 3 {
				t.Fatalf("ran %d attempts, want 3", attempts.Load())
			}
			dead, _ := in.Dead(ctx, "q", 10)
			reasons := map[string]DeadTask{}
			for _, d := range dead {
				reasons[d.Reason] = d
			}
			if d := reasons["failed"]; d.Task.Attempt != 3 || d.Error != "failure 3" || d.Task.Name != "flaky" {
				t.Errorf("failed task: %+v", d)
			}
			if d := reasons["unknown-name"]; d.Task.Name != "nobody-handles-this" {
				t.Errorf("unknown-name task: %+v", d)
			}
			if _, ok := reasons["corrupt"]; !ok {
				t.Errorf("no corrupt dead task: %+v", reasons)
			}
			st, err := in.Stats(ctx, "q")
			if err != nil || st.Dead != 3 || st.Pending != 0 || st.Length != 0 {
				t.Fatalf("stats %+v %v", st, err)
			}
		})
	}
}

func TestUniqueAndDelayed(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			p := newProducer(t, c)
			w := newWorker(t, c, "q", WithPromoteInterval(10*time.Millisecond))
			var runs atomic.Int32
			var ranAt atomic.Int64
			w.Handle("once", func(context.Context, *Task) error { runs.Add(1); return nil })
			w.Handle("later", func(context.Context, *Task) error { ranAt.Store(time.Now().UnixNano()); return nil })
			runWorker(t, w)
			id1, err := p.Push(ctx, "q", Task{Name: "once", ID: "order-7"})
			if err != nil {
				t.Fatal(err)
			}
			id2, err := p.Push(ctx, "q", Task{Name: "once", ID: "order-7"})
			if !errors.Is(err, ErrDuplicate) || id2 != id1 {
				t.Fatalf("second push = %q, %v; want ErrDuplicate naming %q", id2, err, id1)
			}
			pushed := time.Now()
			if _, err := p.Push(ctx, "q", Task{Name: "later", Delay: 300 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "delayed task", func() bool { return ranAt.Load() != 0 })
			if ran := time.Unix(0, ranAt.Load()); ran.Sub(pushed) < 300*time.Millisecond {
				t.Fatalf("delayed task ran %v after push, before its 300ms delay", ran.Sub(pushed))
			}
			waitFor(t, 5*time.Second, "unique task", func() bool { return runs.Load() >= 1 })
			time.Sleep(100 * time.Millisecond)
			if runs.Load() != 1 {
				t.Fatalf("unique task ran %d times", runs.Load())
			}
		})
	}
}

func TestPushErrors(t *testing.T) {
	ctx := t.Context()
	c := miniBackend.client(t)
	p := newProducer(t, c, WithMaxPayload(10))
	cases := []struct {
		queue string
		task  Task
		want  error
	}{
		{"", Task{Name: "x"}, ErrInvalidName},
		{"q", Task{}, ErrInvalidName},
		{"q", Task{Name: "x", Payload: make([]byte, 11)}, ErrPayloadTooLarge},
		{"q", Task{Name: "x", MaxAttempts: -1}, ErrBadOption},
	}
	for _, tc := range cases {
		if _, err := p.Push(ctx, tc.queue, tc.task); !errors.Is(err, tc.want) {
			t.Errorf("Push(%q, %+v) = %v, want %v", tc.queue, tc.task.Name, err, tc.want)
		}
	}
	if _, _, err := p.PushBatch(ctx, "q", []Task{{Name: "ok"}, {Name: ""}}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("PushBatch with a bad task = %v", err)
	}
	if n, _ := c.XLen(ctx, "tTestPushErrors:task:{q}:stream").Result(); n != 0 {
		t.Errorf("a rejected batch enqueued %d tasks", n)
	}
	c.Set(ctx, prefix(t)+":task:{str}:stream", "x", 0)
	if _, err := p.Push(ctx, "str", Task{Name: "x"}); !errors.Is(err, ErrWrongType) {
		t.Errorf("push onto a string key = %v, want ErrWrongType", err)
	}
	if _, err := NewWorker(c, "q", WithPool(0)); !errors.Is(err, ErrBadOption) {
		t.Errorf("pool 0 = %v", err)
	}
	if _, err := NewWorker(c, ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty queue = %v", err)
	}
}
