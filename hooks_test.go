package sync

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
)

// WithHooks reaches every primitive the facade hands out.
func TestWithHooksReachesEveryPrimitive(t *testing.T) {
	ctx := t.Context()
	var acquired, elected, pushed, started, published atomic.Int32
	s := New(miniClient(t), WithPrefix(redistest.Prefix(t)), WithHooks(Hooks{
		Lock:   redislock.Hooks{OnAcquire: func(string, time.Duration, time.Duration, error) { acquired.Add(1) }},
		Leader: redisleader.Hooks{OnElected: func(string, string, uint64) { elected.Add(1) }},
		Task: redistask.Hooks{
			OnPush:  func(string, *redistask.Task, error) { pushed.Add(1) },
			OnStart: func(string, *redistask.Task, time.Duration) { started.Add(1) },
		},
		Event: event.Hooks{OnPublish: func(string, event.Receipt, error) { published.Add(1) }},
	}))
	defer s.Close()

	locker, err := s.Locker()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := locker.Acquire(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	lk.Release(ctx)
	if err := s.Lock().Acquire("seed", TTL(time.Second)); err != nil { // the seed API too
		t.Fatal(err)
	}
	el, err := s.Elector("g")
	if err != nil {
		t.Fatal(err)
	}
	ld, err := el.Campaign(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	ld.Resign(ctx)
	p, err := s.Producer()
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Worker("q")
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("t", func(context.Context, *redistask.Task) error { return nil })
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { cancel(); <-done }()
	if _, err := p.Push(ctx, "q", redistask.Task{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	ev, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ev.CreateTopic(ctx, "orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topic.Publish(ctx, event.Event{Key: "k"}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 5*time.Second, "the task started", func() bool { return started.Load() == 1 })
	if acquired.Load() != 2 || elected.Load() != 1 || pushed.Load() != 1 || published.Load() != 1 {
		t.Fatalf("hooks: acquired %d, elected %d, pushed %d, published %d; want 2, 1, 1, 1",
			acquired.Load(), elected.Load(), pushed.Load(), published.Load())
	}
}
