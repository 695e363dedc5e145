package redisleader

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redislock"
)

// Defaults. They follow client-go's ratios at a shorter scale: failover
// after a crash takes at most LeaseDuration.
const (
	DefaultLeaseDuration = 5 * time.Second
	DefaultRenewDeadline = 3 * time.Second
	DefaultRetryPeriod   = time.Second
)

// historyLen is how many announcements the history stream keeps.
const historyLen = 64

// Option configures an Elector.
type Option func(*options)

type options struct {
	prefix        string
	lease         time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration
	logger        *slog.Logger
	hooks         Hooks
}

// WithPrefix sets the key prefix (default "sync").
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithLeaseDuration sets how long a lease lasts on Redis without renewal
// (default 5s): the longest a crashed leader blocks the group.
func WithLeaseDuration(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithRenewDeadline sets how long a leader keeps leading without a
// successful renewal (default 3s). It must be shorter than the lease minus
// the drift allowance (1% + 2ms), so a leader steps down before its lease
// can expire on Redis.
func WithRenewDeadline(d time.Duration) Option { return func(o *options) { o.renewDeadline = d } }

// WithRetryPeriod sets how often the leader renews (default 1s); it must
// be shorter than RenewDeadline. It also bounds how long an observer waits
// before a reconciling read.
func WithRetryPeriod(d time.Duration) Option { return func(o *options) { o.retryPeriod = d } }

// WithLogger sets a logger for background events. Silent by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func (o *options) validate() error {
	if err := keys.ValidatePrefix(o.prefix); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	drift := o.lease/100 + 2*time.Millisecond
	switch {
	case o.lease < redislock.MinTTL:
		return fmt.Errorf("%w: lease %v below %v", ErrBadOption, o.lease, redislock.MinTTL)
	case o.renewDeadline <= 0 || o.renewDeadline >= o.lease-drift:
		return fmt.Errorf("%w: need LeaseDuration - drift (%v) > RenewDeadline (%v)", ErrBadOption, o.lease-drift, o.renewDeadline)
	case o.retryPeriod <= 0 || o.retryPeriod >= o.renewDeadline:
		return fmt.Errorf("%w: need RenewDeadline (%v) > RetryPeriod (%v) > 0", ErrBadOption, o.renewDeadline, o.retryPeriod)
	}
	return nil
}
