package redisleader

// Hooks are optional callbacks for metrics, set with WithHooks. A nil
// field costs one nil check and nothing else. Each hook runs
// synchronously on the goroutine named in its doc, so it must be quick
// and must not block. Hooks must be safe for concurrent use.
type Hooks struct {
	// OnElected is called when a candidate of this Elector wins, on
	// Campaign's goroutine (or Run's), before Campaign returns and before
	// the leadership is announced. Every OnElected is followed by one
	// OnEnded for the same term.
	OnElected func(group, id string, term uint64)
	// OnEnded is called once when a leadership won through this Elector
	// ends: err is ErrResigned after Resign (or Close), ErrLost when it was
	// lost. It runs on the goroutine that ended it: Resign's or Close's
	// caller, the renewal goroutine, the deadline timer's, or a caller of
	// Leadership.Context().Err(). It runs just after Done is closed.
	OnEnded func(group, id string, term uint64, err error)
	// OnObserve is called for each leader an Observe channel (or Run's
	// OnNewLeader) delivers, on the observer's goroutine, right after the
	// delivery. With several observers it is called once per observer.
	OnObserve func(group string, leader Info)
}

// WithHooks sets metric callbacks (see Hooks). The default is none.
func WithHooks(h Hooks) Option { return func(o *options) { o.hooks = h } }
