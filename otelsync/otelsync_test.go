package otelsync_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/otelsync"
	"github.com/go-sync/sync/redistask"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A handler's span is a child of the span that pushed the task or
// published the event: same trace, parent = the producer's span, and the
// producer's tracestate carried along.
func TestProducerConsumerSpans(t *testing.T) {
	client := startRedis(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	tracer := tp.Tracer("otelsync_test")

	s := gosync.New(client, gosync.WithPrefix("otelsync-"+strconv.FormatInt(time.Now().UnixNano(), 36)),
		gosync.WithPropagator(otelsync.Propagator(propagation.TraceContext{})))
	defer s.Close()

	// The producer's span runs under a remote parent with a tracestate,
	// which it inherits.
	state, err := trace.ParseTraceState("vendor=opaque")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled, TraceState: state, Remote: true})
	root := trace.ContextWithRemoteSpanContext(t.Context(), remote)

	handled := make(chan trace.SpanContext, 4)
	handle := func(ctx context.Context, name string) {
		_, span := tracer.Start(ctx, name)
		span.End()
		handled <- span.SpanContext()
	}
	wait := func(t *testing.T) {
		t.Helper()
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatal("handler not called")
		}
	}

	t.Run("task", func(t *testing.T) {
		w, err := s.Worker("emails")
		if err != nil {
			t.Fatal(err)
		}
		w.Handle("welcome", func(ctx context.Context, tk *redistask.Task) error {
			handle(ctx, "handle task")
			return nil
		})
		stop := run(t, w.Run)
		defer stop()
		p, err := s.Producer()
		if err != nil {
			t.Fatal(err)
		}
		ctx, span := tracer.Start(root, "push task")
		if _, err := p.Push(ctx, "emails", redistask.Task{Name: "welcome"}); err != nil {
			t.Fatal(err)
		}
		span.End()
		wait(t)
		checkChild(t, rec, "handle task", span.SpanContext())
	})

	t.Run("event", func(t *testing.T) {
		ev, err := s.Events()
		if err != nil {
			t.Fatal(err)
		}
		topic, err := ev.CreateTopic(t.Context(), "orders", 2)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := topic.Consumer("billing", func(ctx context.Context, e *event.Event) error {
			handle(ctx, "handle event")
			return nil
		}, event.WithLease(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, cons.Run)
		defer stop()
		ctx, span := tracer.Start(root, "publish event")
		if _, err := topic.Publish(ctx, event.Event{Key: "order-1", Payload: []byte("created")}); err != nil {
			t.Fatal(err)
		}
		span.End()
		wait(t)
		checkChild(t, rec, "handle event", span.SpanContext())
	})
}

// checkChild finds the ended span name and checks that its parent is
// producer, a remote span context with the producer's tracestate.
func checkChild(t *testing.T, rec *tracetest.SpanRecorder, name string, producer trace.SpanContext) {
	t.Helper()
	for _, s := range rec.Ended() {
		if s.Name() != name {
			continue
		}
		parent := s.Parent()
		if !parent.IsRemote() || parent.TraceID() != producer.TraceID() || parent.SpanID() != producer.SpanID() {
			t.Fatalf("%s: parent %v, want the producer's span %v", name, parent, producer)
		}
		if s.SpanContext().TraceID() != producer.TraceID() || s.SpanContext().TraceState().String() != "vendor=opaque" {
			t.Fatalf("%s: span context %v", name, s.SpanContext())
		}
		return
	}
	t.Fatalf("no ended span %q", name)
}

// Propagator(nil) follows the global propagator, looked up at each call.
func TestGlobalPropagator(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	defer otel.SetTextMapPropagator(prev)
	p := otelsync.Propagator(nil)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(t.Context(), sc)

	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	if tc := tracing.Inject(ctx, p); !tc.IsZero() {
		t.Fatalf("a propagator that propagates nothing injected %+v", tc)
	}
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	tc := tracing.Inject(ctx, p)
	want := "00-09000000000000000000000000000000-0800000000000000-01"
	if tc.TraceParent != want {
		t.Fatalf("injected %+v, want traceparent %s", tc, want)
	}
	got := trace.SpanContextFromContext(tracing.Extract(t.Context(), p, tc))
	if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() {
		t.Fatalf("extracted %v", got)
	}
}

// run runs f until the returned stop is called, and checks its result.
func run(t *testing.T, f func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// startRedis starts a redis-server of its own on a free loopback port
// (never 6379), without persistence, and kills it when the test ends.
// Without redis-server on PATH the test is skipped, or fails when
// REDIS_REQUIRED is set (as make test sets it).
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REDIS_REQUIRED") != "" {
			t.Fatal("redis-server not found on PATH and REDIS_REQUIRED is set: install it (apt-get install redis-server, or make deps)")
		}
		t.Skip("redis-server not found on PATH: install it (apt-get install redis-server) to run this test")
	}
	var lastErr error
	for range 5 { // the free port may be taken between probe and bind
		port := freePort(t)
		var out bytes.Buffer
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		kill := func() { cmd.Process.Kill(); <-exited }
		client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
		if lastErr = ping(client, exited); lastErr == nil {
			t.Cleanup(func() { client.Close(); kill() })
			return client
		}
		client.Close()
		kill()
		lastErr = fmt.Errorf("%v; redis-server output:\n%s", lastErr, out.String())
	}
	t.Fatalf("cannot start redis-server: %v", lastErr)
	return nil
}

func ping(c *redis.Client, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != 6379 {
			return port
		}
	}
}
