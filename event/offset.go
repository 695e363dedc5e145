package event

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Offset is the position of an event in its partition: the Redis stream
// entry ID, milliseconds of the append (Redis's clock) and a sequence
// number within that millisecond. Offsets of one partition strictly
// increase in publish order. The zero Offset precedes every event.
type Offset struct {
	Ms  uint64
	Seq uint64
}

// String returns the stream ID form "ms-seq".
func (o Offset) String() string {
	return strconv.FormatUint(o.Ms, 10) + "-" + strconv.FormatUint(o.Seq, 10)
}

// Time returns the append time encoded in the offset.
func (o Offset) Time() time.Time { return time.UnixMilli(int64(o.Ms)) }

// Less reports whether o precedes p.
func (o Offset) Less(p Offset) bool { return o.Ms < p.Ms || (o.Ms == p.Ms && o.Seq < p.Seq) }

// prev returns the greatest offset below o (o itself for the zero offset).
func (o Offset) prev() Offset {
	switch {
	case o.Seq > 0:
		return Offset{o.Ms, o.Seq - 1}
	case o.Ms > 0:
		return Offset{o.Ms - 1, math.MaxUint64}
	}
	return o
}

// ParseOffset parses "ms-seq" (a stream entry ID). It returns an error
// wrapping ErrBadOption for anything else.
func ParseOffset(s string) (Offset, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return Offset{}, fmt.Errorf("%w: offset %q", ErrBadOption, s)
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	q, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return Offset{}, fmt.Errorf("%w: offset %q", ErrBadOption, s)
	}
	return Offset{m, q}, nil
}

type posKind uint8

const (
	posBeginning posKind = iota
	posEnd
	posOffset
	posTime
	posOffsets
)

// Position is where a new group, a reset group or a subscription starts
// reading. The zero Position is Beginning.
type Position struct {
	kind posKind
	off  Offset
	t    time.Time
	offs map[int]Offset
}

// Beginning starts at the oldest event still retained.
func Beginning() Position { return Position{kind: posBeginning} }

// End starts after the last event appended before the start: only events
// published later are seen.
func End() Position { return Position{kind: posEnd} }

// FromOffset starts at offset o (inclusive) in every partition. Offsets
// are times, so this also replays "everything from o's millisecond on".
func FromOffset(o Offset) Position { return Position{kind: posOffset, off: o} }

// FromTime starts at the first event appended at or after t (Redis's
// clock, millisecond resolution) in every partition.
func FromTime(t time.Time) Position { return Position{kind: posTime, t: t} }

// FromOffsets starts each partition at its offset in m (inclusive);
// partitions missing from m start at the beginning.
func FromOffsets(m map[int]Offset) Position {
	c := make(map[int]Offset, len(m))
	for k, v := range m {
		c[k] = v
	}
	return Position{kind: posOffsets, offs: c}
}

func (p Position) String() string {
	switch p.kind {
	case posEnd:
		return "end"
	case posOffset:
		return "offset " + p.off.String()
	case posTime:
		return "time " + p.t.Format(time.RFC3339Nano)
	case posOffsets:
		return fmt.Sprintf("offsets %v", p.offs)
	}
	return "beginning"
}

// checkPosition rejects a FromOffsets naming a partition the topic does
// not have.
func (t *Topic) checkPosition(p Position) error {
	for part := range p.offs {
		if part < 0 || part >= t.n {
			return fmt.Errorf("%w: FromOffsets names partition %d of a topic with %d", ErrBadOption, part, t.n)
		}
	}
	return nil
}
