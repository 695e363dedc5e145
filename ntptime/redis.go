package ntptime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisPoll is how often a Clock over a RedisSource asks Redis.
const DefaultRedisPoll = 10 * time.Second

// DefaultRedisRounds is how many TIME round trips one Redis sample makes;
// the one with the least round-trip time is used.
const DefaultRedisRounds = 3

// RedisTimer is the part of a Redis client a RedisSource uses; every
// redis.UniversalClient (client, cluster, ring, failover) is one.
type RedisTimer interface {
	Time(ctx context.Context) *redis.TimeCmd
}

// RedisOption configures NewRedis.
type RedisOption func(*redisOptions)

type redisOptions struct {
	poll    time.Duration
	rounds  int
	assumed time.Duration
}

// WithRedisPoll sets how often the Clock asks Redis (default 10s).
// NewRedis fails for a value <= 0.
func WithRedisPoll(d time.Duration) RedisOption { return func(o *redisOptions) { o.poll = d } }

// WithRedisRounds sets how many TIME round trips a sample makes (default
// 3); the one with the least round-trip time is used. NewRedis fails for
// n < 1.
func WithRedisRounds(n int) RedisOption { return func(o *redisOptions) { o.rounds = n } }

// WithRedisError adds an assumed error of the Redis server's clock
// relative to UTC (default 0: the interval then bounds Redis's clock,
// which is the shared reference). NewRedis fails for a negative value.
func WithRedisError(d time.Duration) RedisOption { return func(o *redisOptions) { o.assumed = d } }

// RedisSource is a Source reading the clock of a Redis server with the
// TIME command: a shared reference for services that share nothing but a
// Redis. Redis knows nothing of its own accuracy, so the interval bounds
// Redis's clock (plus WithRedisError), not UTC. On a Redis Cluster the
// client picks the node that answers; their clocks should agree to within
// WithRedisError. It is safe for concurrent use.
type RedisSource struct {
	client RedisTimer
	o      redisOptions
}

// NewRedis returns a source over client; the caller owns the client. It
// fails if client is nil or an option is out of range.
func NewRedis(client RedisTimer, opts ...RedisOption) (*RedisSource, error) {
	if client == nil {
		return nil, errors.New("ntptime: NewRedis called with a nil client")
	}
	o := redisOptions{poll: DefaultRedisPoll, rounds: DefaultRedisRounds}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case o.poll <= 0:
		return nil, fmt.Errorf("ntptime: WithRedisPoll(%v): need a positive interval", o.poll)
	case o.rounds < 1:
		return nil, fmt.Errorf("ntptime: WithRedisRounds(%d): need at least 1", o.rounds)
	case o.assumed < 0:
		return nil, fmt.Errorf("ntptime: WithRedisError(%v): need a bound >= 0", o.assumed)
	}
	return &RedisSource{client: client, o: o}, nil
}

// Sample runs TIME a few times and keeps the round trip with the least
// round-trip time. Redis read its clock between receiving the command
// (after m1) and replying (before m4), and truncated it to the
// microsecond, so at m4 Redis's clock read between T and T+rtt+1µs. It
// fails with ErrNoSample wrapping the errors if no round trip succeeded.
func (r *RedisSource) Sample(ctx context.Context, env Env) (Sample, error) {
	var (
		best Sample
		errs []error
		ok   bool
	)
	for range r.o.rounds {
		m1 := env.Clock.Mono()
		t, err := r.client.Time(ctx).Result()
		m4 := env.Clock.Mono()
		if err != nil {
			if ctx.Err() != nil {
				return Sample{}, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		span := m4 - m1 + time.Microsecond
		s := Sample{
			Mono:  m4,
			Time:  t.Add(span / 2).Round(0).UTC(),
			Error: span - span/2 + r.o.assumed + env.Age(m4-m1),
		}
		if !ok || s.Error < best.Error {
			best, ok = s, true
		}
	}
	if !ok {
		return Sample{}, fmt.Errorf("%w: Redis TIME: %w", ErrNoSample, errors.Join(errs...))
	}
	return best, nil
}

// Next returns the poll interval (WithRedisPoll).
func (r *RedisSource) Next() time.Duration { return r.o.poll }
