package ntptime

import (
	"context"
	"fmt"
	"time"
)

// LocalPoll is how often a Clock over a LocalSource re-anchors on the
// system clock (a step of the system clock shows up within this time).
const LocalPoll = time.Second

// LocalSource is the local system clock taken at its word, with an
// assumed error bound: for machines already kept in sync by an NTP daemon,
// and for tests. It is safe for concurrent use.
type LocalSource struct {
	assumed time.Duration
}

// NewLocal returns a source that reads the system clock and trusts it to
// within assumed (for a host synchronized by chrony or ntpd, a few
// milliseconds is typical; `chronyc tracking` shows the real figure). It
// fails for a negative bound.
func NewLocal(assumed time.Duration) (*LocalSource, error) {
	if assumed < 0 {
		return nil, fmt.Errorf("ntptime: NewLocal(%v): need a bound >= 0", assumed)
	}
	return &LocalSource{assumed: assumed}, nil
}

// Sample reads env.Clock: the system clock, paired with the monotonic
// instant read just before it. It does no I/O and never fails.
func (l *LocalSource) Sample(_ context.Context, env Env) (Sample, error) {
	m := env.Clock.Mono()
	return Sample{Mono: m, Time: env.Clock.Wall().Round(0), Error: l.assumed}, nil
}

// Next returns LocalPoll.
func (l *LocalSource) Next() time.Duration { return LocalPoll }

// Now reads the system clock directly, without a Clock: Best is time.Now,
// the bound is the assumed one, and the status is Synchronized (by
// assumption). It does no I/O.
func (l *LocalSource) Now() Reading {
	t := time.Now().Round(0).UTC()
	return Reading{Earliest: t.Add(-l.assumed), Latest: t.Add(l.assumed), Best: t, Status: Synchronized}
}
