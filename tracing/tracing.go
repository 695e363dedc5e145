// Package tracing carries a W3C trace context (the traceparent and
// tracestate headers) from the code that pushes a task or publishes an
// event to the code that handles it, so a tracing setup can link the
// producer's and the consumer's spans. It depends on no tracing library:
// a Propagator moves the context between a context.Context and the two
// fields, and the module github.com/go-sync/sync/otelsync adapts
// OpenTelemetry's propagators to it.
//
// Only the two W3C fields are stored. A traceparent that is not
// version-traceid-spanid-flags in lowercase hex, or whose ids are all
// zeros, is dropped with its tracestate; a tracestate is kept to printable
// ASCII and at most MaxTraceState bytes (whole list members are dropped
// from the end, as the W3C recommendation allows).
package tracing

import (
	"context"
	"strings"
)

// Carrier keys: the W3C header names, as a Propagator reads and writes them.
const (
	TraceParentKey = "traceparent"
	TraceStateKey  = "tracestate"
)

// Limits of the stored fields.
const (
	// MaxTraceState is the longest tracestate kept, in bytes (the W3C
	// recommendation's limit for propagating it).
	MaxTraceState = 512
	// maxTraceParent bounds a traceparent of a future version, which may
	// carry fields after the four of version 00.
	maxTraceParent = 256
)

// Propagator injects the trace context of a context.Context into a carrier
// and extracts it back. OpenTelemetry's propagation.TextMapPropagator does
// this through a propagation.MapCarrier (a map[string]string): see
// github.com/go-sync/sync/otelsync. Implementations must be safe for
// concurrent use; keys other than TraceParentKey and TraceStateKey are
// ignored.
type Propagator interface {
	// Inject writes the trace context of ctx, if any, into carrier.
	Inject(ctx context.Context, carrier map[string]string)
	// Extract returns ctx carrying the trace context found in carrier as
	// the remote parent.
	Extract(ctx context.Context, carrier map[string]string) context.Context
}

// Context is a W3C trace context as a task or an event carries it. The
// zero value carries none.
type Context struct {
	TraceParent string // "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"
	TraceState  string // vendor entries, "k1=v1,k2=v2"; only with a TraceParent
}

// IsZero reports whether c carries no trace context.
func (c Context) IsZero() bool { return c.TraceParent == "" && c.TraceState == "" }

// Valid returns c without what may not be stored: the zero Context when
// TraceParent is malformed, and TraceState dropped when it holds anything
// but printable ASCII, or cut to at most MaxTraceState bytes at a list
// member boundary.
func (c Context) Valid() Context {
	if !validTraceParent(c.TraceParent) {
		return Context{}
	}
	c.TraceState = capTraceState(c.TraceState)
	return c
}

// Inject returns the valid trace context that p injects from ctx; the zero
// Context when p is nil or ctx carries none.
func Inject(ctx context.Context, p Propagator) Context {
	if p == nil {
		return Context{}
	}
	m := make(map[string]string, 2)
	p.Inject(ctx, m)
	return Context{TraceParent: m[TraceParentKey], TraceState: m[TraceStateKey]}.Valid()
}

// Extract returns ctx carrying c as its remote parent, through p; ctx
// itself when p is nil or c is zero or invalid.
func Extract(ctx context.Context, p Propagator, c Context) context.Context {
	c = c.Valid()
	if p == nil || c.TraceParent == "" {
		return ctx
	}
	m := map[string]string{TraceParentKey: c.TraceParent}
	if c.TraceState != "" {
		m[TraceStateKey] = c.TraceState
	}
	return p.Extract(ctx, m)
}

// validTraceParent checks version "-" trace-id "-" parent-id "-" flags:
// lowercase hex, version not ff, ids not all zeros; version 00 has exactly
// these four fields, a later version may append "-" and more.
func validTraceParent(s string) bool {
	if len(s) < 55 || len(s) > maxTraceParent || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if !isHex(s[0:2]) || !isHex(s[3:35]) || !isHex(s[36:52]) || !isHex(s[53:55]) {
		return false
	}
	switch {
	case s[0:2] == "ff":
		return false
	case s[0:2] == "00" && len(s) != 55:
		return false
	case len(s) > 55 && (s[55] != '-' || !printable(s)):
		return false
	}
	return strings.Trim(s[3:35], "0") != "" && strings.Trim(s[36:52], "0") != ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// capTraceState returns s if it is printable ASCII of at most
// MaxTraceState bytes; a longer one loses list members from the end
// (the least recently updated vendors) until it fits; anything else "".
func capTraceState(s string) string {
	if !printable(s) {
		return ""
	}
	for len(s) > MaxTraceState {
		i := strings.LastIndexByte(s, ',')
		if i < 0 {
			return ""
		}
		s = strings.TrimRight(s[:i], " ")
	}
	return s
}
