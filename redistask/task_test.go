package redistask

import (
	"bytes"
	"errors"
	"testing"
	"time"
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

func FuzzDecode(f *testing.F) {
	f.Add(encode(&Task{Name: "n", Payload: []byte("p")}))
	f.Add("")
	f.Add("\x01\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, s string) {
		task, err := decode(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decode(encode(task))
		if err != nil || again.Name != task.Name || !bytes.Equal(again.Payload, task.Payload) || again.Attempt != task.Attempt {
			t.Fatalf("re-encode mismatch: %+v vs %+v (%v)", task, again, err)
		}
	})
}
