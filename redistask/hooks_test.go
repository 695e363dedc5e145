package redistask

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"testing"
	"time"
)

// hookLog counts what Hooks report, per event and task name.
type hookLog struct {
	mu     stdsync.Mutex
	counts map[string]int
	waits  []time.Duration
}

func (h *hookLog) add(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[key]++
}

func (h *hookLog) get(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[key]
}

func (h *hookLog) hooks(queue string) Hooks {
	check := func(q string) {
		if q != queue {
			panic(fmt.Sprintf("hook for queue %q, want %q", q, queue))
		}
	}
	return Hooks{
		OnPush: func(q string, t *Task, err error) {
			check(q)
			switch {
			case err == nil:
				h.add("push " + t.Name)
			case errors.Is(err, ErrDuplicate):
				h.add("duplicate " + t.Name)
			default:
				h.add("push-error " + t.Name)
			}
		},
		OnStart: func(q string, t *Task, wait time.Duration) {
			check(q)
			h.add("start " + t.Name)
			h.mu.Lock()
			h.waits = append(h.waits, wait)
			h.mu.Unlock()
		},
		OnDone: func(q string, t *Task, d time.Duration, err error) {
			check(q)
			if err == nil {
				h.add("ok " + t.Name)
			} else {
				h.add("failed " + t.Name)
			}
		},
		OnRetry: func(q string, t *Task, backoff time.Duration, err error) {
			check(q)
			if backoff != 10*time.Millisecond || err == nil {
				panic(fmt.Sprintf("OnRetry backoff %v err %v", backoff, err))
			}
			h.add("retry " + t.Name)
		},
		OnDead: func(q string, t *Task, reason string) { check(q); h.add("dead " + t.Name + " " + reason) },
	}
}

func TestHooks(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			var rec hookLog
			p := newProducer(t, c, WithProducerHooks(rec.hooks("q")))
			w := newWorker(t, c, "q", WithWorkerHooks(rec.hooks("q")), WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond }))
			w.Handle("ok", func(context.Context, *Task) error { return nil })
			w.Handle("flaky", func(context.Context, *Task) error { return errors.New("boom") })
			for range 3 {
				if _, err := p.Push(ctx, "q", Task{Name: "ok"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, errs, err := p.PushBatch(ctx, "q", []Task{{Name: "ok", ID: "u1"}, {Name: "ok", ID: "u1"}}); err != nil || errs[0] != nil || !errors.Is(errs[1], ErrDuplicate) {
				t.Fatalf("PushBatch = %v %v", errs, err)
			}
			if _, err := p.Push(ctx, "q", Task{Name: "flaky", MaxAttempts: 3}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Push(ctx, "q", Task{Name: "nobody"}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Push(ctx, "q", Task{}); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Push of a nameless task = %v", err)
			}
			runWorker(t, w)
			waitFor(t, 10*time.Second, "the flaky task dead", func() bool { return rec.get("dead flaky failed") == 1 })
			waitFor(t, 10*time.Second, "the unknown task dead", func() bool { return rec.get("dead nobody unknown-name") == 1 })
			waitFor(t, 10*time.Second, "4 tasks ok", func() bool { return rec.get("ok ok") == 4 })
			for key, want := range map[string]int{
				"push ok": 4, "duplicate ok": 1, "push flaky": 1, "push nobody": 1, "push-error ": 0, "push ": 0,
				"start ok": 4, "start flaky": 3, "failed flaky": 3, "retry flaky": 2, "start nobody": 0,
			} {
				if got := rec.get(key); got != want {
					t.Errorf("%q reported %d times, want %d", key, got, want)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, w := range rec.waits {
				if w < 0 || w > 10*time.Second {
					t.Errorf("pickup wait %v", w)
				}
			}
		})
	}
}
