package sync

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redistask"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// valueProp keeps the trace context as a context value.
type valueProp struct{}

type traceKey struct{}

func (valueProp) Inject(ctx context.Context, c map[string]string) {
	if tc, ok := ctx.Value(traceKey{}).(tracing.Context); ok {
		c[tracing.TraceParentKey] = tc.TraceParent
	}
}

func (valueProp) Extract(ctx context.Context, c map[string]string) context.Context {
	return context.WithValue(ctx, traceKey{}, tracing.Context{TraceParent: c[tracing.TraceParentKey]})
}

// WithPropagator reaches the producers, workers and event clients the
// facade hands out.
func TestFacadePropagator(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	s := New(c, WithPrefix("traced"), WithPropagator(valueProp{}))
	defer s.Close()
	want := tracing.Context{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ctx := context.WithValue(t.Context(), traceKey{}, want)

	p, err := s.Producer()
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Worker("q")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan tracing.Context, 1)
	w.Handle("job", func(ctx context.Context, _ *redistask.Task) error {
		tc, _ := ctx.Value(traceKey{}).(tracing.Context)
		got <- tc
		return nil
	})
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { stop(); <-done }()
	if _, err := p.Push(ctx, "q", redistask.Task{Name: "job"}); err != nil {
		t.Fatal(err)
	}
	select {
	case tc := <-got:
		if tc != want {
			t.Fatalf("handler context carries %+v", tc)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("task not handled")
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
	ms, err := c.XRange(ctx, topic.StreamKey(0), "-", "+").Result()
	if err != nil || len(ms) != 1 || ms[0].Values["tp"] != want.TraceParent {
		t.Fatalf("event entry %v, %v", ms, err)
	}
}
