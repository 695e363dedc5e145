package sync

import (
	"log/slog"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
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
	hooks  Hooks
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

// Hooks are the metric callbacks of the primitives a Sync hands out; see
// each package's Hooks for when each is called. The zero value sets none,
// and a nil field costs one nil check. The metrics module
// (github.com/go-sync/sync/metrics) fills one with Prometheus collectors.
type Hooks struct {
	Lock   redislock.Hooks   // the Locker (Locker, Lock)
	Leader redisleader.Hooks // every Elector (Elector, Leader)
	Task   redistask.Hooks   // every Producer and Worker (Producer, Worker, Task)
	Event  event.Hooks       // every event Client (Events): publishes and consumers
}

// WithHooks sets metric callbacks for every primitive the Sync hands out.
// Options given to Elector, Producer, Worker or Events come after them: a
// WithHooks there replaces these for that primitive (event consumers'
// own WithHooks run after these instead).
func WithHooks(h Hooks) Option { return func(o *options) { o.hooks = h } }

// Clock is a source of wall-clock time. Now may fail when the source cannot
// vouch for its reading (an unsynchronized NTP clock, for example).
type Clock interface {
	Now() (time.Time, error)
}

type localClock struct{}

func (localClock) Now() (time.Time, error) { return time.Now(), nil }
