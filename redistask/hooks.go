package redistask

import "time"

// Hooks are optional callbacks for metrics, set on a Producer with
// WithProducerHooks and on a Worker with WithWorkerHooks. A nil field
// costs one nil check and nothing else. Each hook runs synchronously on
// the goroutine named in its doc, so it must be quick and must not block:
// a slow hook delays the push or the worker. Hooks must be safe for
// concurrent use, and must neither keep nor modify the *Task they get.
type Hooks struct {
	// OnPush is called by Push, and by PushBatch once per task, after the
	// round trip, on the caller's goroutine, with the task's error: nil
	// when it was enqueued (or delayed), ErrDuplicate when its ID was
	// pushed within the dedupe window, or the Redis error. It is not
	// called for tasks rejected before anything was sent (an invalid
	// name, option or payload).
	OnPush func(queue string, t *Task, err error)
	// OnStart is called on the handler's goroutine just before the
	// handler runs. wait is the pickup latency: the time from the entry's
	// append to the stream (the push, or the promotion of a delayed or
	// retried task), read from the entry id (Redis's clock), to now (this
	// machine's clock; clock skew shows up in it; negative values are
	// reported as zero). A reclaimed task's wait counts from its append
	// too.
	OnStart func(queue string, t *Task, wait time.Duration)
	// OnDone is called on the handler's goroutine when the handler
	// returned, with its run time and its error (a panic is reported as
	// an error): nil means the task succeeded and its acknowledgement is
	// queued; otherwise OnRetry or OnDead follows, unless the worker is
	// being shut down (the task then stays pending for another worker).
	OnDone func(queue string, t *Task, d time.Duration, err error)
	// OnRetry is called on the handler's goroutine once a failed task has
	// been scheduled for attempt t.Attempt+1 after backoff; err is the
	// handler's error.
	OnRetry func(queue string, t *Task, backoff time.Duration, err error)
	// OnDead is called on the goroutine that dead-lettered the task (a
	// handler's), once the task is in the dead-letter stream. reason is
	// that of DeadTask.Reason: "failed" (MaxAttempts used up),
	// "unknown-name", "corrupt" (t then is empty) or "reclaimed"
	// (delivered too often without finishing).
	OnDead func(queue string, t *Task, reason string)
}

// WithProducerHooks sets metric callbacks (Hooks.OnPush). The default is
// none.
func WithProducerHooks(h Hooks) ProducerOption { return func(p *Producer) { p.hooks = h } }

// WithWorkerHooks sets metric callbacks (every Hooks field but OnPush).
// The default is none.
func WithWorkerHooks(h Hooks) WorkerOption { return func(w *Worker) { w.hooks = h } }

// pickup returns the time since the entry id's append, at least zero.
func pickup(id string) time.Duration {
	at, ok := idTime(id)
	if !ok {
		return 0
	}
	return max(time.Since(at), 0)
}
