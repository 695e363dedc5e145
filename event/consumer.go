package event

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// Handler handles one event. Returning an error stops its partition at
// that event: it is retried after a backoff (ordering is never skipped)
// until it succeeds, the consumer's dead-letter policy takes it, or the
// partition is handed over. ctx ends when the partition's lease is lost or
// the consumer stops; with WithPropagator it carries the event's trace
// context (Event.Trace) as its remote parent.
type Handler func(ctx context.Context, ev *Event) error

// Hooks are optional callbacks for metrics and tests, set on a Client
// with WithClientHooks (publishing, and every consumer of its topics) or
// on one Consumer with WithHooks; nil fields cost nothing. OnPublish runs
// on the publisher's goroutine, the others on the consumer's goroutine of
// the partition concerned. They run synchronously, so they must be quick
// and must not block, and must be safe for concurrent use; they must
// neither keep nor modify the *Event they get.
type Hooks struct {
	OnAssign     func(partition int, token uint64, from Offset) // this member now owns the partition
	OnRevoke     func(partition int, err error)                 // ownership ended (nil: handed over or stopped)
	OnCommit     func(partition int, token uint64, off Offset, err error)
	OnRetry      func(ev *Event, err error, backoff time.Duration)
	OnDeadLetter func(ev *Event, err error)
	// OnPublish is called by Publish and PublishBatch once per event,
	// after the round trip, with the event's receipt (its Partition is set
	// even on failure) and error: nil when it was appended (or was a
	// duplicate: r.Duplicate), ErrNotReplicated when it was appended but
	// too few replicas acknowledged, otherwise the batch's error. It is
	// not called when nothing was sent (ErrPayloadTooLarge).
	OnPublish func(topic string, r Receipt, err error)
	// OnConsume is called after each handler call (each attempt) with the
	// consumer's group, the event, the handler's run time d and its error
	// (a panic is reported as an error). ev.Offset.Time() is the append
	// time (Redis's clock): time.Since(ev.Offset.Time()) - d is how long
	// the event waited for its handler.
	OnConsume func(group string, ev *Event, d time.Duration, err error)
}

// Defaults of a Consumer.
const (
	DefaultLease = 10 * time.Second
	DefaultBatch = 100
)

// ConsumerOption configures a Consumer.
type ConsumerOption func(*consumerOptions)

type consumerOptions struct {
	lease       time.Duration
	start       Position
	batch       int
	backoff     func(attempt int, err error) time.Duration
	dlq         *Topic
	dlqSet      bool
	maxAttempts int
	hooks       Hooks
	member      string
	leave       bool
}

// WithLease sets the partition lease and membership TTL (default 10s,
// at least 30ms). A crashed member's partitions are taken over after at
// most one lease; leases and membership are renewed every lease/3.
func WithLease(d time.Duration) ConsumerOption { return func(o *consumerOptions) { o.lease = d } }

// WithStart sets where the group starts in a partition it has never
// committed (default Beginning), resolved when a member of the group
// first claims the partition (End: the partition's last event at that
// moment). It has no effect once the group has an offset; use
// Topic.ResetGroup to move it.
func WithStart(p Position) ConsumerOption { return func(o *consumerOptions) { o.start = p } }

// WithBatch sets how many events one read returns; the offset is
// committed after each batch (default 100). A crash redelivers at most
// one batch per partition.
func WithBatch(n int) ConsumerOption { return func(o *consumerOptions) { o.batch = n } }

// WithBackoff sets the delay before retrying a failed event (default:
// exponential from 100ms, capped at 10s, with full jitter).
func WithBackoff(f func(attempt int, err error) time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.backoff = f }
}

// WithDeadLetter moves an event whose handler failed maxAttempts times to
// the topic dlq (same key and payload, published idempotently), then goes
// on with the next event. Without it, a failing event is retried forever.
func WithDeadLetter(dlq *Topic, maxAttempts int) ConsumerOption {
	return func(o *consumerOptions) { o.dlq, o.maxAttempts, o.dlqSet = dlq, maxAttempts, true }
}

// WithHooks sets metric and test callbacks.
func WithHooks(h Hooks) ConsumerOption { return func(o *consumerOptions) { o.hooks = h } }

// WithMemberID sets the member id shown in the membership set and lease
// values (default "<hostname>:<pid>:<random>"); it must be unique.
func WithMemberID(id string) ConsumerOption { return func(o *consumerOptions) { o.member = id } }

// WithLeaveOnStop sets whether Run, when its context ends, releases the
// leases and leaves the group so others take over at once (default true).
// With false, Run stops its goroutines and returns as if the process had
// crashed: the leases and membership expire after one lease. For tests
// and demos.
func WithLeaveOnStop(leave bool) ConsumerOption { return func(o *consumerOptions) { o.leave = leave } }

// Consumer is one member of a consumer group of a topic. Each partition
// is owned by one member at a time, through a fenced lease; the member
// reads it in order from the group's committed offset. A Consumer is safe
// for concurrent use; Run may be called once at a time.
type Consumer struct {
	t       *Topic
	group   string
	h       Handler
	o       consumerOptions
	log     *slog.Logger
	running atomic.Bool
	noRenew atomic.Bool // tests: stop renewing leases, as a paused process would
}

// Consumer returns a member of group on t that runs h. Errors:
// ErrInvalidGroup, ErrBadOption.
func (t *Topic) Consumer(group string, h Handler, opts ...ConsumerOption) (*Consumer, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	o := consumerOptions{lease: DefaultLease, batch: DefaultBatch, backoff: defaultBackoff, leave: true}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case h == nil:
		return nil, fmt.Errorf("%w: nil handler", ErrBadOption)
	case o.lease < 30*time.Millisecond:
		return nil, fmt.Errorf("%w: lease %v below 30ms", ErrBadOption, o.lease)
	case o.batch <= 0:
		return nil, fmt.Errorf("%w: batch %d", ErrBadOption, o.batch)
	case o.backoff == nil:
		return nil, fmt.Errorf("%w: nil backoff", ErrBadOption)
	case o.dlqSet && o.dlq == nil:
		return nil, fmt.Errorf("%w: nil dead-letter topic", ErrBadOption)
	case o.dlq != nil && o.maxAttempts <= 0:
		return nil, fmt.Errorf("%w: dead-letter after %d attempts", ErrBadOption, o.maxAttempts)
	case o.dlq == t:
		return nil, fmt.Errorf("%w: dead-letter topic is the topic itself", ErrBadOption)
	}
	if err := t.checkPosition(o.start); err != nil {
		return nil, err
	}
	o.hooks = joinHooks(t.c.opts.hooks, o.hooks)
	if o.member == "" {
		host, _ := os.Hostname()
		var b [4]byte
		crand.Read(b[:])
		o.member = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return &Consumer{t: t, group: group, h: h, o: o, log: t.c.log.With("topic", t.name, "group", group, "member", o.member)}, nil
}

// Member returns the member id.
func (c *Consumer) Member() string { return c.o.member }

func defaultBackoff(attempt int, _ error) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 7)
	d = min(d, 10*time.Second)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// owned is a partition this member holds.
type owned struct {
	p      int
	lk     *redislock.Lock
	cancel context.CancelFunc
	done   chan struct{}
}

// Run joins the group and consumes until ctx ends, then stops every
// partition (the handlers' contexts are cancelled; their events are not
// committed), commits what was handled, releases the leases and leaves
// the group (unless WithLeaveOnStop(false)), and returns nil. Redis
// errors are logged and retried, not returned. It returns ErrRunning if
// the Consumer already runs.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	locker, err := redislock.New([]redis.UniversalClient{c.t.c.rdb}, redislock.WithPrefix(c.t.c.keys.Prefix()),
		redislock.WithKind(kind), redislock.WithTTL(c.o.lease), redislock.WithOwner(c.o.member), redislock.WithLogger(c.log))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	held := map[int]*owned{}
	ended := make(chan int, c.t.n)
	var wg stdsync.WaitGroup
	defer wg.Wait()
	every := c.o.lease / 3
	timer := time.NewTimer(0)
	defer timer.Stop()
	var members []string
	stop := func(o *owned) {
		o.cancel()
		<-o.done
		delete(held, o.p)
	}
	for {
		select {
		case <-ctx.Done():
			for _, o := range held {
				stop(o)
			}
			if !c.o.leave {
				return nil // crash: leases and membership expire on their own
			}
			// Fresh context: the caller's has ended.
			cctx, cancel := context.WithTimeout(context.Background(), c.o.lease)
			defer cancel()
			c.heartbeat(cctx, false)
			locker.Close() // releases the leases still held
			return nil
		case p := <-ended:
			if o := held[p]; o != nil {
				select {
				case <-o.done:
					delete(held, p)
					if o.lk.Err() == nil {
						rctx, cancel := context.WithTimeout(ctx, c.o.lease)
						o.lk.Release(rctx)
						cancel()
					}
				default:
				}
			}
			continue
		case <-timer.C:
		}
		timer.Reset(every)
		if m, err := c.heartbeat(ctx, true); err == nil {
			members = m
		} else if ctx.Err() == nil {
			c.log.Warn("event: membership heartbeat failed", "err", err)
		}
		if !c.noRenew.Load() {
			for _, o := range held {
				rctx, cancel := context.WithTimeout(ctx, every)
				err := o.lk.Extend(rctx, 0)
				cancel()
				if err != nil && ctx.Err() == nil {
					c.log.Warn("event: lease renewal failed", "partition", o.p, "err", err)
				}
			}
		}
		// Partitions whose worker ended (lease lost, stale token).
		for p, o := range held {
			select {
			case <-o.done:
				delete(held, p)
			default:
			}
		}
		c.rebalance(ctx, locker, members, held, ended, &wg)
	}
}

// rebalance hands back partitions above this member's share and tries to
// take free ones up to it. The share is ceil(P/members); a member prefers
// the partitions p with p mod members == its rank, which makes the
// assignment settle without coordination.
func (c *Consumer) rebalance(ctx context.Context, locker *redislock.Locker, members []string, held map[int]*owned, ended chan int, wg *stdsync.WaitGroup) {
	n := len(members)
	rank := slices.Index(members, c.o.member)
	if n == 0 || rank < 0 {
		n, rank = 1, 0 // membership unknown: behave as the only member
	}
	P := c.t.n
	target := (P + n - 1) / n
	preferred := func(p int) bool { return p%n == rank }
	if len(held) > target {
		var extra []int
		for p := range held {
			extra = append(extra, p)
		}
		// Hand back non-preferred partitions first, highest first.
		slices.SortFunc(extra, func(a, b int) int {
			pa, pb := preferred(a), preferred(b)
			if pa != pb {
				if pa {
					return 1
				}
				return -1
			}
			return b - a
		})
		for _, p := range extra[:len(held)-target] {
			o := held[p]
			o.cancel()
			<-o.done
			delete(held, p)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.lease)
			o.lk.Release(rctx)
			cancel()
			c.log.Info("event: partition handed back", "partition", p)
		}
		return
	}
	var order []int
	for p := range P {
		if preferred(p) {
			order = append(order, p)
		}
	}
	for i := range P {
		if p := (rank*target + i) % P; !preferred(p) {
			order = append(order, p)
		}
	}
	for _, p := range order {
		if len(held) >= target || ctx.Err() != nil {
			return
		}
		if held[p] != nil {
			continue
		}
		lk, err := locker.TryAcquire(ctx, c.t.leaseName(p, c.group), redislock.TTL(c.o.lease), redislock.Owner(c.o.member))
		if err != nil {
			if !errors.Is(err, redislock.ErrTaken) && ctx.Err() == nil {
				c.log.Warn("event: lease acquisition failed", "partition", p, "err", err)
			}
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		o := &owned{p: p, lk: lk, cancel: cancel, done: make(chan struct{})}
		held[p] = o
		wg.Go(func() {
			defer close(o.done)
			defer func() {
				select {
				case ended <- p:
				default:
				}
			}()
			c.runPartition(wctx, p, lk)
		})
	}
}

// heartbeat registers (join) or removes this member and returns the live
// members.
func (c *Consumer) heartbeat(ctx context.Context, join bool) ([]string, error) {
	flag := "0"
	if join {
		flag = "1"
	}
	return memberScript.Run(ctx, c.t.c.rdb, []string{c.t.membersKey(c.group)}, c.o.member, c.o.lease.Milliseconds(), flag).StringSlice()
}
