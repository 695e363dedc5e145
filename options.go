package sync

import (
	"log/slog"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// Option configures New.
type Option func(*options)

type options struct {
	prefix string
	logger *slog.Logger
	nodes  []redis.UniversalClient
	clock  Clock
	prop   tracing.Propagator
}

func defaultOptions() options {
	return options{
		prefix: keys.DefaultPrefix,
		logger: slog.New(slog.DiscardHandler),
		clock:  localClock{},
	}
}

// WithPrefix sets the prefix of every key and channel (default "sync").
// Two prefixes on one Redis never see each other's data. A prefix must be
// non-empty and contain no braces or whitespace; New panics otherwise.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithLogger sets the logger for background events (lost locks, reconnects).
// The default discards everything; a nil logger keeps the default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithNodes adds independent Redis masters: together with the client given
// to New they form the node set of Redlock (a lock needs a majority of
// them). They must not be replicas of each other or of the main client;
// New panics if the same client value is given twice.
func WithNodes(nodes ...redis.UniversalClient) Option {
	return func(o *options) { o.nodes = append(o.nodes, nodes...) }
}

// WithClock sets the clock Time reads (default: the local clock); nil keeps
// the default.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithPropagator sets the trace context propagator of the producers,
// workers and event clients the Sync hands out: pushes and publishes
// store the W3C trace context of their ctx, and handlers' contexts carry
// it (see package tracing; github.com/go-sync/sync/otelsync adapts
// OpenTelemetry). Default: none. Options given to Producer, Worker or
// Events win over it.
func WithPropagator(p tracing.Propagator) Option { return func(o *options) { o.prop = p } }

// Clock is a source of wall-clock time. Now may fail when the source cannot
// vouch for its reading (an unsynchronized NTP clock, for example).
type Clock interface {
	Now() (time.Time, error)
}

type localClock struct{}

func (localClock) Now() (time.Time, error) { return time.Now(), nil }
