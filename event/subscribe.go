package event

import (
	"context"
	"fmt"
	stdsync "sync"

	"github.com/go-sync/sync/tracing"
)

// Subscribe delivers every event of every partition from position from,
// without a group: every subscriber sees every event (fan-out), in order
// within each partition; partitions are read concurrently, one blocking
// read each. Nothing is committed: a subscriber that restarts chooses its
// position again (pass FromOffsets with the last offsets it saw to
// resume).
//
// Subscribe blocks until ctx ends (it then returns nil) or h returns an
// error (it then stops every partition and returns that error, wrapped
// with the event's partition and offset). Redis errors are retried.
func (t *Topic) Subscribe(ctx context.Context, from Position, h Handler) error {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrBadOption)
	}
	if err := t.checkPosition(from); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg stdsync.WaitGroup
	for p := range t.n {
		wg.Go(func() {
			if err := t.follow(ctx, p, from, h); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil && err != ctx.Err() {
		return err
	}
	return nil
}

func (t *Topic) follow(ctx context.Context, p int, from Position, h Handler) error {
	block := t.c.opts.block
	var cursor Offset
	for {
		var err error
		if cursor, err = t.resolve(ctx, p, from); err == nil {
			break
		}
		if ctx.Err() != nil || !sleep(ctx, block) {
			return nil
		}
		t.c.log.Warn("event: resolve failed", "partition", p, "err", err)
	}
	for ctx.Err() == nil {
		evs, err := t.read(ctx, p, cursor, DefaultBatch, block)
		if err != nil {
			if ctx.Err() == nil {
				t.c.log.Warn("event: read failed", "partition", p, "err", err)
				sleep(ctx, block)
			}
			continue
		}
		for i := range evs {
			evs[i].Attempt = 1
			if err := h(tracing.Extract(ctx, t.c.opts.prop, evs[i].Trace), &evs[i]); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return &HandlerError{Partition: p, Offset: evs[i].Offset, Err: err}
			}
			cursor = evs[i].Offset
		}
	}
	return nil
}

// HandlerError is returned by Subscribe when a handler failed.
type HandlerError struct {
	Partition int
	Offset    Offset
	Err       error
}

func (e *HandlerError) Error() string {
	return "event: handler failed at partition " + itoa(e.Partition) + " offset " + e.Offset.String() + ": " + e.Err.Error()
}

// Unwrap returns the handler's error.
func (e *HandlerError) Unwrap() error { return e.Err }
