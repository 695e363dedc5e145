package ntptime

import (
	"context"
	"log/slog"
	"time"
)

// LocalClock is the machine's clocks as this package reads them. Tests
// inject a fake one with WithLocalClock to move the two independently.
type LocalClock interface {
	// Wall returns the system clock, which an administrator or a daemon
	// can step at any time.
	Wall() time.Time
	// Mono returns the monotonic clock: the time elapsed since an
	// arbitrary fixed origin. It never steps and never goes backwards.
	Mono() time.Duration
}

// SystemClock returns the LocalClock of the running process: time.Now for
// Wall and Go's monotonic clock (CLOCK_MONOTONIC on Linux) for Mono.
func SystemClock() LocalClock { return systemClock{} }

// origin is the fixed point of systemClock's monotonic readings.
var origin = time.Now()

type systemClock struct{}

func (systemClock) Wall() time.Time     { return time.Now() }
func (systemClock) Mono() time.Duration { return time.Since(origin) }

// Env is what a Clock hands its Source on every call, so that samples are
// on the Clock's monotonic scale, aged with its drift rate, and logged
// through its logger.
type Env struct {
	Clock    LocalClock
	DriftPPM float64 // the largest rate error of the local monotonic clock, in parts per million
	Logger   *slog.Logger
}

// Age returns how much an error bound grows over d at the drift rate.
func (e Env) Age(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
	}
	return time.Duration(float64(d)*e.DriftPPM/1e6) + 1
}

// Sample is one measurement of true time: at the local monotonic instant
// Mono, true time lay in [Time-Error, Time+Error].
type Sample struct {
	Mono  time.Duration // Env.Clock.Mono() at the instant described
	Time  time.Time     // best estimate of true time at Mono
	Error time.Duration // half-width of the interval at Mono; >= 0
}

// Source is a reference of true time: an NTP server set (NewNTP), a Redis
// server's clock (NewRedis), or the local clock with an assumed bound
// (NewLocal). A Clock calls Sample from its goroutine, and from Sync; a
// Source must be safe for concurrent use.
type Source interface {
	// Sample measures the reference. On failure the Clock keeps its last
	// anchor and reports Holdover; on cancellation the error satisfies
	// errors.Is(err, ctx.Err()).
	Sample(ctx context.Context, env Env) (Sample, error)
	// Next returns how long the Clock waits, after a Sample call, before
	// calling Sample again.
	Next() time.Duration
}
