package ntptime

import (
	"errors"
	"math"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fakePhys is a physical clock reading a settable millisecond count.
type fakePhys struct{ ms atomic.Int64 }

func (f *fakePhys) Now() Reading {
	t := time.UnixMilli(f.ms.Load()).UTC()
	return Reading{Earliest: t, Latest: t, Best: t, Status: Synchronized}
}

func newHLC(t interface{ Fatal(...any) }, phys Reader, opts ...HLCOption) *HLC {
	h, err := NewHLC(phys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const epochMs = 1_700_000_000_000

// TestHLCPropertyMonotonic: whatever the physical clock does (advance,
// stand still, step back) and whatever is received, every timestamp
// returned is greater than all before it and than the remote one, and a
// rejected update changes nothing.
func TestHLCPropertyMonotonic(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		phys := &fakePhys{}
		phys.ms.Store(epochMs)
		maxOff := time.Duration(rapid.IntRange(1, 1000).Draw(rt, "maxOffsetMs")) * time.Millisecond
		h := newHLC(rt, phys, WithMaxOffset(maxOff))
		var last Timestamp
		for i := range rapid.IntRange(1, 200).Draw(rt, "ops") {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0: // physical clock moves, possibly backwards
				phys.ms.Add(int64(rapid.IntRange(-50, 100).Draw(rt, "dms")))
			case 1:
				ts := h.Now()
				if ts <= last {
					rt.Fatalf("op %d: Now %v not after %v", i, ts, last)
				}
				if ts.Millis() < phys.ms.Load() {
					rt.Fatalf("op %d: Now %v behind the physical clock %d", i, ts, phys.ms.Load())
				}
				last = ts
			default:
				remote := pack(phys.ms.Load()+int64(rapid.IntRange(-2000, 2000).Draw(rt, "rdms")),
					uint16(rapid.IntRange(0, maxLogical).Draw(rt, "rlogical")))
				ts, err := h.Update(remote)
				if err != nil {
					var oe *OffsetError
					if !errors.As(err, &oe) || !errors.Is(err, ErrMaxOffset) {
						rt.Fatalf("op %d: Update error %v is not an *OffsetError", i, err)
					}
					if remote.Millis()-phys.ms.Load() <= maxOff.Milliseconds() {
						rt.Fatalf("op %d: rejected %v, only %dms ahead (max %v)", i, remote, remote.Millis()-phys.ms.Load(), maxOff)
					}
					if h.Last() != last {
						rt.Fatalf("op %d: rejected update moved the clock from %v to %v", i, last, h.Last())
					}
					continue
				}
				if remote.Millis()-phys.ms.Load() > maxOff.Milliseconds() {
					rt.Fatalf("op %d: accepted %v, %dms ahead (max %v)", i, remote, remote.Millis()-phys.ms.Load(), maxOff)
				}
				if ts <= last || ts <= remote {
					rt.Fatalf("op %d: Update(%v) = %v, not after %v and the remote", i, remote, ts, last)
				}
				last = ts
			}
		}
	})
}

// TestHLCPropertyCausalAndBounded simulates nodes with skewed physical
// clocks exchanging messages. Happens-before is tracked with vector
// clocks; every pair of events e -> f must have ts(e) < ts(f), and every
// timestamp must lie between its node's physical reading and the largest
// physical reading of any node at that moment.
func TestHLCPropertyCausalAndBounded(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(rt, "nodes")
		const skewMax = 100 // ms
		type node struct {
			phys *fakePhys
			skew int64
			hlc  *HLC
			vc   []int
		}
		type event struct {
			node int
			ts   Timestamp
			vc   []int
		}
		type message struct {
			to int
			ev event
		}
		global := int64(epochMs)
		nodes := make([]*node, n)
		for i := range nodes {
			nd := &node{phys: &fakePhys{}, skew: int64(rapid.IntRange(-skewMax, skewMax).Draw(rt, "skew")), vc: make([]int, n)}
			nd.phys.ms.Store(global + nd.skew)
			// Clocks within ±100ms of each other differ by at most 200ms.
			nd.hlc = newHLC(rt, nd.phys, WithMaxOffset(2*skewMax*time.Millisecond))
			nodes[i] = nd
		}
		var events []event
		var inflight []message
		record := func(i int, ts Timestamp) event {
			nd := nodes[i]
			nd.vc[i]++
			ev := event{node: i, ts: ts, vc: slices.Clone(nd.vc)}
			pt, hi := nd.phys.ms.Load(), int64(math.MinInt64)
			for _, o := range nodes {
				hi = max(hi, o.phys.ms.Load())
			}
			if ts.Millis() < pt || ts.Millis() > hi {
				rt.Fatalf("node %d: timestamp %v outside [own physical %d, max physical %d]", i, ts, pt, hi)
			}
			events = append(events, ev)
			return ev
		}
		for range rapid.IntRange(1, 150).Draw(rt, "ops") {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0: // time passes
				global += int64(rapid.IntRange(0, 30).Draw(rt, "dt"))
				for _, nd := range nodes {
					nd.phys.ms.Store(global + nd.skew)
				}
			case 1: // local event
				i := rapid.IntRange(0, n-1).Draw(rt, "local")
				record(i, nodes[i].hlc.Now())
			case 2: // send
				i := rapid.IntRange(0, n-1).Draw(rt, "from")
				j := rapid.IntRange(0, n-1).Draw(rt, "to")
				ev := record(i, nodes[i].hlc.Now())
				inflight = append(inflight, message{to: j, ev: ev})
			case 3: // receive (in any order)
				if len(inflight) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(inflight)-1).Draw(rt, "msg")
				m := inflight[k]
				inflight = slices.Delete(inflight, k, k+1)
				nd := nodes[m.to]
				ts, err := nd.hlc.Update(m.ev.ts)
				if err != nil {
					rt.Fatalf("node %d rejected %v from node %d within the skew bound: %v", m.to, m.ev.ts, m.ev.node, err)
				}
				for x := range nd.vc {
					nd.vc[x] = max(nd.vc[x], m.ev.vc[x])
				}
				record(m.to, ts)
			}
		}
		happenedBefore := func(a, b event) bool {
			le := true
			for x := range a.vc {
				le = le && a.vc[x] <= b.vc[x]
			}
			return le && !slices.Equal(a.vc, b.vc)
		}
		for _, a := range events {
			for _, b := range events {
				if happenedBefore(a, b) && a.ts >= b.ts {
					rt.Fatalf("event at node %d (%v) happened before event at node %d (%v) but is not ordered before it", a.node, a.ts, b.node, b.ts)
				}
			}
		}
	})
}

func TestHLCLogicalOverflowCarries(t *testing.T) {
	phys := &fakePhys{}
	phys.ms.Store(epochMs)
	h := newHLC(t, phys)
	ts, err := h.Update(pack(epochMs, maxLogical))
	if err != nil {
		t.Fatal(err)
	}
	if ts != pack(epochMs+1, 0) {
		t.Fatalf("after logical %d: %v, want the next millisecond", maxLogical, ts)
	}
	if next := h.Now(); next != pack(epochMs+1, 1) {
		t.Fatalf("Now = %v", next)
	}
	phys.ms.Store(epochMs + 5)
	if next := h.Now(); next != pack(epochMs+5, 0) {
		t.Fatalf("Now after the physical clock passed = %v", next)
	}
}

func TestHLCRejectsFarAhead(t *testing.T) {
	phys := &fakePhys{}
	phys.ms.Store(epochMs)
	h := newHLC(t, phys, WithMaxOffset(250*time.Millisecond))
	before := h.Now()
	remote := pack(epochMs+251, 0)
	_, err := h.Update(remote)
	var oe *OffsetError
	if !errors.As(err, &oe) || !errors.Is(err, ErrMaxOffset) {
		t.Fatalf("Update = %v, want an *OffsetError", err)
	}
	if oe.Remote != remote || oe.MaxOffset != 250*time.Millisecond || oe.Ahead() != 251*time.Millisecond {
		t.Fatalf("OffsetError %+v, ahead %v", oe, oe.Ahead())
	}
	if h.Last() != before {
		t.Fatal("a rejected update moved the clock")
	}
	if _, err := h.Update(pack(epochMs+250, 7)); err != nil {
		t.Fatalf("at exactly the max offset: %v", err)
	}
	if _, err := NewHLC(phys, WithMaxOffset(time.Microsecond)); err == nil {
		t.Fatal("NewHLC accepted a max offset under 1ms")
	}
	if _, err := NewHLC(nil); err == nil {
		t.Fatal("NewHLC accepted a nil Reader")
	}
}

func TestHLCConcurrent(t *testing.T) {
	src, err := NewLocal(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	h := newHLC(t, src)
	const workers, each = 8, 5000
	out := make([][]Timestamp, workers)
	var wg stdsync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				out[w] = append(out[w], h.Now())
			}
		})
	}
	wg.Wait()
	seen := map[Timestamp]bool{}
	for _, ts := range out {
		if !slices.IsSorted(ts) {
			t.Fatal("a goroutine saw timestamps go back")
		}
		for _, x := range ts {
			if seen[x] {
				t.Fatalf("timestamp %v issued twice", x)
			}
			seen[x] = true
		}
	}
}

func TestTimestampEncoding(t *testing.T) {
	phys := time.Date(2024, 5, 1, 12, 0, 0, 123_456_789, time.UTC)
	ts, err := NewTimestamp(phys, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Millis() != phys.UnixMilli() || ts.Logical() != 7 || !ts.Time().Equal(phys.Truncate(time.Millisecond)) {
		t.Fatalf("unpacked %d %d %v", ts.Millis(), ts.Logical(), ts.Time())
	}
	if got := ts.String(); got != "2024-05-01T12:00:00.123Z+7" {
		t.Fatalf("String = %q", got)
	}
	txt, _ := ts.MarshalText()
	if string(txt) != "1714564800123.7" {
		t.Fatalf("text %q", txt)
	}
	var back Timestamp
	if err := back.UnmarshalText(txt); err != nil || back != ts {
		t.Fatalf("text round trip: %v %v", back, err)
	}
	bin, _ := ts.MarshalBinary()
	if len(bin) != 8 {
		t.Fatalf("binary %x", bin)
	}
	back = 0
	if err := back.UnmarshalBinary(bin); err != nil || back != ts {
		t.Fatalf("binary round trip: %v %v", back, err)
	}
	later, _ := NewTimestamp(phys, 8)
	if ts.Compare(later) != -1 || later.Compare(ts) != 1 || ts.Compare(ts) != 0 {
		t.Fatal("Compare")
	}
	for _, bad := range []time.Time{time.Unix(-1, 0), time.UnixMilli(maxPhysical + 1)} {
		if _, err := NewTimestamp(bad, 0); !errors.Is(err, ErrInvalidTimestamp) {
			t.Errorf("NewTimestamp(%v) = %v", bad, err)
		}
	}
	for _, bad := range []string{"", ".", "1.", ".1", "1", "a.b", "-1.0", "1.65536", "281474976710656.0", "1.2.3", " 1.2", "+1.2"} {
		if _, err := ParseTimestamp(bad); !errors.Is(err, ErrInvalidTimestamp) {
			t.Errorf("ParseTimestamp(%q) = %v", bad, err)
		}
	}
	if err := back.UnmarshalBinary(make([]byte, 7)); !errors.Is(err, ErrInvalidTimestamp) {
		t.Errorf("UnmarshalBinary of 7 bytes = %v", err)
	}
}
