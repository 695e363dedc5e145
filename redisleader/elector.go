package redisleader

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/lifecycle"
	"github.com/go-sync/sync/internal/script"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

var (
	announceScript = script.Load(scriptFS, "scripts/announce.lua")
	readScript     = script.Load(scriptFS, "scripts/read.lua")
)

// Info describes a leader.
type Info struct {
	ID    string    // candidate id
	Term  uint64    // strictly increasing per group
	Since time.Time // when it was elected (wall clock of the leader)
}

// Elector runs elections for one group over one Redis, N independent
// Redis masters (quorum N/2+1), or a Redis Cluster. It is safe for
// concurrent use; several candidates may campaign through one Elector.
// Close ends its leaderships (resigning them), observers and background
// goroutines.
type Elector struct {
	group   string
	nodes   []redis.UniversalClient
	quorum  int
	locker  *redislock.Locker
	lease   string // lease key
	info    string // announcement hash
	history string // announcement stream
	opts    options
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     lifecycle.Group // background goroutines; Add may race with Close's Wait

	mu     stdsync.Mutex
	closed bool
	active map[*Leadership]struct{}
}

// New returns an Elector for group. It returns an error wrapping
// ErrBadOption for no nodes, a nil node, an invalid prefix, or timings
// that break LeaseDuration > RenewDeadline > RetryPeriod; ErrInvalidName
// for an empty group.
func New(nodes []redis.UniversalClient, group string, opts ...Option) (*Elector, error) {
	if group == "" {
		return nil, fmt.Errorf("%w: empty group", ErrInvalidName)
	}
	o := options{prefix: keys.DefaultPrefix, lease: DefaultLeaseDuration, renewDeadline: DefaultRenewDeadline, retryPeriod: DefaultRetryPeriod}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	locker, err := redislock.New(nodes, redislock.WithPrefix(o.prefix), redislock.WithKind("leader"),
		redislock.WithTTL(o.lease), redislock.WithLogger(o.logger))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	ks := keys.Must(o.prefix)
	e := &Elector{
		group:   group,
		nodes:   nodes,
		quorum:  len(nodes)/2 + 1,
		locker:  locker,
		lease:   locker.Key(group),
		info:    ks.Key("leader", group, "info"),
		history: ks.Key("leader", group, "history"),
		opts:    o,
		log:     o.logger,
		active:  map[*Leadership]struct{}{},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

// Group returns the group name.
func (e *Elector) Group() string { return e.group }

// Close resigns the leaderships won through e, stops observers and
// renewals, and waits for them. It is idempotent.
func (e *Elector) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	active := make([]*Leadership, 0, len(e.active))
	for ld := range e.active {
		active = append(active, ld)
	}
	e.mu.Unlock()
	for _, ld := range active {
		ctx, cancel := context.WithTimeout(context.Background(), e.giveBack())
		ld.Resign(ctx)
		cancel()
	}
	e.cancel()
	e.wg.Wait()
	return e.locker.Close()
}

// giveBack bounds the release of a lease at Close: the retry period, but
// at least a second, so that a loaded machine still sends it (a lease left
// behind keeps the other candidates out until it runs out).
func (e *Elector) giveBack() time.Duration { return max(e.opts.retryPeriod, time.Second) }

// Campaign blocks until id leads the group, ctx ends, or the Elector
// closes. Candidates of one Elector are elected in arrival order; a
// resignation wakes the next candidate at once, a crash after the lease
// runs out. Errors: ErrInvalidName, ErrClosed, or one for which
// errors.Is(err, ctx.Err()) holds.
func (e *Elector) Campaign(ctx context.Context, id string) (*Leadership, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty candidate id", ErrInvalidName)
	}
	lk, err := e.locker.Acquire(ctx, e.group, redislock.TTL(e.opts.lease), redislock.Owner(id))
	if err != nil {
		if errors.Is(err, redislock.ErrClosed) {
			return nil, fmt.Errorf("%w: campaign %q", ErrClosed, e.group)
		}
		return nil, fmt.Errorf("redisleader: campaign %q: %w", e.group, err)
	}
	ld, err := e.newLeadership(id, lk)
	if err != nil {
		return nil, err
	}
	if ld.Err() == nil {
		e.announce(ctx, ld)
	}
	return ld, nil
}

// announce publishes the new leadership on every node and returns once a
// majority has it (Leader needs a majority to agree), or after one retry
// period, or when ctx ends; slower nodes finish in the background.
func (e *Elector) announce(ctx context.Context, ld *Leadership) {
	ch := make(chan error, len(e.nodes))
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.lease)
	e.wg.Add(len(e.nodes) + 1)
	for _, n := range e.nodes {
		go func() {
			defer e.wg.Done()
			err := announceScript.Run(actx, n, []string{e.info, e.history},
				ld.id, ld.term, ld.since.UnixMilli(), ld.lk.Holder(), historyLen).Err()
			if err != nil {
				e.log.Warn("redisleader: announce failed on a node", "group", e.group, "term", ld.term, "err", err)
			}
			ch <- err
		}()
	}
	decided := make(chan struct{})
	go func() {
		defer e.wg.Done()
		defer cancel()
		ok, failed, closed := 0, 0, false
		for range e.nodes {
			if <-ch == nil {
				ok++
			} else {
				failed++
			}
			if !closed && (ok >= e.quorum || len(e.nodes)-failed < e.quorum) {
				close(decided)
				closed = true
			}
		}
		if !closed {
			close(decided)
		}
	}()
	t := time.NewTimer(e.opts.retryPeriod)
	defer t.Stop()
	select {
	case <-decided:
	case <-t.C:
	case <-ctx.Done():
	}
}

// Leader returns the current leader of the group, read from Redis. It
// returns an error wrapping ErrNoLeader when none leads (no lease, or the
// lease holder has not announced yet), or when on N nodes no majority
// agrees; a node error when too few nodes answered.
func (e *Elector) Leader(ctx context.Context) (Info, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return Info{}, fmt.Errorf("%w: leader of %q", ErrClosed, e.group)
	}
	type reply struct {
		info  Info
		valid bool
		err   error
	}
	ch := make(chan reply, len(e.nodes))
	rctx := context.WithoutCancel(ctx)
	e.wg.Add(len(e.nodes))
	for _, n := range e.nodes {
		go func() {
			defer e.wg.Done()
			vals, err := readScript.Run(rctx, n, []string{e.lease, e.info}).Slice()
			if err != nil {
				ch <- reply{err: err}
				return
			}
			r := reply{}
			lease, _ := vals[0].(string)
			holder, _ := vals[4].(string)
			id, _ := vals[1].(string)
			termS, _ := vals[2].(string)
			sinceS, _ := vals[3].(string)
			term, err1 := strconv.ParseUint(termS, 10, 64)
			since, err2 := strconv.ParseInt(sinceS, 10, 64)
			if lease != "" && lease == holder && err1 == nil && err2 == nil {
				r.info, r.valid = Info{ID: id, Term: term, Since: time.UnixMilli(since)}, true
			}
			ch <- r
		}()
	}
	votes := map[uint64]int{}
	infos := map[uint64]Info{}
	var errs []error
	answered := 0
	// Stop as soon as a majority agrees on a leader, or no term can reach
	// a majority any more, or ctx ends: a hung node must not hold the
	// caller.
collect:
	for answered < len(e.nodes) {
		select {
		case r := <-ch:
			answered++
			switch {
			case r.err != nil:
				errs = append(errs, r.err)
			case r.valid:
				votes[r.info.Term]++
				infos[r.info.Term] = r.info
				if votes[r.info.Term] >= e.quorum {
					break collect
				}
			}
		case <-ctx.Done():
			errs = append(errs, ctx.Err())
			break collect
		}
	}
	var best Info
	found := false
	for term, v := range votes {
		if v >= e.quorum && term >= best.Term {
			best, found = infos[term], true
		}
	}
	if found {
		return best, nil
	}
	if answered-len(errs) < e.quorum && len(errs) > 0 {
		return Info{}, fmt.Errorf("redisleader: leader of %q: too few nodes answered: %w", e.group, errors.Join(errs...))
	}
	return Info{}, fmt.Errorf("%w: group %q", ErrNoLeader, e.group)
}
