package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	stdsync "sync"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// ErrClosed is returned by primitives handed out by a Sync after Close.
var ErrClosed = errors.New("sync: closed")

// Sync owns a shared Redis client and hands out the coordination
// primitives. It is safe for concurrent use. The zero value is not usable:
// build one with New.
type Sync struct {
	client redis.UniversalClient
	opts   options
	keys   keys.Space

	mu      stdsync.Mutex
	closed  bool
	closers []func() error

	lockerOnce stdsync.Once
	locker     *redislock.Locker
	lockerErr  error
	electors   map[string]*redisleader.Elector

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	wg     stdsync.WaitGroup // goroutines started by goroutine
}

// New returns a Sync over client. It panics if client is nil or an option
// is invalid (an empty prefix, a prefix with braces): both are programmer
// mistakes. New does no I/O; a Redis that is down shows up as errors from
// the primitives.
func New(client redis.UniversalClient, opts ...Option) *Sync {
	if isNil(client) {
		panic("sync: New called with a nil redis client")
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	ks, err := keys.New(o.prefix)
	if err != nil {
		panic(fmt.Sprintf("sync: %v", err))
	}
	seen := map[redis.UniversalClient]bool{client: true}
	for i, n := range o.nodes {
		if isNil(n) {
			panic(fmt.Sprintf("sync: WithNodes: node %d is nil", i))
		}
		if seen[n] {
			panic(fmt.Sprintf("sync: WithNodes: node %d is the same client as another node; Redlock needs independent masters", i))
		}
		seen[n] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sync{client: client, opts: o, keys: ks, ctx: ctx, cancel: cancel}
}

// goroutine runs f in a goroutine that Close cancels (through ctx) and
// waits for. It reports false, without running f, after Close.
func (s *Sync) goroutine(f func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f(s.ctx)
	}()
	return true
}

// isNil reports a nil interface or an interface holding a nil pointer.
func isNil(c redis.UniversalClient) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// Client returns the shared client given to New.
func (s *Sync) Client() redis.UniversalClient { return s.client }

// Nodes returns the Redlock node set: the client given to New followed by
// those given with WithNodes.
func (s *Sync) Nodes() []redis.UniversalClient {
	return append([]redis.UniversalClient{s.client}, s.opts.nodes...)
}

// Prefix returns the key prefix.
func (s *Sync) Prefix() string { return s.keys.Prefix() }

// Logger returns the configured logger.
func (s *Sync) Logger() *slog.Logger { return s.opts.logger }

// Time returns the configured clock as the seed's Time interface.
func (s *Sync) Time() Time { return s.opts.clock }

// own registers a closer to run on Close, or reports ErrClosed.
func (s *Sync) own(close func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closers = append(s.closers, close)
	return nil
}

func (s *Sync) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops every background goroutine the facade started (lock
// watchdogs and subscriptions, elections and observers, Follow, Redis
// clocks) in the reverse order they were started and waits for them.
// Loops the caller runs (Worker.Run, Scheduler.Run, event consumers) end
// with the context the caller gave them. It does not close the Redis clients, which the caller
// owns. Close is idempotent; it returns the errors of the closers joined.
func (s *Sync) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	s.cancel()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
