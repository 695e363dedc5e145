// Package otelsync connects Go Sync's trace context propagation to
// OpenTelemetry. It is a module of its own, as go-redis ships
// extra/redisotel, so the core module never depends on OpenTelemetry.
//
// Tasks and events then carry the W3C trace context of the code that
// pushed or published them, and handlers' contexts carry it as the remote
// parent, so a span a handler starts from its ctx is a child of the
// producer's span:
//
//	s := gosync.New(client, gosync.WithPropagator(otelsync.Propagator(propagation.TraceContext{})))
//
// or, on the packages themselves, redistask.WithProducerPropagator,
// redistask.WithWorkerPropagator and event.WithPropagator.
package otelsync

import (
	"context"

	"github.com/go-sync/sync/tracing"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Propagator returns a tracing.Propagator that injects and extracts
// through p. A nil p means the global propagator,
// otel.GetTextMapPropagator(), looked up at each call, so one set later
// with otel.SetTextMapPropagator is used; the global default propagates
// nothing until it is set. Only the W3C traceparent and tracestate that p
// writes are stored with a task or event, so p should include
// propagation.TraceContext{}. The result is safe for concurrent use.
func Propagator(p propagation.TextMapPropagator) tracing.Propagator { return propagator{p} }

type propagator struct{ p propagation.TextMapPropagator }

func (a propagator) get() propagation.TextMapPropagator {
	if a.p != nil {
		return a.p
	}
	return otel.GetTextMapPropagator()
}

func (a propagator) Inject(ctx context.Context, carrier map[string]string) {
	a.get().Inject(ctx, propagation.MapCarrier(carrier))
}

func (a propagator) Extract(ctx context.Context, carrier map[string]string) context.Context {
	return a.get().Extract(ctx, propagation.MapCarrier(carrier))
}
