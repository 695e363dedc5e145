package redistask

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

// Inspector reads and administers queues: statistics, dead tasks,
// consumers. It is separate from producers and workers, holds no
// goroutines, and is safe for concurrent use.
type Inspector struct {
	client redis.UniversalClient
	keys   keys.Space
}

// InspectorOption configures an Inspector.
type InspectorOption func(*Inspector)

// WithInspectorPrefix sets the key prefix (default "sync").
func WithInspectorPrefix(p string) InspectorOption {
	return func(i *Inspector) { i.keys, _ = keys.New(p) }
}

// NewInspector returns an Inspector on client.
func NewInspector(client redis.UniversalClient, opts ...InspectorOption) (*Inspector, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	in := &Inspector{client: client, keys: keys.Must(keys.DefaultPrefix)}
	for _, o := range opts {
		o(in)
	}
	if in.keys.Prefix() == "" {
		return nil, fmt.Errorf("%w: invalid prefix", ErrBadOption)
	}
	return in, nil
}

// Stats describes a queue at one moment.
type Stats struct {
	Queue    string
	Length   int64            // entries in the stream: ready + in flight
	Pending  int64            // delivered, not yet acknowledged (in flight)
	Lag      int64            // ready, not yet delivered to any worker
	InFlight map[string]int64 // pending per consumer
	Delayed  int64            // waiting for their run-at time
	Retry    int64            // waiting for their next attempt
	Dead     int64            // in the dead-letter stream
	// OldestAge is the age of the oldest entry in the stream (0 if empty).
	OldestAge time.Duration
}

// Stats returns the queue's statistics.
func (in *Inspector) Stats(ctx context.Context, queue string) (Stats, error) {
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Queue: queue, InFlight: map[string]int64{}}
	var (
		xlen, delayed, retry, dead *redis.IntCmd
		pend                       *redis.XPendingCmd
		oldest                     *redis.XMessageSliceCmd
	)
	_, err = in.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		xlen = p.XLen(ctx, k.stream)
		pend = p.XPending(ctx, k.stream, group)
		oldest = p.XRangeN(ctx, k.stream, "-", "+", 1)
		delayed = p.ZCard(ctx, k.delayed)
		retry = p.ZCard(ctx, k.retry)
		dead = p.XLen(ctx, k.dead)
		return nil
	})
	if err != nil && !isNoGroup(err) {
		return Stats{}, wrapErr(err)
	}
	st.Length, st.Delayed, st.Retry, st.Dead = xlen.Val(), delayed.Val(), retry.Val(), dead.Val()
	if p, err := pend.Result(); err == nil {
		st.Pending = p.Count
		for c, n := range p.Consumers {
			st.InFlight[c] = n
		}
	}
	st.Lag = max(st.Length-st.Pending, 0)
	if ms := oldest.Val(); len(ms) > 0 {
		if ts, ok := idTime(ms[0].ID); ok {
			st.OldestAge = max(time.Since(ts), 0)
		}
	}
	return st, nil
}

func isNoGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// idTime returns the time encoded in a stream entry id.
func idTime(id string) (time.Time, bool) {
	ms, _, ok := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// DeadTask is a dead-lettered task.
type DeadTask struct {
	ID     string // dead-letter entry id
	Task   *Task  // nil when the task could not be decoded (Reason "corrupt")
	Reason string // "failed", "unknown-name", "corrupt", "reclaimed"
	Error  string
	Died   time.Time
	raw    string
}

// Dead lists up to n dead tasks, oldest first.
func (in *Inspector) Dead(ctx context.Context, queue string, n int64) ([]DeadTask, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: list %d dead tasks", ErrBadOption, n)
	}
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return nil, err
	}
	ms, err := in.client.XRangeN(ctx, k.dead, "-", "+", n).Result()
	if err != nil {
		return nil, wrapErr(err)
	}
	out := make([]DeadTask, 0, len(ms))
	for _, m := range ms {
		out = append(out, parseDead(m))
	}
	return out, nil
}

func parseDead(m redis.XMessage) DeadTask {
	d := DeadTask{ID: m.ID}
	d.raw, _ = m.Values["t"].(string)
	d.Reason, _ = m.Values["reason"].(string)
	d.Error, _ = m.Values["error"].(string)
	if s, ok := m.Values["died"].(string); ok {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			d.Died = time.UnixMilli(ms)
		}
	}
	if t, err := decode(d.raw); err == nil {
		d.Task = t
	}
	return d
}

// ErrNotFound is returned for a dead task id that does not exist.
var ErrNotFound = errors.New("redistask: not found")

// RequeueDead moves a dead task back to the queue with its attempts reset
// and returns its new entry id.
func (in *Inspector) RequeueDead(ctx context.Context, queue, id string) (string, error) {
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return "", err
	}
	if _, ok := idTime(id); !ok {
		return "", fmt.Errorf("%w: dead task %q in %q (not an entry id)", ErrNotFound, id, queue)
	}
	ms, err := in.client.XRangeN(ctx, k.dead, id, id, 1).Result()
	if err != nil {
		return "", wrapErr(err)
	}
	if len(ms) == 0 {
		return "", fmt.Errorf("%w: dead task %s in %q", ErrNotFound, id, queue)
	}
	d := parseDead(ms[0])
	if d.Task == nil {
		return "", fmt.Errorf("%w: dead task %s cannot be decoded", ErrCorrupt, id)
	}
	t := d.Task
	t.Attempt, t.LastError = 0, ""
	newID, err := requeueScript.Run(ctx, in.client, []string{k.dead, k.stream}, id, encode(t)).Text()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: dead task %s in %q", ErrNotFound, id, queue)
	}
	return newID, wrapErr(err)
}

// DeleteDead deletes dead tasks by id and returns how many existed.
func (in *Inspector) DeleteDead(ctx context.Context, queue string, ids ...string) (int64, error) {
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return 0, err
	}
	n, err := in.client.XDel(ctx, k.dead, ids...).Result()
	return n, wrapErr(err)
}

// Consumer describes a worker known to the queue's group.
type Consumer struct {
	Name    string
	Pending int64
	Idle    time.Duration
}

// Consumers lists the workers of the queue's group.
func (in *Inspector) Consumers(ctx context.Context, queue string) ([]Consumer, error) {
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return nil, err
	}
	cs, err := in.client.XInfoConsumers(ctx, k.stream, group).Result()
	if err != nil {
		if isNoGroup(err) {
			return nil, nil
		}
		return nil, wrapErr(err)
	}
	out := make([]Consumer, len(cs))
	for i, c := range cs {
		out[i] = Consumer{Name: c.Name, Pending: c.Pending, Idle: c.Idle}
	}
	return out, nil
}

// RemoveIdleConsumers deletes consumers idle for at least idle that have
// nothing pending (XGROUP DELCONSUMER would drop a consumer's pending
// tasks, so those are never removed). It returns the names removed.
func (in *Inspector) RemoveIdleConsumers(ctx context.Context, queue string, idle time.Duration) ([]string, error) {
	k, err := newQueueKeys(in.keys, queue)
	if err != nil {
		return nil, err
	}
	cs, err := in.Consumers(ctx, queue)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, c := range cs {
		if c.Pending > 0 || c.Idle < idle {
			continue
		}
		// DELCONSUMER returns the pending count it dropped; re-check it is
		// still zero by removing only when the consumer has none now.
		p, err := in.client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k.stream, Group: group, Start: "-", End: "+", Count: 1, Consumer: c.Name}).Result()
		if err != nil || len(p) > 0 {
			continue
		}
		if err := in.client.XGroupDelConsumer(ctx, k.stream, group, c.Name).Err(); err != nil {
			return removed, wrapErr(err)
		}
		removed = append(removed, c.Name)
	}
	return removed, nil
}
