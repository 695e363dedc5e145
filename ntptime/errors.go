package ntptime

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrUnsynchronized is returned by CommitWait when the clock cannot
	// vouch for its reading: it never synchronized, or its error bound grew
	// past the tolerance set with WithMaxError.
	ErrUnsynchronized = errors.New("ntptime: clock unsynchronized")
	// ErrClosed is returned by Sync after Close.
	ErrClosed = errors.New("ntptime: clock closed")
	// ErrBadSample is returned by Sync when a Source returns a sample that
	// cannot be true: a negative error bound, a zero time, or a monotonic
	// instant in the future.
	ErrBadSample = errors.New("ntptime: bad sample")
	// ErrNoServers is returned by an NTP source that has no server left to
	// ask: none was configured, or every one refused service with a
	// kiss-of-death DENY or RSTR.
	ErrNoServers = errors.New("ntptime: no NTP server")
	// ErrNoSample is returned by a source that has no usable measurement:
	// every server or round trip failed. The error also carries each cause.
	ErrNoSample = errors.New("ntptime: no usable sample")
	// ErrNoMajority is returned by an NTP source when no more than half of
	// the servers with a usable sample agree on an interval: the
	// falsetickers cannot be told from the truechimers.
	ErrNoMajority = errors.New("ntptime: no majority of servers agree")
	// ErrKissOfDeath is wrapped by the per-server error of a server that
	// answered with a kiss-of-death code (RATE, DENY, RSTR or another).
	ErrKissOfDeath = errors.New("ntptime: kiss-of-death")
	// ErrInvalidTimestamp is returned when bytes or text do not encode an
	// HLC Timestamp, or a time cannot be packed into one.
	ErrInvalidTimestamp = errors.New("ntptime: invalid timestamp")
	// ErrMaxOffset is wrapped by the *OffsetError an HLC returns for a
	// remote timestamp further ahead of the local physical clock than the
	// configured maximum offset.
	ErrMaxOffset = errors.New("ntptime: remote timestamp beyond the max offset")
)

// OffsetError reports a remote timestamp that HLC.Update rejected because
// its physical part is ahead of the local physical clock by more than
// MaxOffset. It unwraps to ErrMaxOffset. The HLC is left unchanged.
type OffsetError struct {
	Remote    Timestamp     // the rejected timestamp
	Physical  time.Time     // the local physical reading it was compared with
	MaxOffset time.Duration // the configured maximum offset
}

// Ahead returns how far the remote timestamp is ahead of the local
// physical clock.
func (e *OffsetError) Ahead() time.Duration { return e.Remote.Time().Sub(e.Physical) }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("ntptime: remote timestamp %v is %v ahead of the physical clock (max offset %v)",
		e.Remote, e.Ahead(), e.MaxOffset)
}

// Unwrap returns ErrMaxOffset.
func (e *OffsetError) Unwrap() error { return ErrMaxOffset }
