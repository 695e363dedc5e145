package ntptime

import (
	"testing"
	"time"
)

// syncedClock returns a Clock over the system clock with one anchor
// published, and no goroutine.
func syncedClock(b *testing.B) *Clock {
	b.Helper()
	src, err := NewLocal(time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	c, err := newClock(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Sync(b.Context()); err != nil {
		b.Fatal(err)
	}
	return c
}

var sinkReading Reading

// BenchmarkClockNow is the hot path: one atomic load, one monotonic clock
// read, no lock, no allocation. The target is <= 100 ns/op, 0 allocs/op.
func BenchmarkClockNow(b *testing.B) {
	c := syncedClock(b)
	b.ReportAllocs()
	for b.Loop() {
		sinkReading = c.Now()
	}
}

func BenchmarkClockNowParallel(b *testing.B) {
	c := syncedClock(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var r Reading
		for pb.Next() {
			r = c.Now()
		}
		_ = r
	})
}

// BenchmarkTimeNow is the floor: Go's time.Now (wall and monotonic).
func BenchmarkTimeNow(b *testing.B) {
	var t time.Time
	for b.Loop() {
		t = time.Now()
	}
	_ = t
}

func BenchmarkHLCNow(b *testing.B) {
	h, err := NewHLC(syncedClock(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var ts Timestamp
	for b.Loop() {
		ts = h.Now()
	}
	_ = ts
}

func BenchmarkParseTimestamp(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseTimestamp("1714564800123.7"); err != nil {
			b.Fatal(err)
		}
	}
}
