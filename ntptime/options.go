package ntptime

import (
	"fmt"
	"log/slog"
	"time"
)

// DefaultDriftPPM is the drift rate assumed of the local monotonic clock:
// 50 ppm, more than RFC 5905's 15 ppm, to cover cheap oscillators and
// temperature.
const DefaultDriftPPM = 50

// DefaultMaxError is the tolerance of a Clock: once its error bound passes
// it, readings are Unsynchronized.
const DefaultMaxError = time.Second

// Option configures New.
type Option func(*options)

type options struct {
	driftPPM float64
	maxError time.Duration
	local    LocalClock
	logger   *slog.Logger
}

func defaultOptions() options {
	return options{
		driftPPM: DefaultDriftPPM,
		maxError: DefaultMaxError,
		local:    SystemClock(),
		logger:   slog.New(slog.DiscardHandler),
	}
}

func (o *options) validate() error {
	if !(o.driftPPM >= 0 && o.driftPPM < 1e5) {
		return fmt.Errorf("ntptime: drift %v ppm out of range [0, 100000)", o.driftPPM)
	}
	if o.maxError <= 0 {
		return fmt.Errorf("ntptime: max error %v must be positive", o.maxError)
	}
	return nil
}

// WithDriftPPM sets the largest rate error assumed of the local monotonic
// clock, in parts per million (default 50). Between synchronizations the
// error bound grows by this fraction of the elapsed time. New fails for a
// negative rate or one of 100000 ppm or more.
func WithDriftPPM(ppm float64) Option { return func(o *options) { o.driftPPM = ppm } }

// WithMaxError sets the tolerance (default 1s): a reading whose error bound
// exceeds it is Unsynchronized. New fails for a tolerance <= 0.
func WithMaxError(d time.Duration) Option { return func(o *options) { o.maxError = d } }

// WithLocalClock replaces the system clock (for tests). nil keeps the
// default.
func WithLocalClock(c LocalClock) Option {
	return func(o *options) {
		if c != nil {
			o.local = c
		}
	}
}

// WithLogger sets the logger for synchronization events (failures,
// falsetickers, kiss-of-death codes). Silent by default; nil keeps the
// default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
