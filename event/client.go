package event

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/script"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

var (
	publishScript = script.Load(scriptFS, "scripts/publish.lua")
	claimScript   = script.Load(scriptFS, "scripts/claim.lua")
	commitScript  = script.Load(scriptFS, "scripts/commit.lua")
	memberScript  = script.Load(scriptFS, "scripts/member.lua")
	trimScript    = script.Load(scriptFS, "scripts/trim.lua")
	lagScript     = script.Load(scriptFS, "scripts/lag.lua")
)

// Defaults of a Client.
const (
	DefaultMaxPayload = 1 << 20 // 1 MiB
	DefaultDedupe     = 10 * time.Minute
	DefaultBlock      = 250 * time.Millisecond
)

// kind is the key kind of every event key, and of the partition leases
// (redislock with WithKind(kind)).
const kind = "event"

// Option configures a Client.
type Option func(*options)

type options struct {
	prefix         string
	logger         *slog.Logger
	maxPayload     int
	dedupe         time.Duration
	block          time.Duration
	replicas       int
	replicaTimeout time.Duration
	hooks          Hooks
	prop           tracing.Propagator
}

// WithPrefix sets the key prefix (default "sync").
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithLogger sets a logger for background events (rebalances, lost
// leases, handler failures). Silent by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxPayload sets the largest payload Publish accepts (default 1 MiB).
func WithMaxPayload(n int) Option { return func(o *options) { o.maxPayload = n } }

// WithDedupeWindow sets how long an event ID stays unique in its partition
// (default 10 minutes): a second publish of the same ID within the window
// is not appended and returns the first one's Receipt.
func WithDedupeWindow(d time.Duration) Option { return func(o *options) { o.dedupe = d } }

// WithBlock sets how long one blocking read of a partition waits for new
// events (default 250ms). It bounds how quickly a consumer notices that it
// must stop or hand a partition over; new events wake a read at once.
func WithBlock(d time.Duration) Option { return func(o *options) { o.block = d } }

// WithReplicas makes Publish wait, after the append, until n replicas of
// the partition's master acknowledged it or timeout passed (Redis WAIT,
// sent on the same connection as the append). When fewer acknowledged,
// Publish returns ErrNotReplicated with the Receipt. See the package
// documentation for what this does and does not guarantee. Default: no
// waiting (n = 0). Needs a *redis.Client or *redis.ClusterClient.
func WithReplicas(n int, timeout time.Duration) Option {
	return func(o *options) { o.replicas, o.replicaTimeout = n, timeout }
}

// WithClientHooks sets metric callbacks for everything done through the
// Client: OnPublish for its topics' publishes, and the consumer hooks for
// every consumer of its topics (run before a consumer's own WithHooks).
// The default is none.
func WithClientHooks(h Hooks) Option { return func(o *options) { o.hooks = h } }

// WithPropagator makes Publish store the W3C trace context of its ctx,
// injected by p, in events whose Trace is empty or malformed, and
// consumers and subscribers hand each event's trace context to their
// handler's context, extracted by p (default: none; Trace is stored only
// when set by the caller, and handlers can still read it). See
// github.com/go-sync/sync/otelsync for OpenTelemetry.
func WithPropagator(p tracing.Propagator) Option { return func(o *options) { o.prop = p } }

// Client publishes to and consumes from topics on one Redis (or Redis
// Cluster). It is safe for concurrent use and holds no goroutines; the
// caller owns the Redis client.
type Client struct {
	rdb  redis.UniversalClient
	keys keys.Space
	opts options
	log  *slog.Logger
}

// New returns a Client on rdb. It returns an error wrapping ErrBadOption
// for a nil client or an invalid option.
func New(rdb redis.UniversalClient, opts ...Option) (*Client, error) {
	o := options{prefix: keys.DefaultPrefix, maxPayload: DefaultMaxPayload, dedupe: DefaultDedupe, block: DefaultBlock}
	for _, opt := range opts {
		opt(&o)
	}
	if rdb == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	ks, err := keys.New(o.prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	switch {
	case o.maxPayload <= 0:
		return nil, fmt.Errorf("%w: MaxPayload %d", ErrBadOption, o.maxPayload)
	case o.dedupe < time.Millisecond:
		return nil, fmt.Errorf("%w: dedupe window %v", ErrBadOption, o.dedupe)
	case o.block < time.Millisecond:
		return nil, fmt.Errorf("%w: block %v", ErrBadOption, o.block)
	case o.replicas < 0 || (o.replicas > 0 && o.replicaTimeout < time.Millisecond):
		return nil, fmt.Errorf("%w: replicas %d, timeout %v", ErrBadOption, o.replicas, o.replicaTimeout)
	}
	if o.replicas > 0 {
		switch rdb.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return nil, fmt.Errorf("%w: WithReplicas needs a *redis.Client or *redis.ClusterClient, got %T", ErrBadOption, rdb)
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return &Client{rdb: rdb, keys: ks, opts: o, log: o.logger}, nil
}

// Topic is a handle on a topic with a fixed number of partitions. It is
// safe for concurrent use and holds no goroutines.
type Topic struct {
	c    *Client
	name string
	n    int
	rr   atomic.Uint32 // round robin for events without a key
}

// CreateTopic creates topic name with the given number of partitions, or
// opens it when it already exists with that many. Errors: ErrInvalidTopic,
// ErrInvalidPartitions (nothing is created), ErrPartitionMismatch (the
// topic exists with another count; a topic's partition count never
// changes, because the key-to-partition mapping would), Redis's error.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions int) (*Topic, error) {
	if err := validateTopic(name); err != nil {
		return nil, err
	}
	if partitions <= 0 || partitions > MaxPartitions {
		return nil, fmt.Errorf("%w: %d (want 1..%d)", ErrInvalidPartitions, partitions, MaxPartitions)
	}
	meta := c.metaKey(name)
	if err := c.rdb.HSetNX(ctx, meta, "partitions", partitions).Err(); err != nil {
		return nil, wrapErr(err)
	}
	t, err := c.OpenTopic(ctx, name)
	if err != nil {
		return nil, err
	}
	if t.n != partitions {
		return nil, fmt.Errorf("%w: %q has %d, asked for %d", ErrPartitionMismatch, name, t.n, partitions)
	}
	return t, nil
}

// OpenTopic opens an existing topic. Errors: ErrInvalidTopic,
// ErrTopicNotFound, ErrCorrupt, Redis's error.
func (c *Client) OpenTopic(ctx context.Context, name string) (*Topic, error) {
	if err := validateTopic(name); err != nil {
		return nil, err
	}
	v, err := c.rdb.HGet(ctx, c.metaKey(name), "partitions").Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %q", ErrTopicNotFound, name)
	}
	if err != nil {
		return nil, wrapErr(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 || n > MaxPartitions {
		return nil, fmt.Errorf("%w: %q partition count %q", ErrCorrupt, name, v)
	}
	return &Topic{c: c, name: name, n: n}, nil
}

// Name returns the topic's name.
func (t *Topic) Name() string { return t.name }

// Partitions returns the topic's partition count.
func (t *Topic) Partitions() int { return t.n }

// PartitionFor returns the partition of key: FNV-1a 32 of the key's bytes
// modulo the partition count. The mapping is stable across processes,
// versions and languages (FNV-1a is easy to reimplement).
func (t *Topic) PartitionFor(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(t.n))
}

// Keys.
//
//	<prefix>:event:{<topic>}:meta                        hash   {partitions}
//	<prefix>:event:{<topic>}:group:<group>:members       zset   live members, score = expiry (Redis ms)
//	<prefix>:event:{<topic>/<p>}                         stream partition p's events
//	<prefix>:event:{<topic>/<p>}:dedupe:<id>             string offset of event id, PX = dedupe window
//	<prefix>:event:{<topic>/<p>}:offsets                 hash   group -> committed offset
//	<prefix>:event:{<topic>/<p>}:tokens                  hash   group -> highest owner fencing token
//	<prefix>:event:{<topic>/<p>/<group>}[:fence]         lease (redislock, kind "event")
func (c *Client) metaKey(topic string) string { return c.keys.Key(kind, topic, "meta") }

func (t *Topic) membersKey(group string) string {
	return t.c.keys.Key(kind, t.name, "group", group, "members")
}
func (t *Topic) resource(p int) string  { return t.name + "/" + strconv.Itoa(p) }
func (t *Topic) streamKey(p int) string { return t.c.keys.Key(kind, t.resource(p)) }
func (t *Topic) dedupeKey(p int, id string) string {
	return t.c.keys.Key(kind, t.resource(p), "dedupe", id)
}
func (t *Topic) fencesKey(p int) string               { return t.c.keys.Key(kind, t.resource(p), "fences") }
func (t *Topic) offsetsKey(p int) string              { return t.c.keys.Key(kind, t.resource(p), "offsets") }
func (t *Topic) tokensKey(p int) string               { return t.c.keys.Key(kind, t.resource(p), "tokens") }
func (t *Topic) leaseName(p int, group string) string { return t.resource(p) + "/" + group }

// StreamKey returns the Redis key of partition p's stream, for operators
// and tests. It panics if p is out of range.
func (t *Topic) StreamKey(p int) string {
	if p < 0 || p >= t.n {
		panic(fmt.Sprintf("event: partition %d out of range [0,%d)", p, t.n))
	}
	return t.streamKey(p)
}
