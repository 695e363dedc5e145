package event

import (
	"math"
	"testing"
	"time"
)

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-3", "18446744073709551615-18446744073709551615", "-", "1-", "a-b", "1-2-3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOffset(s)
		if err != nil {
			return
		}
		back, err := ParseOffset(o.String())
		if err != nil || back != o {
			t.Fatalf("%q -> %v -> %v, %v", s, o, back, err)
		}
	})
}

func TestOffsetPrevAndOrder(t *testing.T) {
	tests := []struct{ in, want Offset }{
		{Offset{5, 3}, Offset{5, 2}},
		{Offset{5, 0}, Offset{4, math.MaxUint64}},
		{Offset{0, 0}, Offset{0, 0}},
	}
	for _, tt := range tests {
		if got := tt.in.prev(); got != tt.want {
			t.Errorf("%v.prev() = %v, want %v", tt.in, got, tt.want)
		}
		if tt.in != (Offset{}) && !tt.in.prev().Less(tt.in) {
			t.Errorf("%v.prev() not before it", tt.in)
		}
	}
	if got := (Offset{Ms: 1500}).Time(); !got.Equal(time.UnixMilli(1500)) {
		t.Errorf("Time() = %v", got)
	}
}
