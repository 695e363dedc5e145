package event

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// ctxProp is a tracing.Propagator that keeps the trace context as a
// context value: Inject writes whatever the context holds (junk
// included), Extract stores the carrier it is given.
type ctxProp struct{}

type traceKey struct{}

func withTrace(ctx context.Context, tc tracing.Context) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

func ctxTrace(ctx context.Context) tracing.Context {
	tc, _ := ctx.Value(traceKey{}).(tracing.Context)
	return tc
}

func (ctxProp) Inject(ctx context.Context, c map[string]string) {
	if tc, ok := ctx.Value(traceKey{}).(tracing.Context); ok {
		c[tracing.TraceParentKey], c[tracing.TraceStateKey] = tc.TraceParent, tc.TraceState
	}
}

func (ctxProp) Extract(ctx context.Context, c map[string]string) context.Context {
	return withTrace(ctx, tracing.Context{TraceParent: c[tracing.TraceParentKey], TraceState: c[tracing.TraceStateKey]})
}

const testParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceContext(t *testing.T) {
	traced := tracing.Context{TraceParent: testParent, TraceState: "rojo=00f067aa0ba902b7"}
	other := tracing.Context{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			ctx := t.Context()
			traceCtx := withTrace(ctx, traced)
			c := newClient(t, rdb, WithPropagator(ctxProp{}))
			plain := newClient(t, rdb) // no propagator, same prefix
			// fields returns the stream entry of a receipt.
			fields := func(t *testing.T, tp *Topic, r Receipt) map[string]any {
				t.Helper()
				ms, err := rdb.XRange(ctx, tp.StreamKey(r.Partition), r.Offset.String(), r.Offset.String()).Result()
				if err != nil || len(ms) != 1 {
					t.Fatal(ms, err)
				}
				return ms[0].Values
			}
			// seen collects what handlers saw: the event's and the context's trace.
			type seen struct {
				payload  string
				ev, from tracing.Context
			}
			collect := func(got chan<- seen) Handler {
				return func(ctx context.Context, ev *Event) error {
					got <- seen{string(ev.Payload), ev.Trace, ctxTrace(ctx)}
					return nil
				}
			}
			next := func(t *testing.T, got <-chan seen) seen {
				t.Helper()
				select {
				case s := <-got:
					return s
				case <-time.After(10 * time.Second):
					t.Fatal("handler not called")
					return seen{}
				}
			}

			t.Run("stored and delivered", func(t *testing.T) {
				tp := newTopic(t, c, "traced", 2)
				rs, err := tp.PublishBatch(traceCtx, []Event{
					{Key: "a", Payload: []byte("plain")},
					{Key: "b", Payload: []byte("with-id"), ID: "e1"},
					{Key: "c", Payload: []byte("own"), Trace: other},
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range []tracing.Context{traced, traced, other} {
					f := fields(t, tp, rs[i])
					if f["tp"] != want.TraceParent || (want.TraceState == "" && f["ts"] != nil) || (want.TraceState != "" && f["ts"] != want.TraceState) {
						t.Fatalf("event %d stored %v", i, f)
					}
				}
				want := map[string]tracing.Context{"plain": traced, "with-id": traced, "own": other}
				got := make(chan seen, 8)
				cons, err := tp.Consumer("g", collect(got), WithLease(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				run(t, cons)
				for range want {
					s := next(t, got)
					if s.ev != want[s.payload] || s.from != want[s.payload] {
						t.Fatalf("consumer saw %+v", s)
					}
				}
				sub := make(chan seen, 8)
				subscribe(t, tp, collect(sub))
				for range want {
					s := next(t, sub)
					if s.ev != want[s.payload] || s.from != want[s.payload] {
						t.Fatalf("subscriber saw %+v", s)
					}
				}
			})

			t.Run("nothing stored without one", func(t *testing.T) {
				tp := newTopic(t, c, "untraced", 1)
				tpPlain, err := plain.OpenTopic(ctx, "untraced")
				if err != nil {
					t.Fatal(err)
				}
				junk := withTrace(ctx, tracing.Context{TraceParent: "00-zz", TraceState: "a=b"})
				for i, pub := range []func() (Receipt, error){
					func() (Receipt, error) { return tp.Publish(ctx, Event{Key: "k"}) },                   // ctx without one
					func() (Receipt, error) { return tp.Publish(ctx, Event{Key: "k", ID: "x"}) },          // through the script
					func() (Receipt, error) { return tpPlain.Publish(traceCtx, Event{Key: "k"}) },         // no propagator
					func() (Receipt, error) { return tp.Publish(junk, Event{Key: "k"}) },                  // invalid, dropped
					func() (Receipt, error) { return tp.Publish(junk, Event{Key: "k", ID: "y"}) },         // invalid, dropped
					func() (Receipt, error) { return tp.Publish(ctx, Event{Key: "k", Trace: junkTrace}) }, // invalid, dropped
				} {
					r, err := pub()
					if err != nil {
						t.Fatal(err)
					}
					if f := fields(t, tp, r); f["tp"] != nil || f["ts"] != nil {
						t.Fatalf("publish %d stored %v", i, f)
					}
				}
			})

			t.Run("old and foreign entries", func(t *testing.T) {
				tp := newTopic(t, c, "old", 1)
				key := tp.StreamKey(0)
				rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"k", "a", "v", "old"}})
				rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"k", "a", "v", "old-with-id", "i", "id"}})
				rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"k", "a", "v", "junk", "tp", "junk", "ts", "a=b"}})
				got := make(chan seen, 8)
				cons, err := tp.Consumer("g", collect(got), WithLease(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				run(t, cons)
				for _, want := range []string{"old", "old-with-id", "junk"} {
					if s := next(t, got); s.payload != want || !s.ev.IsZero() || !s.from.IsZero() {
						t.Fatalf("saw %+v, want %s without a trace context", s, want)
					}
				}
			})

			t.Run("retries and dead letters keep it", func(t *testing.T) {
				tp := newTopic(t, c, "failing", 1)
				dlq := newTopic(t, c, "failing-dead", 1)
				var calls atomic.Int32
				got := make(chan seen, 8)
				h := func(ctx context.Context, ev *Event) error {
					got <- seen{fmt.Sprint(ev.Attempt), ev.Trace, ctxTrace(ctx)}
					calls.Add(1)
					return fmt.Errorf("attempt %d", ev.Attempt)
				}
				cons, err := tp.Consumer("g", h, WithLease(time.Second), WithDeadLetter(dlq, 2),
					WithBackoff(func(int, error) time.Duration { return time.Millisecond }))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tp.Publish(traceCtx, Event{Key: "k", Payload: []byte("p")}); err != nil {
					t.Fatal(err)
				}
				run(t, cons)
				for _, attempt := range []string{"1", "2"} {
					if s := next(t, got); s.payload != attempt || s.ev != traced || s.from != traced {
						t.Fatalf("attempt %s saw %+v", attempt, s)
					}
				}
				dead := make(chan seen, 1)
				subscribe(t, dlq, collect(dead))
				if s := next(t, dead); s.payload != "p" || s.ev != traced || s.from != traced {
					t.Fatalf("dead letter %+v", s)
				}
			})
		})
	}
}

// subscribe runs tp.Subscribe from the beginning until the test ends.
func subscribe(t *testing.T, tp *Topic, h Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.Subscribe(ctx, Beginning(), h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Subscribe = %v", err)
		}
	})
}

var junkTrace = tracing.Context{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}
