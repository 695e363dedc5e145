package redisleader

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	stdsync "sync"
)

// Callbacks are the hooks of Run, in the style of client-go's
// leaderelection.
type Callbacks struct {
	// OnStartedLeading runs when the candidate is elected, with a context
	// that ends when the leadership ends. Required. When it returns (or
	// panics), the leadership is resigned.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading runs after a leadership ended and OnStartedLeading
	// returned. Optional.
	OnStoppedLeading func()
	// OnNewLeader runs for every new leader of the group (this candidate
	// included), in term order. Optional.
	OnNewLeader func(Info)
}

// Run campaigns as id until elected, runs cb.OnStartedLeading for the
// leadership, and returns once it is over and the callbacks have
// returned: nil when OnStartedLeading returned (the leadership was
// resigned), an error wrapping ErrLost when the leadership was lost, a
// *PanicError when OnStartedLeading or OnStoppedLeading panicked (resigned
// too), ctx's error when ctx ended (the leadership is resigned), or the
// campaign's error (context ended, Elector closed). OnStartedLeading's
// context carries ctx's values. A panic in OnNewLeader is logged and
// ignored. Call Run in a loop to campaign again.
func (e *Elector) Run(ctx context.Context, id string, cb Callbacks) error {
	if cb.OnStartedLeading == nil {
		return fmt.Errorf("%w: Callbacks.OnStartedLeading is required", ErrBadOption)
	}
	var obs stdsync.WaitGroup
	if cb.OnNewLeader != nil {
		octx, cancel := context.WithCancel(ctx)
		defer obs.Wait()
		defer cancel()
		ch := e.Observe(octx)
		obs.Add(1)
		go func() {
			defer obs.Done()
			for in := range ch {
				func() {
					defer func() {
						if r := recover(); r != nil {
							e.log.Error("redisleader: OnNewLeader panicked", "group", e.group, "panic", r)
						}
					}()
					cb.OnNewLeader(in)
				}()
			}
		}()
	}
	ld, err := e.Campaign(ctx, id)
	if err != nil {
		return err
	}
	var panicked *PanicError
	finished := make(chan struct{})
	// The leader's context carries Run's values and ends with the
	// leadership or with Run's context.
	lctx, lcancel := context.WithCancelCause(ctx)
	defer lcancel(nil)
	stopLink := context.AfterFunc(ld.Context(), func() { lcancel(context.Cause(ld.Context())) })
	defer stopLink()
	go func() {
		defer close(finished)
		defer func() {
			if r := recover(); r != nil {
				panicked = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		cb.OnStartedLeading(&runContext{Context: lctx, ld: ld, cancel: lcancel})
	}()
	select {
	case <-finished:
	case <-ld.Done():
	case <-ctx.Done():
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.retryPeriod)
	ld.Resign(rctx)
	cancel()
	lcancel(ErrResigned)
	<-finished
	if cb.OnStoppedLeading != nil {
		func() {
			defer func() {
				if r := recover(); r != nil && panicked == nil {
					panicked = &PanicError{Value: r, Stack: debug.Stack()}
				}
			}()
			cb.OnStoppedLeading()
		}()
	}
	switch {
	case panicked != nil:
		return panicked
	case errors.Is(context.Cause(ld.Context()), ErrLost):
		return fmt.Errorf("redisleader: %q term %d: %w", e.group, ld.term, ErrLost)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return nil
}

// runContext is the leader callback's context: Run's context, ended with
// the leadership; Err reads the leadership's deadline on the monotonic
// clock, like Leadership.Context.
type runContext struct {
	context.Context
	ld     *Leadership
	cancel context.CancelCauseFunc
}

func (c *runContext) Err() error {
	if err := c.ld.Err(); err != nil {
		c.ld.end(err)
		c.cancel(err)
	}
	return c.Context.Err()
}
