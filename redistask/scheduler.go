package redistask

import (
	"context"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

// Scheduler enqueues periodic tasks. Run it in every replica: each tick
// is claimed atomically in Redis (SET NX on a key naming the task and the
// tick time, inside the enqueue script), so a tick is enqueued exactly
// once however many schedulers run. Ticks come from the schedule alone,
// not from when a scheduler started. A tick passed while no scheduler ran
// is not enqueued later.
type Scheduler struct {
	client redis.UniversalClient
	k      queueKeys
	log    *slog.Logger
	now    func() time.Time

	mu      stdsync.Mutex
	entries []periodic
	running bool
}

type periodic struct {
	name  string
	sched Schedule
	task  Task
}

// SchedulerOption configures a Scheduler.
type SchedulerOption func(*Scheduler)

// WithSchedulerPrefix sets the key prefix (default "sync").
func WithSchedulerPrefix(p string) SchedulerOption {
	return func(s *Scheduler) {
		if ks, err := keys.New(p); err == nil {
			s.k, _ = newQueueKeys(ks, s.k.queue)
		} else {
			s.k.space = keys.Space{}
		}
	}
}

// WithSchedulerLogger sets a logger (silent by default).
func WithSchedulerLogger(l *slog.Logger) SchedulerOption { return func(s *Scheduler) { s.log = l } }

// NewScheduler returns a Scheduler that enqueues on queue.
func NewScheduler(client redis.UniversalClient, queue string, opts ...SchedulerOption) (*Scheduler, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	k, err := newQueueKeys(keys.Must(keys.DefaultPrefix), queue)
	if err != nil {
		return nil, err
	}
	s := &Scheduler{client: client, k: k, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.k.space.Prefix() == "" {
		return nil, fmt.Errorf("%w: invalid prefix", ErrBadOption)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Add registers a periodic task under a unique name (the name keys the
// tick claims, so replicas must use the same one). spec is parsed by
// ParseSchedule. Add after Run has started returns an error.
func (s *Scheduler) Add(name, spec string, t Task) error {
	if name == "" || t.Name == "" {
		return fmt.Errorf("%w: empty periodic or task name", ErrInvalidName)
	}
	if t.ID != "" || t.Delay != 0 || !t.RunAt.IsZero() {
		return fmt.Errorf("%w: a periodic task cannot have an ID, Delay or RunAt (each tick is enqueued once already)", ErrBadOption)
	}
	if len(t.Payload) > DefaultMaxPayload {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(t.Payload), DefaultMaxPayload)
	}
	sched, err := ParseSchedule(spec)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return fmt.Errorf("%w: Add after Run", ErrBadOption)
	}
	for _, e := range s.entries {
		if e.name == name {
			return fmt.Errorf("%w: periodic %q added twice", ErrBadOption, name)
		}
	}
	s.entries = append(s.entries, periodic{name: name, sched: sched, task: t})
	return nil
}

// Run enqueues ticks until ctx ends; it returns nil then, or ErrClosed if
// called twice.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return fmt.Errorf("%w: Run called twice", ErrClosed)
	}
	s.running = true
	entries := append([]periodic(nil), s.entries...)
	s.mu.Unlock()
	var wg stdsync.WaitGroup
	for _, e := range entries {
		wg.Add(1)
		go func() { defer wg.Done(); s.loop(ctx, e) }()
	}
	wg.Wait()
	return nil
}

func (s *Scheduler) loop(ctx context.Context, e periodic) {
	next := e.sched.Next(s.now())
	for !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.fire(ctx, e, next)
		next = e.sched.Next(next)
		if now := s.now(); next.Before(now) {
			next = e.sched.Next(now) // fell behind: skip missed ticks
		}
	}
}

// fire claims tick at and enqueues the task if the claim is won.
func (s *Scheduler) fire(ctx context.Context, e periodic, at time.Time) {
	period := e.sched.Next(at).Sub(at)
	ttl := max(2*period, time.Minute)
	t := e.task
	if t.MaxAttempts == 0 {
		t.MaxAttempts = DefaultMaxAttempts
	}
	t.Attempt, t.LastError, t.EnqueuedAt = 0, "", at
	id, err := tickScript.Run(ctx, s.client, []string{s.k.tick(e.name, at.UnixMilli()), s.k.stream}, ttl.Milliseconds(), encode(&t)).Text()
	switch {
	case err == redis.Nil:
		// another scheduler claimed this tick
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("redistask: periodic enqueue failed", "periodic", e.name, "tick", at, "err", err)
		}
	default:
		s.log.Debug("redistask: periodic enqueued", "periodic", e.name, "tick", at, "id", id)
	}
}
