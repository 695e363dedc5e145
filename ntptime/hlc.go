package ntptime

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Timestamp is a hybrid logical clock timestamp packed into 64 bits: the
// high 48 bits are the physical part, milliseconds since the Unix epoch
// (enough until the year 10889), the low 16 bits the logical counter.
// Timestamps compare as unsigned integers: t < u means t happened before u
// or is concurrent with it. The zero Timestamp precedes all others.
type Timestamp uint64

// LogicalBits is the width of a Timestamp's logical counter.
const LogicalBits = 16

const (
	maxLogical  = 1<<LogicalBits - 1
	maxPhysical = 1<<(64-LogicalBits) - 1
)

// NewTimestamp packs a physical time (truncated to the millisecond) and a
// logical counter. It fails with ErrInvalidTimestamp for a time before
// 1970 or after the 48-bit range.
func NewTimestamp(physical time.Time, logical uint16) (Timestamp, error) {
	ms := physical.UnixMilli()
	if physical.Unix() >= 1<<53 || physical.Unix() < 0 || ms < 0 || ms > maxPhysical {
		return 0, fmt.Errorf("%w: %v outside the 48-bit millisecond range", ErrInvalidTimestamp, physical)
	}
	return pack(ms, logical), nil
}

func pack(ms int64, logical uint16) Timestamp {
	return Timestamp(uint64(ms)<<LogicalBits | uint64(logical))
}

// Millis returns the physical part: milliseconds since the Unix epoch.
func (t Timestamp) Millis() int64 { return int64(t >> LogicalBits) }

// Logical returns the logical counter.
func (t Timestamp) Logical() uint16 { return uint16(t & maxLogical) }

// Time returns the physical part as a time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Millis()).UTC() }

// Compare returns -1, 0 or +1 as t is before, equal to or after u.
func (t Timestamp) Compare(u Timestamp) int {
	switch {
	case t < u:
		return -1
	case t > u:
		return 1
	}
	return 0
}

// String returns the physical part in RFC 3339 with milliseconds, then
// "+" and the logical counter: "2024-05-01T12:00:00.123Z+7".
func (t Timestamp) String() string {
	return t.Time().Format("2006-01-02T15:04:05.000Z07:00") + "+" + strconv.Itoa(int(t.Logical()))
}

// AppendBinary appends the 8-byte big-endian encoding of t, which sorts
// bytewise in timestamp order.
func (t Timestamp) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(b, uint64(t)), nil
}

// MarshalBinary returns the 8-byte big-endian encoding of t.
func (t Timestamp) MarshalBinary() ([]byte, error) { return t.AppendBinary(make([]byte, 0, 8)) }

// UnmarshalBinary decodes the 8-byte encoding. It fails with
// ErrInvalidTimestamp for any other length.
func (t *Timestamp) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("%w: %d bytes, want 8", ErrInvalidTimestamp, len(b))
	}
	*t = Timestamp(binary.BigEndian.Uint64(b))
	return nil
}

// AppendText appends the text form "<millis>.<logical>", both decimal.
func (t Timestamp) AppendText(b []byte) ([]byte, error) {
	b = strconv.AppendInt(b, t.Millis(), 10)
	b = append(b, '.')
	return strconv.AppendUint(b, uint64(t.Logical()), 10), nil
}

// MarshalText returns the text form "<millis>.<logical>".
func (t Timestamp) MarshalText() ([]byte, error) { return t.AppendText(nil) }

// UnmarshalText parses the text form, as ParseTimestamp does.
func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := ParseTimestamp(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ParseTimestamp parses the text form "<millis>.<logical>" (decimal
// digits only, millis < 2^48, logical < 2^16). It fails with
// ErrInvalidTimestamp otherwise.
func ParseTimestamp(s string) (Timestamp, error) {
	ms, lg, ok := strings.Cut(s, ".")
	if !ok || !digits(ms) || !digits(lg) {
		return 0, fmt.Errorf("%w: %q is not <millis>.<logical>", ErrInvalidTimestamp, s)
	}
	m, err := strconv.ParseUint(ms, 10, 64-LogicalBits)
	if err != nil {
		return 0, fmt.Errorf("%w: millis %q: %v", ErrInvalidTimestamp, ms, err)
	}
	l, err := strconv.ParseUint(lg, 10, LogicalBits)
	if err != nil {
		return 0, fmt.Errorf("%w: logical %q: %v", ErrInvalidTimestamp, lg, err)
	}
	return pack(int64(m), uint16(l)), nil
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Reader reads time as an interval: *Clock and *LocalSource are Readers.
type Reader interface {
	Now() Reading
}

// DefaultMaxOffset is how far ahead of the local physical clock a remote
// timestamp may be before HLC.Update rejects it.
const DefaultMaxOffset = 500 * time.Millisecond

// HLCOption configures NewHLC.
type HLCOption func(*hlcOptions)

type hlcOptions struct{ maxOffset time.Duration }

// WithMaxOffset sets how far ahead of the local physical clock a remote
// timestamp may be (default 500ms); Update rejects those further ahead.
// Set it to the largest clock offset expected between nodes: about twice
// the clocks' error bound. NewHLC fails for a value under 1ms.
func WithMaxOffset(d time.Duration) HLCOption { return func(o *hlcOptions) { o.maxOffset = d } }

// HLC is a hybrid logical clock (Kulkarni, Demirbas et al., 2014) over a
// physical clock. Its timestamps never decrease, respect causality once
// every received timestamp goes through Update, and stay close to physical
// time: a timestamp's physical part is at least the physical reading when
// it was issued and at most the largest physical reading seen (locally, or
// in an accepted remote timestamp, which is at most MaxOffset ahead), plus
// one millisecond per 65536 timestamps issued within one millisecond (the
// logical counter then carries into the physical part).
//
// The physical reading is Reading.Best, in milliseconds. Now and Update
// take no lock (one compare-and-swap) and are safe for concurrent use.
type HLC struct {
	phys      Reader
	maxOffset time.Duration
	last      atomic.Uint64
}

// NewHLC returns a hybrid logical clock reading the physical time from
// phys (a *Clock over any Source, or a *LocalSource). It fails if phys is
// nil or an option is out of range.
func NewHLC(phys Reader, opts ...HLCOption) (*HLC, error) {
	if phys == nil {
		return nil, fmt.Errorf("ntptime: NewHLC called with a nil Reader")
	}
	o := hlcOptions{maxOffset: DefaultMaxOffset}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.maxOffset < time.Millisecond {
		return nil, fmt.Errorf("ntptime: WithMaxOffset(%v): need at least 1ms", o.maxOffset)
	}
	return &HLC{phys: phys, maxOffset: o.maxOffset}, nil
}

// physical returns the physical reading in milliseconds, clamped to the
// 48-bit range, and the reading's time.
func (h *HLC) physical() (int64, time.Time) {
	t := h.phys.Now().Best
	return min(max(t.UnixMilli(), 0), maxPhysical), t
}

// Now returns a timestamp for a local or send event: greater than every
// timestamp this HLC returned before.
func (h *HLC) Now() Timestamp {
	pt, _ := h.physical()
	return h.advance(0, pt)
}

// Update merges a timestamp received from another node and returns a
// timestamp for the receive event, greater than both remote and every
// timestamp this HLC returned before. If remote is more than MaxOffset
// ahead of the local physical clock it returns an *OffsetError (which
// unwraps to ErrMaxOffset) and leaves the clock unchanged.
func (h *HLC) Update(remote Timestamp) (Timestamp, error) {
	pt, t := h.physical()
	if remote.Millis()-pt > h.maxOffset.Milliseconds() {
		return 0, &OffsetError{Remote: remote, Physical: t.UTC(), MaxOffset: h.maxOffset}
	}
	return h.advance(remote, pt), nil
}

// Last returns the latest timestamp issued (zero before the first).
func (h *HLC) Last() Timestamp { return Timestamp(h.last.Load()) }

// advance is the HLC update rule: with m the larger of the last and the
// remote timestamp, the new one is (pt, 0) if the physical reading pt is
// past m's physical part, else m + 1 (the logical counter, carrying into
// the physical part when it overflows).
func (h *HLC) advance(remote Timestamp, pt int64) Timestamp {
	for {
		old := h.last.Load()
		next := hlcNext(Timestamp(old), remote, pt)
		if h.last.CompareAndSwap(old, uint64(next)) {
			return next
		}
	}
}

func hlcNext(last, remote Timestamp, pt int64) Timestamp {
	m := max(last, remote)
	if pt > m.Millis() {
		return pack(pt, 0)
	}
	if m == math.MaxUint64 {
		panic("ntptime: HLC timestamp space exhausted")
	}
	return m + 1
}
