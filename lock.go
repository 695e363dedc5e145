package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/redislock"
)

// ErrLockTimeout is returned by Lock.Acquire when the Wait bound passed
// (the seed's name; the error also matches redislock.ErrWaitTimeout).
var ErrLockTimeout = errors.New("sync: lock wait timed out")

// Lock is the seed's lock interface: Acquire blocks until the id is
// locked, Release unlocks it. Use Locker for fencing tokens, contexts and
// the lost-lock signal.
type Lock interface {
	// Acquire blocks until id is held by this Lock, or the Wait bound
	// passes (ErrLockTimeout). Without TTL the lock is kept alive by a
	// watchdog until Release; with TTL(d) it is held for d from the grant.
	Acquire(id string, opts ...LockOption) error
	// Release unlocks id. It returns an error matching
	// redislock.ErrNotHeld when id is not held by this Lock, or its TTL
	// ran out before Release.
	Release(id string) error
}

// LockOption configures Lock.Acquire.
type LockOption func(*lockOptions)

type lockOptions struct {
	ttl  time.Duration
	wait time.Duration
}

// TTL sets the lease length: the lock is held for d from the moment it is
// granted (not from the moment Acquire was called), then expires. TTL(0)
// is the same as no TTL: a watchdog keeps the lock until Release.
func TTL(d time.Duration) LockOption { return func(o *lockOptions) { o.ttl = d } }

// Wait bounds how long Acquire blocks; then it returns ErrLockTimeout.
// Without Wait, or with Wait(0), Acquire blocks until it has the lock
// (for a lock held with a TTL, at the latest when that runs out).
func Wait(d time.Duration) LockOption { return func(o *lockOptions) { o.wait = d } }

// Locker returns the facade's redislock.Locker over Nodes (Redlock when
// WithNodes added masters), created on first use and closed by Close. It
// returns ErrClosed after Close.
func (s *Sync) Locker() (*redislock.Locker, error) {
	s.lockerOnce.Do(func() {
		l, err := redislock.New(s.Nodes(), redislock.WithPrefix(s.Prefix()), redislock.WithLogger(s.opts.logger), redislock.WithHooks(s.opts.hooks.Lock))
		if err != nil {
			s.lockerErr = err
			return
		}
		if err := s.own(l.Close); err != nil {
			l.Close()
			s.lockerErr = err
			return
		}
		s.locker = l
	})
	if s.lockerErr != nil {
		return nil, s.lockerErr
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	return s.locker, nil
}

// FencedStore returns a redislock.FencedStore on the shared client, under
// the facade's prefix.
func (s *Sync) FencedStore() (*redislock.FencedStore, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	return redislock.NewFencedStore(s.client, s.Prefix())
}

// Lock returns the seed-compatible Lock on the facade's Locker. It is safe
// for concurrent use; each Lock value tracks the ids it holds.
func (s *Sync) Lock() Lock { return &seedLock{s: s, held: map[string]*redislock.Lock{}} }

type seedLock struct {
	s    *Sync
	mu   stdsync.Mutex
	held map[string]*redislock.Lock
}

func (sl *seedLock) Acquire(id string, opts ...LockOption) error {
	var o lockOptions
	for _, opt := range opts {
		opt(&o)
	}
	l, err := sl.s.Locker()
	if err != nil {
		return err
	}
	var aopts []redislock.AcquireOption
	if o.ttl > 0 {
		aopts = append(aopts, redislock.TTL(o.ttl))
	} else {
		aopts = append(aopts, redislock.AutoRenew())
	}
	if o.wait > 0 {
		aopts = append(aopts, redislock.MaxWait(o.wait))
	}
	lk, err := l.Acquire(context.Background(), id, aopts...)
	if err != nil {
		switch {
		case errors.Is(err, redislock.ErrWaitTimeout):
			return fmt.Errorf("%w: %w", ErrLockTimeout, err)
		case errors.Is(err, redislock.ErrClosed):
			return fmt.Errorf("%w: %w", ErrClosed, err) // Close ran meanwhile
		}
		return err
	}
	sl.mu.Lock()
	sl.held[id] = lk
	sl.mu.Unlock()
	return nil
}

func (sl *seedLock) Release(id string) error {
	sl.mu.Lock()
	lk := sl.held[id]
	delete(sl.held, id)
	sl.mu.Unlock()
	if lk == nil {
		return fmt.Errorf("sync: release %q: %w (not acquired through this Lock)", id, redislock.ErrNotHeld)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return lk.Release(ctx)
}
