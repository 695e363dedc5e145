package sync

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redistask"
)

// The seed's local task returned nil whatever happened and never set its
// status.
func TestLocalTaskReportsErrorsAndStatus(t *testing.T) {
	task := NewLocalTask(WithPool(5))
	if task.Status() != "idle" {
		t.Fatalf("initial status %q", task.Status())
	}
	var n atomic.Int32
	if err := task.Run(Command{Name: "ok", Func: func() error { n.Add(1); return nil }}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 5 || task.Status() != "completed" {
		t.Fatalf("ran %d times, status %q", n.Load(), task.Status())
	}
	var i atomic.Int32
	err := task.Run(Command{Name: "bad", Func: func() error {
		if i.Add(1)%2 == 0 {
			return errors.New("boom")
		}
		return nil
	}})
	if err == nil || strings.Count(err.Error(), "boom") != 2 || !strings.HasPrefix(task.Status(), "failed: ") {
		t.Fatalf("err %v, status %q; want both errors", err, task.Status())
	}
	if err := task.Run(Command{Name: "panics", Func: func() error { panic("x") }}); err == nil || !strings.Contains(err.Error(), "panic: x") {
		t.Fatalf("panic not reported: %v", err)
	}
}

func TestDistributedTask(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	w, err := s.Worker("jobs")
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	w.HandleCommand("resize", func(context.Context) error { runs.Add(1); return nil })
	w.HandleCommand("broken", func(context.Context) error { return errors.New("no space") })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	task := s.Task("jobs", WithPool(4), WithTaskTimeout(10*time.Second))
	if err := task.Run(Command{Name: "resize"}); err != nil || runs.Load() != 4 || task.Status() != "completed" {
		t.Fatalf("Run = %v, %d runs, status %q", err, runs.Load(), task.Status())
	}
	if err := task.Run(Command{Name: "broken"}); err == nil || strings.Count(err.Error(), "no space") != 4 {
		t.Fatalf("Run of a failing command = %v", err)
	}
	// No worker for the queue: Run returns at its timeout (the seed's
	// broker task hung forever on a dead worker).
	err = s.Task("nobody", WithPool(2), WithTaskTimeout(200*time.Millisecond)).Run(Command{Name: "resize"})
	if !errors.Is(err, redistask.ErrTimeout) {
		t.Fatalf("Run without workers = %v, want ErrTimeout", err)
	}
}

// The facade's Scheduler enqueues under the facade's prefix, where its
// Worker runs the ticks.
func TestFacadeScheduler(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	sc, err := s.Scheduler("ticks")
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Add("beat", "@every 100ms", redistask.Task{Name: "beat"}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Worker("ticks")
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	w.Handle("beat", func(context.Context, *redistask.Task) error { runs.Add(1); return nil })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	go func() { done <- w.Run(ctx) }()
	go func() { done <- sc.Run(ctx) }()
	redistest.WaitFor(t, 5*time.Second, "two ticks run", func() bool { return runs.Load() >= 2 })
	cancel()
	for range 2 {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scheduler("ticks"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Scheduler after Close = %v", err)
	}
}
