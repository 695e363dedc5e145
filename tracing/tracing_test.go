package tracing

import (
	"context"
	"strings"
	"testing"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestValid(t *testing.T) {
	long := strings.Repeat("a", 120)
	members := make([]string, 6)
	for i := range members {
		members[i] = string(rune('a'+i)) + "=" + long // 122 bytes each
	}
	for _, tc := range []struct {
		name string
		in   Context
		want Context
	}{
		{"zero", Context{}, Context{}},
		{"version 00", Context{TraceParent: tp}, Context{TraceParent: tp}},
		{"with state", Context{tp, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}, Context{tp, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}},
		{"state without parent", Context{TraceState: "a=b"}, Context{}},
		{"uppercase hex", Context{TraceParent: strings.ToUpper(tp)}, Context{}},
		{"version ff", Context{TraceParent: "ff" + tp[2:]}, Context{}},
		{"zero trace id", Context{TraceParent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, Context{}},
		{"zero span id", Context{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}, Context{}},
		{"short", Context{TraceParent: tp[:54]}, Context{}},
		{"00 with extra field", Context{TraceParent: tp + "-00"}, Context{}},
		{"future version with extra field", Context{TraceParent: "01" + tp[2:] + "-xyz"}, Context{TraceParent: "01" + tp[2:] + "-xyz"}},
		{"future version, no dash after flags", Context{TraceParent: "01" + tp[2:] + "x"}, Context{}},
		{"bad separator", Context{TraceParent: strings.Replace(tp, "-", "_", 1)}, Context{}},
		{"junk", Context{TraceParent: "hello", TraceState: "a=b"}, Context{}},
		{"state with control byte", Context{tp, "a=b\n"}, Context{TraceParent: tp}},
		{"state with non-ASCII", Context{tp, "a=é"}, Context{TraceParent: tp}},
		{"long state cut at members", Context{tp, strings.Join(members, ", ")}, Context{tp, strings.Join(members[:4], ", ")}},
		{"long state, one member", Context{tp, "a=" + strings.Repeat("b", 600)}, Context{TraceParent: tp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.Valid()
			if got != tc.want {
				t.Fatalf("Valid(%+v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if len(got.TraceState) > MaxTraceState {
				t.Fatalf("tracestate of %d bytes kept", len(got.TraceState))
			}
		})
	}
}

// mapProp injects a fixed carrier and extracts into a context value.
type mapProp struct{ inject map[string]string }

type carrierKey struct{}

func (p mapProp) Inject(_ context.Context, c map[string]string) {
	for k, v := range p.inject {
		c[k] = v
	}
}

func (mapProp) Extract(ctx context.Context, c map[string]string) context.Context {
	return context.WithValue(ctx, carrierKey{}, c)
}

func TestInjectExtract(t *testing.T) {
	ctx := t.Context()
	if got := Inject(ctx, nil); !got.IsZero() {
		t.Fatalf("nil propagator injected %+v", got)
	}
	p := mapProp{map[string]string{TraceParentKey: tp, TraceStateKey: "a=b", "baggage": "k=v"}}
	got := Inject(ctx, p)
	if got != (Context{tp, "a=b"}) {
		t.Fatalf("Inject = %+v", got)
	}
	if got := Inject(ctx, mapProp{map[string]string{TraceParentKey: "junk", TraceStateKey: "a=b"}}); !got.IsZero() {
		t.Fatalf("invalid traceparent injected as %+v", got)
	}

	if Extract(ctx, nil, got) != ctx || Extract(ctx, p, Context{}) != ctx || Extract(ctx, p, Context{TraceParent: "junk"}) != ctx {
		t.Fatal("Extract without propagator or valid context must return ctx itself")
	}
	c, _ := Extract(ctx, p, got).Value(carrierKey{}).(map[string]string)
	if len(c) != 2 || c[TraceParentKey] != tp || c[TraceStateKey] != "a=b" {
		t.Fatalf("Extract carrier = %v", c)
	}
	c, _ = Extract(ctx, p, Context{TraceParent: tp}).Value(carrierKey{}).(map[string]string)
	if len(c) != 1 {
		t.Fatalf("Extract carrier without tracestate = %v", c)
	}
}

// FuzzValid: whatever Valid returns is valid again, unchanged, and within
// the limits.
func FuzzValid(f *testing.F) {
	f.Add(tp, "a=b,c=d")
	f.Add("01"+tp[2:]+"-x", strings.Repeat("k=v,", 200))
	f.Add("", "a=b")
	f.Fuzz(func(t *testing.T, parent, state string) {
		got := Context{parent, state}.Valid()
		if again := got.Valid(); again != got {
			t.Fatalf("Valid not idempotent: %+v then %+v", got, again)
		}
		if got.TraceParent == "" && got.TraceState != "" {
			t.Fatalf("tracestate kept without traceparent: %+v", got)
		}
		if len(got.TraceState) > MaxTraceState || len(got.TraceParent) > maxTraceParent {
			t.Fatalf("over the limits: %+v", got)
		}
	})
}
