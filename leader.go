package sync

import (
	"context"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/redisleader"
)

// Leader is the seed's leader-election interface, on redisleader: Elect
// blocks until id leads the group; Follow reports leader changes.
type Leader interface {
	// Elect blocks until id leads the group (or the ElectTimeout passes).
	Elect(id string, opts ...ElectOption) (Elected, error)
	// Follow returns a channel of leader ids, one per new leader in term
	// order, closed when the Sync closes.
	Follow() chan string
}

// Elected is a won election (the seed's interface).
type Elected interface {
	// Id returns the candidate id.
	Id() string
	// Term returns the leadership's fencing term (not in the seed).
	Term() uint64
	// Reelect campaigns again with the same id, blocking until elected;
	// use it after Revoked fired. It returns nil at once while the
	// current leadership is still valid.
	Reelect() error
	// Resign gives up the leadership at once; the next candidate is
	// elected without waiting for the lease.
	Resign() error
	// Revoked returns a channel closed when the current leadership ends
	// (lost, or resigned). Unlike the seed's, it really fires.
	Revoked() chan bool
}

// LeaderOption configures Sync.Leader.
type LeaderOption func(*leaderOptions)

type leaderOptions struct{ group string }

// Group sets the election group (default "default").
func Group(name string) LeaderOption { return func(o *leaderOptions) { o.group = name } }

// ElectOption configures Elect.
type ElectOption func(*electOptions)

type electOptions struct{ timeout time.Duration }

// ElectTimeout bounds how long Elect blocks (default: until elected or
// the Sync closes).
func ElectTimeout(d time.Duration) ElectOption { return func(o *electOptions) { o.timeout = d } }

// Elector returns the facade's redisleader.Elector for group over Nodes,
// created on first use (opts apply then) and closed by Close; ErrClosed
// after Close.
func (s *Sync) Elector(group string, opts ...redisleader.Option) (*redisleader.Elector, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if e := s.electors[group]; e != nil {
		return e, nil
	}
	opts = append([]redisleader.Option{redisleader.WithPrefix(s.Prefix()), redisleader.WithLogger(s.opts.logger), redisleader.WithHooks(s.opts.hooks.Leader)}, opts...)
	e, err := redisleader.New(s.Nodes(), group, opts...)
	if err != nil {
		return nil, err
	}
	if s.electors == nil {
		s.electors = map[string]*redisleader.Elector{}
	}
	s.electors[group] = e
	s.closers = append(s.closers, e.Close)
	return e, nil
}

// Leader returns the seed-compatible Leader for a group (Group option;
// default "default").
func (s *Sync) Leader(opts ...LeaderOption) Leader {
	o := leaderOptions{group: "default"}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return &seedLeader{s: s, group: o.group}
}

type seedLeader struct {
	s     *Sync
	group string
}

func (sl *seedLeader) Elect(id string, opts ...ElectOption) (Elected, error) {
	var o electOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	e, err := sl.s.Elector(sl.group)
	if err != nil {
		return nil, err
	}
	el := &seedElected{s: sl.s, e: e, id: id, timeout: o.timeout}
	if err := el.Reelect(); err != nil {
		return nil, err
	}
	return el, nil
}

func (sl *seedLeader) Follow() chan string {
	out := make(chan string, 16)
	e, err := sl.s.Elector(sl.group)
	if err != nil || !sl.s.goroutine(func(ctx context.Context) {
		defer close(out)
		for in := range e.Observe(ctx) {
			select {
			case out <- in.ID:
			case <-ctx.Done():
				return
			}
		}
	}) {
		close(out)
	}
	return out
}

type seedElected struct {
	s       *Sync
	e       *redisleader.Elector
	id      string
	timeout time.Duration

	mu      stdsync.Mutex
	ld      *redisleader.Leadership
	revoked chan bool
}

func (el *seedElected) Id() string { return el.id }

func (el *seedElected) Term() uint64 {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.ld.Term()
}

func (el *seedElected) Reelect() error {
	el.mu.Lock()
	leading := el.ld != nil && el.ld.Valid()
	el.mu.Unlock()
	if leading {
		return nil // still the leader: nothing to campaign for
	}
	ctx, cancel := context.WithCancel(el.s.ctx)
	defer cancel()
	if el.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, el.timeout)
		defer cancel()
	}
	ld, err := el.e.Campaign(ctx, el.id)
	if err != nil {
		if el.s.ctx.Err() != nil {
			return fmt.Errorf("%w: elect %q", ErrClosed, el.id)
		}
		return err
	}
	revoked := make(chan bool)
	el.mu.Lock()
	el.ld, el.revoked = ld, revoked
	el.mu.Unlock()
	if !el.s.goroutine(func(ctx context.Context) {
		select {
		case <-ld.Done():
		case <-ctx.Done():
		}
		close(revoked)
	}) {
		close(revoked)
	}
	return nil
}

func (el *seedElected) Resign() error {
	el.mu.Lock()
	ld := el.ld
	el.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ld.Resign(ctx)
}

func (el *seedElected) Revoked() chan bool {
	el.mu.Lock()
	defer el.mu.Unlock()
	return el.revoked
}
