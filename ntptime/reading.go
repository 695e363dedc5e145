package ntptime

import (
	"math"
	"strconv"
	"time"
)

// Status says how far a Reading can be trusted.
type Status uint8

const (
	// Unsynchronized: the clock never synchronized, or its error bound grew
	// past the tolerance (WithMaxError). The zero Status.
	Unsynchronized Status = iota
	// Holdover (free-running): the last synchronization failed, or none has
	// completed for twice the poll interval. The interval still holds: it
	// widens at the drift rate until the next synchronization, and becomes
	// Unsynchronized when it passes the tolerance.
	Holdover
	// Synchronized: the last synchronization succeeded and the next one is
	// not overdue.
	Synchronized
)

func (s Status) String() string {
	switch s {
	case Unsynchronized:
		return "unsynchronized"
	case Holdover:
		return "holdover"
	case Synchronized:
		return "synchronized"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// maxTime is the largest time.Time: the Latest of an unbounded reading.
var maxTime = time.Unix(math.MaxInt64-62135596800, 999999999).UTC()

// Reading is the time as an interval: the true time lies in [Earliest,
// Latest] when the clock's sources and the drift assumption hold (see the
// package documentation). Best is the midpoint, the best single estimate.
// Before the first synchronization the interval is unbounded: Earliest is
// the zero Time, Latest the largest time.Time, and Best the local system
// clock. The times carry no monotonic reading and are in UTC.
type Reading struct {
	Earliest time.Time
	Latest   time.Time
	Best     time.Time
	Status   Status
}

// Bound returns the half-width of the interval: the largest error of Best.
// It saturates at the largest Duration for an unbounded reading.
func (r Reading) Bound() time.Duration { return r.Latest.Sub(r.Earliest) / 2 }

// After reports whether t is surely in the past: t is before Earliest.
// It is false for an unbounded reading.
func (r Reading) After(t time.Time) bool { return r.Earliest.After(t) }

// Before reports whether t is surely in the future: t is after Latest.
// It is false for an unbounded reading.
func (r Reading) Before(t time.Time) bool { return r.Latest.Before(t) }

// Contains reports whether t lies in [Earliest, Latest].
func (r Reading) Contains(t time.Time) bool {
	return !t.Before(r.Earliest) && !t.After(r.Latest)
}

func (r Reading) String() string {
	if r.Earliest.IsZero() {
		return r.Best.Format(time.RFC3339Nano) + " ± unbounded (" + r.Status.String() + ")"
	}
	return r.Best.Format(time.RFC3339Nano) + " ± " + r.Bound().String() + " (" + r.Status.String() + ")"
}
