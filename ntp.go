package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-sync/sync/ntptime"
)

// NTPOption configures NewNTPTime.
type NTPOption func(*ntpTimeOptions)

type ntpTimeOptions struct {
	servers   []string
	tolerance time.Duration
	startWait time.Duration
	ntp       []ntptime.NTPOption
	clock     []ntptime.Option
}

// DefaultNTPStartWait bounds how long NewNTPTime waits for the first
// synchronization.
const DefaultNTPStartWait = 5 * time.Second

// WithServer adds an NTP server ("host" or "host:port"), as the seed's
// ntp.WithServer did. Give it once per server; with several, more than
// half of them must agree (falsetickers are dropped). There is no default
// server: NewNTPTime fails without one.
func WithServer(addr string) NTPOption {
	return func(o *ntpTimeOptions) { o.servers = append(o.servers, addr) }
}

// WithTolerance sets the error bound beyond which NTPTime.Now fails
// (default 1s, ntptime.DefaultMaxError): the clock is then unsynchronized.
func WithTolerance(d time.Duration) NTPOption {
	return func(o *ntpTimeOptions) { o.tolerance = d }
}

// WithStartWait bounds how long NewNTPTime waits for the first
// synchronization (default 5s); 0 does not wait.
func WithStartWait(d time.Duration) NTPOption {
	return func(o *ntpTimeOptions) { o.startWait = d }
}

// WithNTPOptions passes options to the NTP source (polling, burst,
// timeout): see ntptime.NewNTP.
func WithNTPOptions(opts ...ntptime.NTPOption) NTPOption {
	return func(o *ntpTimeOptions) { o.ntp = append(o.ntp, opts...) }
}

// WithClockOptions passes options to the clock (drift rate, logger): see
// ntptime.New. WithTolerance wins over ntptime.WithMaxError.
func WithClockOptions(opts ...ntptime.Option) NTPOption {
	return func(o *ntpTimeOptions) { o.clock = append(o.clock, opts...) }
}

// NTPTime is the seed's NTP Time on top of ntptime: a Clock whose Now
// returns the best estimate of an ntptime.Clock synchronized with NTP
// servers, and fails only when that clock is unsynchronized beyond its
// tolerance (never synchronized, or its error bound grew past
// WithTolerance). Readings need no I/O: a background goroutine polls the
// servers, and Close stops it. It is safe for concurrent use.
type NTPTime struct {
	clock  *ntptime.Clock
	source *ntptime.NTPSource
}

var _ Clock = (*NTPTime)(nil)

// NewNTPTime starts synchronizing with the servers given with WithServer
// and waits for the first synchronization, at most WithStartWait (5s by
// default); if none succeeded by then it still returns the NTPTime, whose
// Now fails until one does. It fails if no server is given or an option
// is out of range.
func NewNTPTime(opts ...NTPOption) (*NTPTime, error) {
	o := ntpTimeOptions{tolerance: ntptime.DefaultMaxError, startWait: DefaultNTPStartWait}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if len(o.servers) == 0 {
		return nil, fmt.Errorf("sync: NewNTPTime: %w: give WithServer", ntptime.ErrNoServers)
	}
	if o.startWait < 0 {
		return nil, fmt.Errorf("sync: NewNTPTime: WithStartWait(%v): need >= 0", o.startWait)
	}
	src, err := ntptime.NewNTP(append([]ntptime.NTPOption{ntptime.WithServer(o.servers...)}, o.ntp...)...)
	if err != nil {
		return nil, fmt.Errorf("sync: NewNTPTime: %w", err)
	}
	clk, err := ntptime.New(src, append(o.clock, ntptime.WithMaxError(o.tolerance))...)
	if err != nil {
		return nil, fmt.Errorf("sync: NewNTPTime: %w", err)
	}
	if o.startWait > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), o.startWait)
		defer cancel()
		if err := clk.WaitSynchronized(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			clk.Close()
			return nil, err
		}
	}
	return &NTPTime{clock: clk, source: src}, nil
}

// Now returns the best estimate of the current time. It fails, with an
// error wrapping ntptime.ErrUnsynchronized, only when the clock is
// unsynchronized beyond its tolerance; the time returned then is the
// local system clock's (or the aged estimate). It does no I/O.
func (t *NTPTime) Now() (time.Time, error) {
	r := t.clock.Now()
	if r.Status == ntptime.Unsynchronized {
		return r.Best, fmt.Errorf("sync: NTP time: %w: %v", ntptime.ErrUnsynchronized, r)
	}
	return r.Best, nil
}

// Clock returns the underlying clock, whose readings carry their error
// bounds and status.
func (t *NTPTime) Clock() *ntptime.Clock { return t.clock }

// Servers returns the state of each NTP server (offset, delay, falseticker,
// kiss-of-death).
func (t *NTPTime) Servers() []ntptime.ServerStatus { return t.source.Servers() }

// Close stops polling the servers and waits for the goroutine. Now keeps
// answering from the last synchronization until the bound passes the
// tolerance. Close is idempotent.
func (t *NTPTime) Close() error { return t.clock.Close() }

// LocalTime returns the seed's local Time: the system clock, taken at its
// word (an ntptime.LocalSource with no assumed error). Its Now never
// fails and does no I/O; there is nothing to close.
func LocalTime() Clock {
	src, _ := ntptime.NewLocal(0) // fails only for a negative bound
	return localTime{src}
}

type localTime struct{ src *ntptime.LocalSource }

func (l localTime) Now() (time.Time, error) { return l.src.Now().Best, nil }
