package event

import (
	"context"
	"fmt"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// Event is one event. Publishers fill Key, Payload and optionally ID;
// handlers see the rest filled in.
type Event struct {
	// Key picks the partition (PartitionFor); events with the same key
	// are consumed in publish order. An empty key spreads events over the
	// partitions round robin, with no ordering between them.
	Key     string
	Payload []byte // at most the Client's MaxPayload
	// ID makes publishing idempotent: a second publish of the same ID to
	// the same partition within the dedupe window is not appended, and
	// returns the first publish's Receipt (Duplicate set). IDs are
	// deduplicated per partition, whatever the key: do not reuse an ID
	// for another event, or that event is dropped as a duplicate if its
	// key maps to the same partition. Retry with the same key. For
	// Kafka-style producer sequences use ID = producerID + "/" + sequence.
	ID string
	// Trace is the W3C trace context of the publish. Publish fills it
	// from its ctx through the Client's propagator (WithPropagator) when
	// it is empty or malformed; a malformed one is dropped, never stored.
	// A consumer with a propagator puts it in the handler's context, and
	// dead-lettering keeps it.
	Trace tracing.Context
	// Fence, when its Name is set, appends the event only if Fence.Token
	// is at least the highest token this partition has accepted for that
	// name; otherwise nothing is written and Publish returns ErrStaleToken.
	// Publish with a lock's token (redislock, redisleader's term) so that
	// a holder paused past its lease cannot append after its successor
	// did. The fence is per partition: it orders the publishers of one
	// partition (events with the same key), not of the whole topic.
	Fence Fence

	// Set for handlers.
	Topic     string
	Partition int
	Offset    Offset // the stream entry ID; Offset.Time() is the append time
	Attempt   int    // 1 for the first delivery to this owner
}

// Fence names a fencing token for Event.Fence: Token must be positive,
// and larger for every new holder of whatever Name stands for (a lock's
// fencing token, a leader's term).
type Fence struct {
	Name  string
	Token uint64
}

// Receipt tells where an event was appended.
type Receipt struct {
	Partition int
	Offset    Offset
	Duplicate bool // the ID was published within the dedupe window; Offset is the first append's
}

// Publish appends ev to its partition and returns where. Errors:
// ErrPayloadTooLarge, ErrBadOption (a fence without a name or token),
// ErrStaleToken (a stale Fence token): nothing published; ErrNotReplicated (published,
// too few replicas acknowledged; the Receipt is valid); ErrWrongType; the
// context's or Redis's error: the event may or may not have been
// appended, so publish again with an ID to make retries safe.
func (t *Topic) Publish(ctx context.Context, ev Event) (Receipt, error) {
	rs, err := t.PublishBatch(ctx, []Event{ev})
	if len(rs) == 0 {
		return Receipt{}, err
	}
	return rs[0], err
}

type pending struct {
	i    int // index in the batch
	ev   *Event
	xadd *redis.StringCmd
	dup  *redis.Cmd
}

// PublishBatch appends evs, pipelined: one round trip per Redis node,
// events grouped by partition, and the events of one partition appended
// in slice order. Receipts are in the order of evs. Errors are those of
// Publish; on an error, the receipts of the events known to be appended
// are filled in (the others have a zero Offset, and their Partition).
func (t *Topic) PublishBatch(ctx context.Context, evs []Event) ([]Receipt, error) {
	rs, err := t.publishBatch(ctx, evs)
	if h := t.c.opts.hooks.OnPublish; h != nil {
		for _, r := range rs {
			h(t.name, r, publishErr(r, err))
		}
	}
	return rs, err
}

func (t *Topic) publishBatch(ctx context.Context, evs []Event) ([]Receipt, error) {
	max := t.c.opts.maxPayload
	parts := make([]int, len(evs))
	traces := make([]tracing.Context, len(evs))
	fromCtx := tracing.Inject(ctx, t.c.opts.prop)
	byPart := map[int][]int{}
	order := []int{}
	for i := range evs {
		if len(evs[i].Payload) > max {
			return nil, fmt.Errorf("%w: event %d has %d bytes, limit %d", ErrPayloadTooLarge, i, len(evs[i].Payload), max)
		}
		if f := evs[i].Fence; (f.Name == "") != (f.Token == 0) {
			return nil, fmt.Errorf("%w: event %d: a fence needs a name and a positive token (got %q, %d)", ErrBadOption, i, f.Name, f.Token)
		}
		var p int
		switch {
		case evs[i].Key != "":
			p = t.PartitionFor(evs[i].Key)
		case evs[i].ID != "":
			// No key but an ID: the ID picks the partition, so a retry
			// lands where the first publish did and is deduplicated.
			p = t.PartitionFor(evs[i].ID)
		default:
			p = int(t.rr.Add(1) % uint32(t.n))
		}
		parts[i] = p
		if traces[i] = evs[i].Trace.Valid(); traces[i].IsZero() {
			traces[i] = fromCtx
		}
		if _, ok := byPart[p]; !ok {
			order = append(order, p)
		}
		byPart[p] = append(byPart[p], i)
	}
	out := make([]Receipt, len(evs))
	for i, p := range parts {
		out[i].Partition = p
	}
	queue := func(pipe redis.Pipeliner, p int) []pending {
		var ps []pending
		for _, i := range byPart[p] {
			ev, tr := &evs[i], traces[i]
			pd := pending{i: i, ev: ev}
			switch {
			case ev.ID != "" || ev.Fence.Name != "":
				// An empty fence name means unfenced (token "0").
				pd.dup = publishScript.Eval(ctx, pipe, []string{t.streamKey(p), t.dedupeKey(p, ev.ID), t.fencesKey(p)},
					t.c.opts.dedupe.Milliseconds(), ev.Key, ev.Payload, ev.ID, tr.TraceParent, tr.TraceState,
					ev.Fence.Name, strconv.FormatUint(ev.Fence.Token, 10))
			default:
				values := []any{"k", ev.Key, "v", ev.Payload}
				if tr.TraceParent != "" {
					values = append(values, "tp", tr.TraceParent)
				}
				if tr.TraceState != "" {
					values = append(values, "ts", tr.TraceState)
				}
				pd.xadd = pipe.XAdd(ctx, &redis.XAddArgs{Stream: t.streamKey(p), Values: values})
			}
			ps = append(ps, pd)
		}
		return ps
	}
	collect := func(ps []pending, p int) error {
		var first error
		for _, pd := range ps {
			var id string
			var err error
			dup := false
			if pd.xadd != nil {
				id, err = pd.xadd.Result()
			} else {
				var res []any
				res, err = pd.dup.Slice()
				if err == nil {
					id, _ = res[1].(string)
					flag, _ := res[0].(int64)
					dup = flag == 0
					if flag < 0 {
						err = fmt.Errorf("%w: fence %q is at token %s, event %d has %d", ErrStaleToken, pd.ev.Fence.Name, id, pd.i, pd.ev.Fence.Token)
					}
				}
			}
			if err != nil {
				if first == nil {
					first = wrapErr(err)
				}
				continue
			}
			off, err := ParseOffset(id)
			if err != nil {
				if first == nil {
					first = fmt.Errorf("%w: offset %q", ErrCorrupt, id)
				}
				continue
			}
			out[pd.i] = Receipt{Partition: p, Offset: off, Duplicate: dup}
		}
		return first
	}
	if t.c.opts.replicas == 0 {
		all := map[int][]pending{}
		_, err := t.c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, p := range order {
				all[p] = queue(pipe, p)
			}
			return nil
		})
		var first error
		for _, p := range order {
			if e := collect(all[p], p); e != nil && first == nil {
				first = e
			}
		}
		if first == nil && err != nil {
			first = wrapErr(err)
		}
		return out, first
	}
	return out, t.publishDurable(ctx, order, queue, collect)
}

// waiter is implemented by go-redis pipelines (Pipeliner omits Wait);
// Wait extends the read timeout by the WAIT timeout.
type waiter interface {
	Wait(ctx context.Context, numReplicas int, timeout time.Duration) *redis.IntCmd
}

// publishDurable runs one pipeline per master: the appends, then WAIT on
// the same connection, so WAIT covers them.
func (t *Topic) publishDurable(ctx context.Context, order []int, queue func(redis.Pipeliner, int) []pending, collect func([]pending, int) error) error {
	nodes := map[*redis.Client][]int{}
	var nodeOrder []*redis.Client
	for _, p := range order {
		var n *redis.Client
		switch c := t.c.rdb.(type) {
		case *redis.Client:
			n = c
		case *redis.ClusterClient:
			var err error
			if n, err = c.MasterForKey(ctx, t.streamKey(p)); err != nil {
				return err
			}
		}
		if _, ok := nodes[n]; !ok {
			nodeOrder = append(nodeOrder, n)
		}
		nodes[n] = append(nodes[n], p)
	}
	errs := make([]error, len(nodeOrder))
	var wg stdsync.WaitGroup
	for j, n := range nodeOrder {
		wg.Go(func() {
			all := map[int][]pending{}
			var wait *redis.IntCmd
			_, err := n.Pipelined(ctx, func(pipe redis.Pipeliner) error {
				for _, p := range nodes[n] {
					all[p] = queue(pipe, p)
				}
				wait = pipe.(waiter).Wait(ctx, t.c.opts.replicas, t.c.opts.replicaTimeout)
				return nil
			})
			for _, p := range nodes[n] {
				if e := collect(all[p], p); e != nil && errs[j] == nil {
					errs[j] = e
				}
			}
			if errs[j] != nil {
				return
			}
			if err != nil {
				errs[j] = wrapErr(err)
				return
			}
			if got := wait.Val(); got < int64(t.c.opts.replicas) {
				errs[j] = fmt.Errorf("%w: %d of %d replicas within %v", ErrNotReplicated, got, t.c.opts.replicas, t.c.opts.replicaTimeout)
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
