package redislock

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultTTL is the lease length used when neither the Locker nor the call
// sets one.
const DefaultTTL = 10 * time.Second

// MinTTL is the shortest TTL accepted: below it the drift allowance (TTL*1%
// + 2 ms) and a round trip leave no validity.
const MinTTL = 10 * time.Millisecond

// MinAutoRenewTTL is the shortest TTL accepted with AutoRenew: each
// renewal has TTL/10 to reach a majority, and with less than 10 ms a
// scheduling hiccup or a loaded Redis makes three in a row miss, so the
// watchdog would declare healthy locks lost.
const MinAutoRenewTTL = 100 * time.Millisecond

// Option configures a Locker.
type Option func(*options)

type options struct {
	prefix string
	ttl    time.Duration
	logger *slog.Logger
	owner  string
	kind   string
	hooks  Hooks
}

// WithPrefix sets the key prefix (default "sync").
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithTTL sets the default lease length of locks (default 10s).
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithLogger sets a logger for background events (lost locks, failed
// renewals, subscription errors). Silent by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithOwner sets the holder id written into lock values, shown to
// operators (default "<hostname>:<pid>"). A random suffix keeps every
// grant's value unique.
func WithOwner(id string) Option { return func(o *options) { o.owner = id } }

// WithKind sets the kind segment of the keys (default "lock"):
// <prefix>:<kind>:{<name>}. Packages built on redislock use their own kind
// (redisleader uses "leader") so their keys are told apart.
func WithKind(kind string) Option { return func(o *options) { o.kind = kind } }

func defaultOwner() string {
	h, err := os.Hostname()
	if err != nil {
		h = "unknown"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid())
}

// AcquireOption configures one Acquire or TryAcquire call.
type AcquireOption func(*acquireOptions)

type acquireOptions struct {
	ttl       time.Duration
	maxWait   time.Duration
	autoRenew bool
	owner     string
}

// Owner sets the holder id written into this lock's value (default: the
// Locker's WithOwner id).
func Owner(id string) AcquireOption { return func(o *acquireOptions) { o.owner = id } }

// TTL sets the lease length of this lock (default: the Locker's). Without
// AutoRenew the lock is held for at most TTL minus the drift allowance.
func TTL(d time.Duration) AcquireOption { return func(o *acquireOptions) { o.ttl = d } }

// MaxWait bounds how long Acquire waits for the lock; after it Acquire
// returns an error wrapping ErrWaitTimeout. Zero (the default) waits until
// the context ends.
func MaxWait(d time.Duration) AcquireOption { return func(o *acquireOptions) { o.maxWait = d } }

// AutoRenew keeps the lock alive with a watchdog that extends it every
// TTL/3 until Release, Locker.Close, or a renewal that cannot reach a
// majority before the lock's deadline (then Done fires with ErrLost). It
// needs a TTL of at least MinAutoRenewTTL.
func AutoRenew() AcquireOption { return func(o *acquireOptions) { o.autoRenew = true } }
