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
// *PanicError when OnStartedLeading panicked (resigned too), or the
// campaign's error (context ended, Elector closed). Call Run in a loop to
// campaign again.
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
				cb.OnNewLeader(in)
			}
		}()
	}
	ld, err := e.Campaign(ctx, id)
	if err != nil {
		return err
	}
	var panicked *PanicError
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer func() {
			if r := recover(); r != nil {
				panicked = &PanicError{Value: r, Stack: debug.Stack()}
			}
		}()
		cb.OnStartedLeading(ld.Context())
	}()
	select {
	case <-finished:
	case <-ld.Done():
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.retryPeriod)
	ld.Resign(rctx)
	cancel()
	<-finished
	if cb.OnStoppedLeading != nil {
		cb.OnStoppedLeading()
	}
	switch {
	case panicked != nil:
		return panicked
	case errors.Is(context.Cause(ld.Context()), ErrLost):
		return fmt.Errorf("redisleader: %q term %d: %w", e.group, ld.term, ErrLost)
	}
	return nil
}
