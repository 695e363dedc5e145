package redistask

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// Defaults of a Producer.
const (
	DefaultMaxAttempts = 10
	DefaultMaxPayload  = 1 << 20 // 1 MiB
	DefaultDedupe      = 24 * time.Hour
)

// Producer pushes tasks. It is safe for concurrent use. It holds no
// goroutine except while RunCommand calls wait: one per queue then, which
// ends with the last of them.
type Producer struct {
	client     redis.UniversalClient
	keys       keys.Space
	maxPayload int
	dedupe     time.Duration
	prop       tracing.Propagator
	now        func() time.Time
	hooks      Hooks

	lmu       stdsync.Mutex
	listeners map[string]*replyListener // RunCommand's, by queue
}

// ProducerOption configures a Producer.
type ProducerOption func(*Producer)

// WithProducerPrefix sets the key prefix (default "sync").
func WithProducerPrefix(p string) ProducerOption {
	return func(pr *Producer) { pr.keys, _ = keys.New(p) }
}

// WithMaxPayload sets the largest payload Push accepts (default 1 MiB).
func WithMaxPayload(n int) ProducerOption { return func(p *Producer) { p.maxPayload = n } }

// WithDedupeWindow sets how long a task ID stays unique (default 24h).
func WithDedupeWindow(d time.Duration) ProducerOption { return func(p *Producer) { p.dedupe = d } }

// WithProducerPropagator makes Push and PushBatch store the W3C trace
// context of their ctx, injected by p, in tasks whose Trace is empty or
// malformed (default: none; Trace is stored only when set by the
// caller). See github.com/go-sync/sync/otelsync for OpenTelemetry.
func WithProducerPropagator(p tracing.Propagator) ProducerOption {
	return func(pr *Producer) { pr.prop = p }
}

// NewProducer returns a Producer on client. The caller owns the client.
func NewProducer(client redis.UniversalClient, opts ...ProducerOption) (*Producer, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	p := &Producer{client: client, keys: keys.Must(keys.DefaultPrefix), maxPayload: DefaultMaxPayload, dedupe: DefaultDedupe, now: time.Now}
	for _, o := range opts {
		o(p)
	}
	if p.keys.Prefix() == "" {
		return nil, fmt.Errorf("%w: invalid prefix", ErrBadOption)
	}
	if p.maxPayload <= 0 || p.dedupe < time.Millisecond {
		return nil, fmt.Errorf("%w: MaxPayload must be positive and DedupeWindow at least 1ms", ErrBadOption)
	}
	return p, nil
}

// prepare validates t and fills its defaults, and its trace context from
// tc when it has no valid one; it returns the encoded task and its run-at
// time in unix ms (0: now).
func (p *Producer) prepare(t *Task, tc tracing.Context) (string, int64, error) {
	if t.Name == "" {
		return "", 0, fmt.Errorf("%w: empty task name", ErrInvalidName)
	}
	if len(t.Payload) > p.maxPayload {
		return "", 0, fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(t.Payload), p.maxPayload)
	}
	if t.MaxAttempts < 0 || t.Timeout < 0 || t.Delay < 0 {
		return "", 0, fmt.Errorf("%w: negative MaxAttempts, Timeout or Delay", ErrBadOption)
	}
	now := p.now()
	c := *t
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	c.Attempt, c.LastError, c.EnqueuedAt = 0, "", now
	if c.Trace = t.Trace.Valid(); c.Trace.IsZero() {
		c.Trace = tc
	}
	var at int64
	// Run-at times are rounded up to the millisecond: never early.
	ceilMs := func(t time.Time) int64 { return (t.UnixNano() + int64(time.Millisecond) - 1) / int64(time.Millisecond) }
	switch {
	case !t.RunAt.IsZero() && t.RunAt.After(now):
		at = ceilMs(t.RunAt)
	case t.RunAt.IsZero() && t.Delay > 0:
		at = ceilMs(now.Add(t.Delay))
	}
	return encode(&c), at, nil
}

// Push enqueues t on queue and returns its entry id ("delayed" for a
// delayed task). Errors: ErrInvalidName, ErrPayloadTooLarge, ErrBadOption
// (nothing enqueued); ErrDuplicate when t.ID was pushed within the dedupe
// window; ErrWrongType; the context's or Redis's error (the task may or
// may not have been enqueued: push again with an ID to make retries safe).
func (p *Producer) Push(ctx context.Context, queue string, t Task) (string, error) {
	id, err := p.push(ctx, queue, t)
	if h := p.hooks.OnPush; h != nil && !rejected(err) {
		c := t // escapes to the hook; t must not (no allocation without hooks)
		h(queue, &c, err)
	}
	return id, err
}

// rejected reports errors returned before anything was sent to Redis.
func rejected(err error) bool {
	return errors.Is(err, ErrInvalidName) || errors.Is(err, ErrPayloadTooLarge) || errors.Is(err, ErrBadOption)
}

func (p *Producer) push(ctx context.Context, queue string, t Task) (string, error) {
	k, err := newQueueKeys(p.keys, queue)
	if err != nil {
		return "", err
	}
	blob, at, err := p.prepare(&t, tracing.Inject(ctx, p.prop))
	if err != nil {
		return "", err
	}
	if t.ID != "" {
		res, err := pushScript.Run(ctx, p.client, []string{k.unique(t.ID), k.stream, k.delayed}, p.dedupe.Milliseconds(), blob, at).Slice()
		if err != nil {
			return "", wrapErr(err)
		}
		id, _ := res[1].(string)
		if res[0].(int64) != 1 {
			return id, fmt.Errorf("%w: %q already pushed as %s", ErrDuplicate, t.ID, id)
		}
		return id, nil
	}
	if at > 0 {
		return "delayed", wrapErr(p.client.ZAdd(ctx, k.delayed, redis.Z{Score: float64(at), Member: blob}).Err())
	}
	id, err := p.client.XAdd(ctx, &redis.XAddArgs{Stream: k.stream, Values: []string{"t", blob}}).Result()
	return id, wrapErr(err)
}

// PushBatch enqueues tasks on queue in one pipelined round trip and
// returns their entry ids in order. It validates every task first and
// enqueues nothing if one is invalid. Per-task failures (ErrDuplicate)
// are reported in errs, nil where the push succeeded; err is set when the
// round trip itself failed.
func (p *Producer) PushBatch(ctx context.Context, queue string, tasks []Task) (ids []string, errs []error, err error) {
	return p.pushBatch(ctx, queue, tasks, nil)
}

// pushBatch is PushBatch; first, if not nil, adds commands to the front of
// the pipeline (they reach Redis before the tasks, in the same round trip).
func (p *Producer) pushBatch(ctx context.Context, queue string, tasks []Task, first func(redis.Pipeliner)) (ids []string, errs []error, err error) {
	k, err := newQueueKeys(p.keys, queue)
	if err != nil {
		return nil, nil, err
	}
	blobs := make([]string, len(tasks))
	ats := make([]int64, len(tasks))
	tc := tracing.Inject(ctx, p.prop)
	for i := range tasks {
		if blobs[i], ats[i], err = p.prepare(&tasks[i], tc); err != nil {
			return nil, nil, fmt.Errorf("task %d: %w", i, err)
		}
	}
	cmds := make([]redis.Cmder, len(tasks))
	_, err = p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		if first != nil {
			first(pipe)
		}
		for i, t := range tasks {
			switch {
			case t.ID != "":
				cmds[i] = pushScript.Eval(ctx, pipe, []string{k.unique(t.ID), k.stream, k.delayed}, p.dedupe.Milliseconds(), blobs[i], ats[i])
			case ats[i] > 0:
				cmds[i] = pipe.ZAdd(ctx, k.delayed, redis.Z{Score: float64(ats[i]), Member: blobs[i]})
			default:
				cmds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: k.stream, Values: []string{"t", blobs[i]}})
			}
		}
		return nil
	})
	ids = make([]string, len(tasks))
	errs = make([]error, len(tasks))
	for i, c := range cmds {
		switch c := c.(type) {
		case *redis.StringCmd:
			ids[i], errs[i] = c.Val(), wrapErr(c.Err())
		case *redis.IntCmd:
			ids[i], errs[i] = "delayed", wrapErr(c.Err())
		case *redis.Cmd:
			res, e := c.Slice()
			if e != nil {
				errs[i] = wrapErr(e)
				continue
			}
			ids[i], _ = res[1].(string)
			if res[0].(int64) != 1 {
				errs[i] = fmt.Errorf("%w: %q already pushed as %s", ErrDuplicate, tasks[i].ID, ids[i])
			}
		}
	}
	if h := p.hooks.OnPush; h != nil {
		for i := range tasks {
			h(queue, &tasks[i], errs[i])
		}
	}
	if err != nil {
		// Pipelined returns the first command error; report it only when
		// the round trip failed as a whole.
		allFailed := true
		for _, e := range errs {
			if e == nil {
				allFailed = false
			}
		}
		if !allFailed {
			err = nil
		}
	}
	return ids, errs, err
}
