package redistask

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/tracing"
)

func TestEncodeRoundTrip(t *testing.T) {
	in := &Task{ID: "id-1", Name: "email", Payload: []byte{0, 1, 2, 0xff}, Attempt: 3, MaxAttempts: 7,
		Timeout: 1500 * time.Millisecond, EnqueuedAt: time.UnixMilli(1700000000123), LastError: "boom"}
	out, err := decode(encode(in))
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Name != in.Name || !bytes.Equal(out.Payload, in.Payload) || out.Attempt != 3 ||
		out.MaxAttempts != 7 || out.Timeout != in.Timeout || !out.EnqueuedAt.Equal(in.EnqueuedAt) || out.LastError != "boom" {
		t.Fatalf("round trip: %+v", out)
	}
	if a, b := encode(in), encode(in); a == b {
		t.Fatal("two encodings of one task are identical: sorted-set members would merge")
	}
	for _, bad := range []string{"", "x", "\x02abcdefgh", encode(in)[:12], encode(in) + "z"} {
		if _, err := decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
}

const testParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestEncodeTrace(t *testing.T) {
	// An entry written before tasks carried a trace context: version 1,
	// nonce, id, name, payload, last error, four numbers, nothing after.
	old := []byte{1, 'n', 'o', 'n', 'c', 'e', '.', '.', '.'}
	for _, s := range []string{"id-1", "email", "pay", "boom"} {
		old = binary.AppendUvarint(old, uint64(len(s)))
		old = append(old, s...)
	}
	for _, n := range []uint64{2, 7, 1500, 1700000000123} {
		old = binary.AppendUvarint(old, n)
	}
	got, err := decode(string(old))
	if err != nil || got.Name != "email" || got.Attempt != 2 || got.LastError != "boom" || !got.Trace.IsZero() {
		t.Fatalf("old entry: %+v, %v", got, err)
	}
	// A task without a trace context still encodes that way.
	if enc := encode(got); len(enc) != len(old) || enc[9:] != string(old[9:]) {
		t.Fatalf("encoding without trace context changed:\n%q\n%q", enc, old)
	}

	for _, tc := range []struct {
		name string
		in   tracing.Context
		want tracing.Context
	}{
		{"parent and state", tracing.Context{TraceParent: testParent, TraceState: "rojo=00f067aa0ba902b7"}, tracing.Context{TraceParent: testParent, TraceState: "rojo=00f067aa0ba902b7"}},
		{"parent only", tracing.Context{TraceParent: testParent}, tracing.Context{TraceParent: testParent}},
		{"invalid parent not stored", tracing.Context{TraceParent: strings.ToUpper(testParent), TraceState: "a=b"}, tracing.Context{}},
		{"state without parent not stored", tracing.Context{TraceState: "a=b"}, tracing.Context{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &Task{EnqueuedAt: time.UnixMilli(1), Name: "n", Payload: []byte("p"), Attempt: 1, Trace: tc.in}
			enc := encode(task)
			out, err := decode(enc)
			if err != nil || out.Trace != tc.want || out.Name != "n" || out.Attempt != 1 {
				t.Fatalf("round trip: %+v, %v", out, err)
			}
			if tc.want.IsZero() && len(enc) != len(encode(&Task{EnqueuedAt: time.UnixMilli(1), Name: "n", Payload: []byte("p"), Attempt: 1})) {
				t.Fatal("a dropped trace context left bytes in the encoding")
			}
		})
	}

	traced := encode(&Task{EnqueuedAt: time.UnixMilli(1), Name: "n", Trace: tracing.Context{TraceParent: testParent}})
	onlyParent := encode(&Task{EnqueuedAt: time.UnixMilli(1), Name: "n"}) + "\x37" + testParent // trailing tracestate absent
	if got, err := decode(onlyParent); err != nil || got.Trace.TraceParent != testParent {
		t.Fatalf("trailer without tracestate: %+v, %v", got, err)
	}
	for _, bad := range []string{traced + "\x00", traced[:len(traced)-3], encode(&Task{EnqueuedAt: time.UnixMilli(1), Name: "n"}) + "\x40x"} {
		if _, err := decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decode(%q) = %v, want ErrCorrupt", bad, err)
		}
	}
	// Junk stored by someone else decodes without a trace context.
	junk := encode(&Task{EnqueuedAt: time.UnixMilli(1), Name: "n"}) + "\x05hello\x00"
	if got, err := decode(junk); err != nil || !got.Trace.IsZero() {
		t.Fatalf("junk traceparent: %+v, %v", got, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(&Task{Name: "n", Payload: []byte("p")}))
	f.Add(encode(&Task{Name: "n", Trace: tracing.Context{TraceParent: testParent, TraceState: "a=b"}}))
	f.Add("")
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		task, err := decode(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decode(encode(task))
		if err != nil || again.Name != task.Name || !bytes.Equal(again.Payload, task.Payload) || again.Attempt != task.Attempt || again.Trace != task.Trace {
			t.Fatalf("re-encode mismatch: %+v vs %+v (%v)", task, again, err)
		}
	})
}
