package otelsync_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/otelsync"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A task pushed under a span is handled under it: the handler's context
// carries the push's span as its remote parent, so the handler's spans
// join the producer's trace.
func Example() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	tracer := sdktrace.NewTracerProvider().Tracer("example")

	s := gosync.New(client, gosync.WithPropagator(otelsync.Propagator(propagation.TraceContext{})))
	defer s.Close()

	worker, _ := s.Worker("emails")
	parents := make(chan trace.SpanContext, 1)
	worker.Handle("welcome", func(ctx context.Context, t *redistask.Task) error {
		_, span := tracer.Start(ctx, "send welcome") // a child of the push's span
		defer span.End()
		parents <- span.(sdktrace.ReadOnlySpan).Parent()
		return nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- worker.Run(ctx) }()

	producer, _ := s.Producer()
	pctx, push := tracer.Start(context.Background(), "sign up")
	producer.Push(pctx, "emails", redistask.Task{Name: "welcome"})
	push.End()

	parent := <-parents
	fmt.Println("parent is the push's span:", parent.Equal(push.SpanContext().WithRemote(true)))
	stop()
	<-done
	// Output:
	// parent is the push's span: true
}
