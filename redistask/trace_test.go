package redistask

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/tracing"
)

// ctxProp is a tracing.Propagator that keeps the trace context as a
// context value: Inject writes whatever the context holds (junk
// included), Extract stores the carrier it is given.
type ctxProp struct{}

type traceKey struct{}

func withTrace(ctx context.Context, tc tracing.Context) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

func (ctxProp) Inject(ctx context.Context, c map[string]string) {
	if tc, ok := ctx.Value(traceKey{}).(tracing.Context); ok {
		c[tracing.TraceParentKey], c[tracing.TraceStateKey] = tc.TraceParent, tc.TraceState
	}
}

func (ctxProp) Extract(ctx context.Context, c map[string]string) context.Context {
	return withTrace(ctx, tracing.Context{TraceParent: c[tracing.TraceParentKey], TraceState: c[tracing.TraceStateKey]})
}

func TestTraceContext(t *testing.T) {
	traced := tracing.Context{TraceParent: testParent, TraceState: "rojo=00f067aa0ba902b7"}
	other := tracing.Context{TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.client(t)
			traceCtx := withTrace(ctx, traced)
			type seen struct{ task, ctx tracing.Context }
			got := make(chan seen, 64)
			start := func(t *testing.T, queue string, popts []ProducerOption, wopts ...WorkerOption) *Producer {
				p := newProducer(t, c, popts...)
				w := newWorker(t, c, queue, append([]WorkerOption{WithBackoff(func(int, error) time.Duration { return time.Millisecond }),
					WithPromoteInterval(10 * time.Millisecond)}, wopts...)...)
				var fails atomic.Int32
				w.Handle("ok", func(ctx context.Context, tk *Task) error {
					tc, _ := ctx.Value(traceKey{}).(tracing.Context)
					got <- seen{tk.Trace, tc}
					return nil
				})
				w.Handle("fail-once", func(ctx context.Context, tk *Task) error {
					tc, _ := ctx.Value(traceKey{}).(tracing.Context)
					got <- seen{tk.Trace, tc}
					if fails.Add(1) == 1 {
						return context.DeadlineExceeded
					}
					return nil
				})
				runWorker(t, w)
				return p
			}
			next := func(t *testing.T) seen {
				t.Helper()
				select {
				case s := <-got:
					return s
				case <-time.After(10 * time.Second):
					t.Fatal("handler not called")
					return seen{}
				}
			}
			both := []ProducerOption{WithProducerPropagator(ctxProp{})}

			t.Run("stored and extracted", func(t *testing.T) {
				p := start(t, "q1", both, WithWorkerPropagator(ctxProp{}))
				if _, err := p.Push(traceCtx, "q1", Task{Name: "ok"}); err != nil {
					t.Fatal(err)
				}
				if s := next(t); s.task != traced || s.ctx != traced {
					t.Fatalf("handler saw %+v", s)
				}
			})
			t.Run("batch, delayed and unique", func(t *testing.T) {
				p := start(t, "q2", both, WithWorkerPropagator(ctxProp{}))
				tasks := []Task{{Name: "ok"}, {Name: "ok", Delay: 20 * time.Millisecond}, {Name: "ok", ID: "u1"}, {Name: "ok", Trace: other}}
				if _, errs, err := p.PushBatch(traceCtx, "q2", tasks); err != nil || errs[0] != nil || errs[2] != nil {
					t.Fatal(err, errs)
				}
				n := map[tracing.Context]int{}
				for range tasks {
					s := next(t)
					if s.task != s.ctx {
						t.Fatalf("handler context %+v, task %+v", s.ctx, s.task)
					}
					n[s.task]++
				}
				if n[traced] != 3 || n[other] != 1 {
					t.Fatalf("trace contexts seen: %v (the one set on a task wins over ctx's)", n)
				}
			})
			t.Run("retry keeps it", func(t *testing.T) {
				p := start(t, "q3", both, WithWorkerPropagator(ctxProp{}))
				if _, err := p.Push(traceCtx, "q3", Task{Name: "fail-once"}); err != nil {
					t.Fatal(err)
				}
				for attempt := 1; attempt <= 2; attempt++ {
					if s := next(t); s.task != traced || s.ctx != traced {
						t.Fatalf("attempt %d saw %+v", attempt, s)
					}
				}
			})
			t.Run("dead letter and requeue keep it", func(t *testing.T) {
				p := newProducer(t, c, both...)
				if _, err := p.Push(traceCtx, "q4", Task{Name: "ok", MaxAttempts: 1}); err != nil {
					t.Fatal(err)
				}
				// Nobody handles "ok" on q4's first worker: dead-lettered as unknown.
				w := newWorker(t, c, "q4")
				w.Handle("other", func(context.Context, *Task) error { return nil })
				stop := runWorker(t, w)
				in, err := NewInspector(c, WithInspectorPrefix(prefix(t)))
				if err != nil {
					t.Fatal(err)
				}
				var dead []DeadTask
				waitFor(t, 10*time.Second, "dead task", func() bool {
					dead, _ = in.Dead(ctx, "q4", 10)
					return len(dead) == 1
				})
				stop()
				if dead[0].Task == nil || dead[0].Task.Trace != traced {
					t.Fatalf("dead task %+v", dead[0].Task)
				}
				start(t, "q4", nil, WithWorkerPropagator(ctxProp{}))
				if _, err := in.RequeueDead(ctx, "q4", dead[0].ID); err != nil {
					t.Fatal(err)
				}
				if s := next(t); s.task != traced || s.ctx != traced {
					t.Fatalf("requeued task saw %+v", s)
				}
			})
			t.Run("invalid dropped", func(t *testing.T) {
				p := start(t, "q5", both, WithWorkerPropagator(ctxProp{}))
				junk := withTrace(ctx, tracing.Context{TraceParent: "00-xyz", TraceState: "a=b"})
				if _, err := p.Push(junk, "q5", Task{Name: "ok", Trace: tracing.Context{TraceParent: "junk"}}); err != nil {
					t.Fatal(err)
				}
				if s := next(t); !s.task.IsZero() || !s.ctx.IsZero() {
					t.Fatalf("invalid trace context delivered: %+v", s)
				}
			})
			t.Run("none without propagator or trace", func(t *testing.T) {
				p := start(t, "q6", nil, WithWorkerPropagator(ctxProp{}))
				if _, err := p.Push(traceCtx, "q6", Task{Name: "ok"}); err != nil {
					t.Fatal(err)
				}
				if s := next(t); !s.task.IsZero() || !s.ctx.IsZero() {
					t.Fatalf("no producer propagator, yet %+v", s)
				}
				p = newProducer(t, c, both...)
				if _, err := p.Push(ctx, "q6", Task{Name: "ok"}); err != nil {
					t.Fatal(err)
				}
				if s := next(t); !s.task.IsZero() || !s.ctx.IsZero() {
					t.Fatalf("ctx without trace context, yet %+v", s)
				}
				// Nothing stored: the encoding has no trailing fields.
				if _, err := p.Push(ctx, "q6-later", Task{Name: "ok", Delay: time.Hour}); err != nil {
					t.Fatal(err)
				}
				k, _ := newQueueKeys(keysFor(t), "q6-later")
				raw, err := c.ZRange(ctx, k.delayed, 0, -1).Result()
				if err != nil || len(raw) != 1 {
					t.Fatal(raw, err)
				}
				if tk, err := decode(raw[0]); err != nil || len(encode(tk)) != len(raw[0]) {
					t.Fatalf("stored %q (%v): trailing fields without a trace context", raw[0], err)
				}
			})
			t.Run("worker without propagator", func(t *testing.T) {
				p := start(t, "q7", both)
				if _, err := p.Push(traceCtx, "q7", Task{Name: "ok"}); err != nil {
					t.Fatal(err)
				}
				if s := next(t); s.task != traced || !s.ctx.IsZero() {
					t.Fatalf("handler saw %+v", s)
				}
			})
		})
	}
}
