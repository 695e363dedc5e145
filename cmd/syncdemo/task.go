package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdsync "sync"
	"sync/atomic"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/redistask"
)

// demoTasks pushes tasks, runs two workers, shows a failing task retried
// then dead-lettered, and a worker stopped mid-task whose task the other
// worker finishes after the visibility timeout.
func demoTasks(ctx context.Context, s *gosync.Sync, out io.Writer) error {
	fmt.Fprintln(out, "\n== redistask: tasks on Redis Streams ==")
	p, err := s.Producer()
	if err != nil {
		return err
	}
	var mu stdsync.Mutex
	done := map[string]string{} // payload -> worker
	var attempts atomic.Int32
	stuck := make(chan struct{})
	newWorker := func(name string) (*redistask.Worker, error) {
		w, err := s.Worker("demo", redistask.WithConsumer(name), redistask.WithPool(4),
			redistask.WithVisibilityTimeout(300*time.Millisecond), redistask.WithShutdownTimeout(0),
			redistask.WithPromoteInterval(20*time.Millisecond),
			redistask.WithBackoff(func(attempt int, _ error) time.Duration { return 50 * time.Millisecond }))
		if err != nil {
			return nil, err
		}
		w.Handle("resize", func(ctx context.Context, t *redistask.Task) error {
			if string(t.Payload) == "huge.png" && name == "worker-1" {
				close(stuck) // worker-1 dies in the middle of this one
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			done[string(t.Payload)] = name
			mu.Unlock()
			return nil
		})
		w.Handle("charge", func(ctx context.Context, t *redistask.Task) error {
			n := attempts.Add(1)
			fmt.Fprintf(out, "  %s: charge attempt %d fails: card declined\n", name, n)
			return errors.New("card declined")
		})
		return w, nil
	}
	w1, err := newWorker("worker-1")
	if err != nil {
		return err
	}
	w2, err := newWorker("worker-2")
	if err != nil {
		return err
	}
	ctx1, kill1 := context.WithCancel(ctx)
	ctx2, stop2 := context.WithCancel(ctx)
	var wg stdsync.WaitGroup
	run := func(w *redistask.Worker, ctx context.Context) {
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
	}
	defer func() { kill1(); stop2(); wg.Wait() }()

	// worker-1 runs alone first, so it takes huge.png.
	run(w1, ctx1)
	if _, err := p.Push(ctx, "demo", redistask.Task{Name: "resize", Payload: []byte("huge.png")}); err != nil {
		return err
	}
	select {
	case <-stuck:
	case <-time.After(10 * time.Second):
		return errors.New("worker-1 never picked up huge.png")
	}
	run(w2, ctx2)
	start := time.Now()
	var batch []redistask.Task
	for i := range 8 {
		batch = append(batch, redistask.Task{Name: "resize", Payload: fmt.Appendf(nil, "img-%d.png", i)})
	}
	batch = append(batch, redistask.Task{Name: "charge", MaxAttempts: 3})
	if _, _, err := p.PushBatch(ctx, "demo", batch); err != nil {
		return err
	}
	fmt.Fprintf(out, "pushed 1 + %d tasks; worker-1 is stuck in huge.png and is killed\n", len(batch))
	kill1() // the worker dies: huge.png is not acknowledged
	in, err := s.Inspector()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n, who := len(done), done["huge.png"]
		mu.Unlock()
		dead, _ := in.Dead(ctx, "demo", 10)
		if n == 9 && len(dead) == 1 {
			fmt.Fprintf(out, "all 9 resizes done; huge.png finished by %s after the visibility timeout (%v after the kill)\n",
				who, time.Since(start).Round(time.Millisecond))
			d := dead[0]
			fmt.Fprintf(out, "dead letter: %s after %d attempts, reason %q, last error %q\n", d.Task.Name, d.Task.Attempt, d.Reason, d.Error)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tasks did not complete: %d done, %d dead", n, len(dead))
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := in.Stats(ctx, "demo")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "queue: length %d, pending %d, retry %d, dead %d\n", st.Length, st.Pending, st.Retry, st.Dead)
	return nil
}
