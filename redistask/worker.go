package redistask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/tracing"
	"github.com/redis/go-redis/v9"
)

// Handler runs one task. Its context carries the task's timeout and ends
// on forced shutdown; with WithWorkerPropagator it also carries the
// task's trace context (Task.Trace) as its remote parent. Returning nil acknowledges the task; an error (or a
// panic) schedules a retry, or dead-letters the task after MaxAttempts.
type Handler func(ctx context.Context, t *Task) error

// Defaults of a Worker.
const (
	DefaultPool       = 10
	DefaultVisibility = 30 * time.Second
	DefaultTimeout    = 30 * time.Minute
	DefaultShutdown   = 10 * time.Second
	DefaultDeadMaxLen = 10000
)

// WorkerOption configures a Worker.
type WorkerOption func(*Worker)

// WithPool sets how many handlers run at once (default 10).
func WithPool(n int) WorkerOption { return func(w *Worker) { w.pool = n } }

// WithBatch fixes how many tasks one read fetches at most, and how many
// fetched tasks may wait for a free handler. Without it the worker adapts
// (see the package doc, Throughput): it prefetches beyond its pool only as
// much as its handlers finish in about 5ms at their measured speed.
func WithBatch(n int) WorkerOption { return func(w *Worker) { w.batch, w.batchSet = n, true } }

// Adaptive prefetch, used unless WithBatch is given.
const (
	// prefetchHold bounds the queued work a worker holds: the tasks it
	// has fetched beyond its pool take at most this long to start, at the
	// handlers' measured mean run time.
	prefetchHold = 5 * time.Millisecond
	// At most this many tasks per handler, and prefetchMax in all, are
	// held beyond the pool: a long task holds no more short ones behind
	// it than that.
	prefetchPool = 16
	prefetchMax  = 256
	readMax      = 128 // tasks per read, at most
)

// WithVisibilityTimeout sets how long a task may go without a heartbeat
// before other workers reclaim it (default 30s). Live workers heartbeat
// every third of it, so it bounds recovery after a crash, not run time.
func WithVisibilityTimeout(d time.Duration) WorkerOption { return func(w *Worker) { w.visibility = d } }

// WithDefaultTimeout sets the per-attempt timeout of tasks that set none
// (default 30m).
func WithDefaultTimeout(d time.Duration) WorkerOption { return func(w *Worker) { w.timeout = d } }

// WithShutdownTimeout sets how long Run waits for in-flight handlers
// after its context ends (default 10s); then their contexts are
// cancelled and unfinished tasks are left for reclaim.
func WithShutdownTimeout(d time.Duration) WorkerOption { return func(w *Worker) { w.shutdown = d } }

// WithBackoff sets the delay before attempt n+1 after attempt n failed
// (default: 1s * 2^(n-1), at most 1h, with jitter in [d/2, d]).
func WithBackoff(f func(attempt int, err error) time.Duration) WorkerOption {
	return func(w *Worker) { w.backoff = f }
}

// WithConsumer sets the worker's consumer name in the group (default
// "<hostname>:<pid>:<random>"); it must be unique among live workers.
func WithConsumer(name string) WorkerOption { return func(w *Worker) { w.consumer = name } }

// WithWorkerPrefix sets the key prefix (default "sync").
func WithWorkerPrefix(p string) WorkerOption { return func(w *Worker) { w.prefix = p } }

// WithWorkerLogger sets a logger (silent by default).
func WithWorkerLogger(l *slog.Logger) WorkerOption { return func(w *Worker) { w.log = l } }

// WithDeadMaxLen caps the dead-letter stream (default 10000, approximate).
func WithDeadMaxLen(n int64) WorkerOption { return func(w *Worker) { w.deadMax = n } }

// WithPromoteInterval sets how often due delayed and retry tasks are moved
// to the stream (default 100ms): the lateness of a delayed task.
func WithPromoteInterval(d time.Duration) WorkerOption { return func(w *Worker) { w.promote = d } }

// WithWorkerPropagator makes handlers' contexts carry their task's trace
// context (Task.Trace), extracted by p, so a handler's spans are children
// of the push's span (default: none; handlers can still read Task.Trace).
func WithWorkerPropagator(p tracing.Propagator) WorkerOption { return func(w *Worker) { w.prop = p } }

// Worker consumes one queue with a pool of handlers. Register handlers
// with Handle before Run. Safe for concurrent use.
type Worker struct {
	client     redis.UniversalClient
	k          queueKeys
	prefix     string
	pool       int
	batch      int
	batchSet   bool // WithBatch given: no adaptive prefetch
	visibility time.Duration
	timeout    time.Duration
	shutdown   time.Duration
	promote    time.Duration
	deadMax    int64
	backoff    func(int, error) time.Duration
	consumer   string
	log        *slog.Logger
	hooks      Hooks
	prop       tracing.Propagator

	mu       stdsync.Mutex
	handlers map[string]Handler
	running  bool
	inflight map[string]struct{} // entry ids being handled or acknowledged, for heartbeats

	slots  chan struct{} // handler slots: at most pool running
	window chan struct{} // fetched and not finished: at most pool+prefetch()
	freed  chan struct{} // cap 1: a window token was given back
	runNs  atomic.Int64  // mean handler run time (EWMA, ns); 0 until measured
	acks   chan string
	active stdsync.WaitGroup // handler goroutines
	forced context.Context   // ends when the shutdown deadline passes
}

// NewWorker returns a Worker for queue on client.
func NewWorker(client redis.UniversalClient, queue string, opts ...WorkerOption) (*Worker, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrBadOption)
	}
	w := &Worker{client: client, prefix: keys.DefaultPrefix, pool: DefaultPool, visibility: DefaultVisibility,
		timeout: DefaultTimeout, shutdown: DefaultShutdown, promote: 100 * time.Millisecond, deadMax: DefaultDeadMaxLen,
		backoff: defaultBackoff, handlers: map[string]Handler{}, inflight: map[string]struct{}{}}
	for _, o := range opts {
		if o != nil {
			o(w)
		}
	}
	ks, err := keys.New(w.prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	if w.k, err = newQueueKeys(ks, queue); err != nil {
		return nil, err
	}
	if !w.batchSet {
		w.batch = w.pool
	}
	switch {
	case w.pool <= 0 || w.batch <= 0:
		return nil, fmt.Errorf("%w: pool and batch must be positive", ErrBadOption)
	case w.visibility < 30*time.Millisecond || w.timeout <= 0 || w.shutdown < 0 || w.promote <= 0 || w.deadMax <= 0:
		return nil, fmt.Errorf("%w: timings must be positive (visibility >= 30ms)", ErrBadOption)
	case w.backoff == nil:
		return nil, fmt.Errorf("%w: nil backoff", ErrBadOption)
	}
	if w.consumer == "" {
		h, _ := os.Hostname()
		w.consumer = fmt.Sprintf("%s:%d:%08x", h, os.Getpid(), rand.Uint32())
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

func defaultBackoff(attempt int, _ error) time.Duration {
	d := time.Second << min(attempt-1, 12)
	d = min(d, time.Hour)
	return d/2 + rand.N(d/2+1)
}

// Handle registers h for tasks named name. It returns ErrInvalidName for
// an empty name, and ErrBadOption for a name registered before or once
// Run has started.
func (w *Worker) Handle(name string, h Handler) error {
	if name == "" || h == nil {
		return fmt.Errorf("%w: empty task name or nil handler", ErrInvalidName)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return fmt.Errorf("%w: Handle after Run", ErrBadOption)
	}
	if _, dup := w.handlers[name]; dup {
		return fmt.Errorf("%w: a handler for %q is already registered", ErrBadOption, name)
	}
	w.handlers[name] = h
	return nil
}

// Consumer returns the worker's consumer name.
func (w *Worker) Consumer() string { return w.consumer }

// Run processes tasks until ctx ends, then shuts down gracefully: it stops
// reading, waits up to the shutdown timeout for in-flight handlers, then
// cancels their contexts; tasks that did not finish stay pending and are
// reclaimed by other workers. It returns nil after a graceful shutdown,
// ErrClosed if called twice, or the error that made creating the consumer
// group fail.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return fmt.Errorf("%w: Run called twice", ErrClosed)
	}
	w.running = true
	w.mu.Unlock()
	if err := ensureGroup(ctx, w.client, w.k.stream); err != nil {
		return err
	}
	w.slots = make(chan struct{}, w.pool)
	if w.batchSet {
		w.window = make(chan struct{}, w.pool+w.batch)
	} else {
		w.window = make(chan struct{}, w.pool+max(prefetchMax, w.pool))
	}
	w.freed = make(chan struct{}, 1)
	w.acks = make(chan string, 4*w.pool)
	forced, force := context.WithCancel(context.WithoutCancel(ctx))
	defer force()
	w.forced = forced

	var loops stdsync.WaitGroup
	for _, f := range []func(context.Context){w.fetch, w.reclaim, w.promoteLoop} {
		loops.Add(1)
		go func() { defer loops.Done(); f(ctx) }()
	}
	// Heartbeats go on through the shutdown, until the last handler has
	// finished and its acknowledgement is out: a task still running must
	// not be reclaimed (and run twice) while this worker winds down.
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); w.heartbeat(hbCtx) }()
	defer func() { stopHB(); <-hbDone }()
	ackCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAcks()
	ackDone := make(chan struct{})
	go func() { defer close(ackDone); w.ackLoop(ackCtx) }()

	<-ctx.Done()
	loops.Wait() // no new tasks start
	finished := make(chan struct{})
	go func() { w.active.Wait(); close(finished) }()
	t := time.NewTimer(w.shutdown)
	select {
	case <-finished:
	case <-t.C:
		w.log.Warn("redistask: shutdown deadline passed; cancelling in-flight handlers", "queue", w.k.queue)
		force()
		<-finished
	}
	t.Stop()
	close(w.acks)
	// Acknowledge what finished; if the server stays unreachable, give up
	// after the shutdown timeout and leave those tasks pending.
	t = time.NewTimer(w.shutdown)
	select {
	case <-ackDone:
	case <-t.C:
		stopAcks()
		<-ackDone
	}
	t.Stop()
	return nil
}

func ensureGroup(ctx context.Context, c redis.UniversalClient, stream string) error {
	err := c.XGroupCreateMkStream(ctx, stream, group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return wrapErr(fmt.Errorf("redistask: create group on %s: %w", stream, err))
	}
	return nil
}

func (w *Worker) release(n int) {
	for range n {
		<-w.slots
	}
}

// prefetch returns how many fetched tasks may wait for a handler: the
// WithBatch size, or, adaptively, as many as the pool runs in prefetchHold
// at the measured mean run time (at least the pool size, at most
// prefetchPool per handler and prefetchMax; the pool size until a handler
// has finished).
func (w *Worker) prefetch() int {
	if w.batchSet {
		return w.batch
	}
	d := w.runNs.Load()
	if d <= 0 {
		return w.pool
	}
	p := int64(w.pool) * int64(prefetchHold) / d
	return int(min(max(p, int64(w.pool)), int64(max(min(prefetchMax, prefetchPool*w.pool), w.pool))))
}

// readSize is the most tasks one read or reclaim fetches.
func (w *Worker) readSize() int {
	if w.batchSet {
		return w.batch
	}
	return max(readMax, w.pool)
}

// observeRun feeds a handler's run time into the mean prefetch uses.
func (w *Worker) observeRun(d time.Duration) {
	x := max(int64(d), 1)
	for {
		old := w.runNs.Load()
		v := x
		if old > 0 {
			v = max(old+(x-old)/8, 1)
		}
		if w.runNs.CompareAndSwap(old, v) {
			return
		}
	}
}

// reserve takes window tokens for the next read: as many as the prefetch
// limit leaves free (up to readSize), waiting while the worker holds its
// limit. It returns 0 when ctx ends.
func (w *Worker) reserve(ctx context.Context) int {
	for {
		if free := w.pool + w.prefetch() - len(w.window); free > 0 {
			return take(ctx, w.window, min(free, w.readSize()))
		}
		select {
		case <-w.freed:
		case <-ctx.Done():
			return 0
		}
	}
}

// unwindow gives back n window tokens and wakes a reserve waiting for them.
func (w *Worker) unwindow(n int) {
	give(w.window, n)
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

// fetch reads new tasks with a blocking XREADGROUP while handlers are
// busy, so the next tasks are at hand when a handler frees: at most pool +
// prefetch() tasks are held at once, and those waiting for a handler are
// heartbeated like running ones (they count as in flight).
func (w *Worker) fetch(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for {
		n := w.reserve(ctx)
		if n == 0 {
			return
		}
		res, err := w.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: w.consumer, Streams: []string{w.k.stream, ">"}, Count: int64(n), Block: 250 * time.Millisecond,
		}).Result()
		if err != nil {
			w.unwindow(n)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, redis.Nil) {
				continue
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				ensureGroup(ctx, w.client, w.k.stream) // the stream was deleted
			}
			w.log.Warn("redistask: read failed", "queue", w.k.queue, "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		got := 0
		for _, s := range res {
			for _, m := range s.Messages {
				got++
				w.start(ctx, m, 0, true)
			}
		}
		w.unwindow(n - got)
	}
}

// take takes up to n tokens of sem, waiting for the first.
func take(ctx context.Context, sem chan struct{}, n int) int {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < n {
		select {
		case sem <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

func give(sem chan struct{}, n int) {
	for range n {
		<-sem
	}
}

// start runs one entry in a handler goroutine once a handler slot is
// free; the entry is heartbeated meanwhile. If ctx ends first the entry
// is left pending for another worker. A fetched entry (windowed) gives
// its prefetch-window token back at the end.
func (w *Worker) start(ctx context.Context, m redis.XMessage, deliveries int64, windowed bool) {
	w.mu.Lock()
	w.inflight[m.ID] = struct{}{}
	w.mu.Unlock()
	w.active.Add(1)
	go func() {
		defer w.active.Done()
		if windowed {
			defer w.unwindow(1)
		}
		acking := false
		defer func() {
			if !acking { // an acknowledged id leaves inflight in ackLoop
				w.forget(m.ID)
			}
		}()
		select {
		case w.slots <- struct{}{}:
		default:
			select {
			case w.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		defer w.release(1)
		acking = w.process(m, deliveries)
	}()
}

// forget removes entry ids from the in-flight set.
func (w *Worker) forget(ids ...string) {
	w.mu.Lock()
	for _, id := range ids {
		delete(w.inflight, id)
	}
	w.mu.Unlock()
}

// owns reports whether the worker is running id or acknowledging it.
func (w *Worker) owns(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.inflight[id]
	return ok
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// process runs the handler for one entry and settles the outcome. It
// reports whether it queued the entry's acknowledgement.
func (w *Worker) process(m redis.XMessage, deliveries int64) bool {
	raw, _ := m.Values["t"].(string)
	t, err := decode(raw)
	if err != nil {
		w.dead(m.ID, raw, &Task{}, "corrupt", err.Error())
		return false
	}
	if t.ID == "" {
		t.ID = m.ID // the first push's entry id identifies the task, also in its retries
	}
	t.Attempt++ // attempts count handler runs that ended (retries), not deliveries
	// A task delivered far more often than it may be attempted keeps
	// killing or stalling its workers: stop it. Deliveries also count
	// tasks that were fetched but never started (a worker stopped or
	// died with them waiting), hence the margin.
	if t.MaxAttempts > 0 && deliveries > int64(2*t.MaxAttempts+3) {
		w.dead(m.ID, raw, t, "reclaimed", fmt.Sprintf("delivered %d times without finishing", deliveries))
		return false
	}
	w.mu.Lock()
	h := w.handlers[t.Name]
	w.mu.Unlock()
	if h == nil {
		w.dead(m.ID, raw, t, "unknown-name", fmt.Sprintf("no handler registered for %q", t.Name))
		return false
	}
	timeout := t.Timeout
	if timeout == 0 {
		timeout = w.timeout
	}
	ctx, cancel := context.WithTimeout(w.forced, timeout)
	hctx := tracing.Extract(ctx, w.prop, t.Trace)
	if hk := w.hooks.OnStart; hk != nil {
		hk(w.k.queue, t, pickup(m.ID))
	}
	began := time.Now()
	err = run(hctx, h, t)
	ran := time.Since(began)
	w.observeRun(ran)
	cancel()
	if hk := w.hooks.OnDone; hk != nil {
		hk(w.k.queue, t, ran, err)
	}
	if err == nil {
		w.acks <- m.ID
		return true
	}
	if w.forced.Err() != nil {
		// Interrupted by shutdown: leave it pending for another worker.
		return false
	}
	t.LastError = err.Error()
	if t.Attempt >= t.MaxAttempts {
		w.dead(m.ID, raw, t, "failed", t.LastError)
		return false
	}
	backoff := w.backoff(t.Attempt, err)
	next := time.Now().Add(backoff)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if serr := retryScript.Run(sctx, w.client, []string{w.k.stream, w.k.retry}, group, m.ID, next.UnixMilli(), encode(t)).Err(); serr != nil {
		w.log.Warn("redistask: could not schedule retry; the task stays pending and will be reclaimed", "id", m.ID, "err", serr)
	} else if hk := w.hooks.OnRetry; hk != nil {
		hk(w.k.queue, t, backoff, err)
	}
	return false
}

// run calls h, turning a panic into an error.
func run(ctx context.Context, h Handler, t *Task) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("redistask: handler %q panicked: %v\n%s", t.Name, r, debug.Stack())
		}
	}()
	return h(ctx, t)
}

func (w *Worker) dead(id, raw string, t *Task, reason, msg string) {
	if t.Name != "" || raw == "" {
		raw = encode(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys := []string{w.k.stream, w.k.dead}
	args := []any{group, id, raw, reason, msg, time.Now().UnixMilli(), w.deadMax}
	if run, index, ok := commandRun(t.Payload); ok && (reason == "unknown-name" || reason == "reclaimed") {
		// A command run that will never report itself: tell its caller
		// now, if one still waits, instead of letting it time out.
		keys = append(keys, w.k.waiting(run), w.k.reply(run))
		args = append(args, index+":dead:"+reason+": "+msg, replyTTL(t).Milliseconds())
	}
	err := deadScript.Run(ctx, w.client, keys, args...).Err()
	if errors.Is(err, redis.Nil) {
		return // finished by another worker meanwhile
	}
	if err != nil {
		w.log.Warn("redistask: could not dead-letter; the task stays pending", "id", id, "err", err)
		return
	}
	w.log.Info("redistask: task dead-lettered", "queue", w.k.queue, "id", id, "reason", reason, "error", msg)
	if hk := w.hooks.OnDead; hk != nil {
		hk(w.k.queue, t, reason)
	}
}

// ackLoop acknowledges finished tasks in batches: whatever has finished
// while the previous batch was on the wire goes in the next. A batch is
// retried until it succeeds or ctx ends (at the shutdown deadline); its
// ids stay in flight, heartbeated, until then, so no worker (this one
// included) reclaims a task that finished and waits for its
// acknowledgement.
func (w *Worker) ackLoop(ctx context.Context) {
	batch := make([]any, 0, 256)
	ids := make([]string, 0, 256)
	for id := range w.acks {
		batch = append(batch[:0], group, id)
		ids = append(ids[:0], id)
	drain:
		for len(batch) < 256 {
			select {
			case id, ok := <-w.acks:
				if !ok {
					break drain
				}
				batch = append(batch, id)
				ids = append(ids, id)
			default:
				break drain
			}
		}
		for attempt := 0; ; attempt++ {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := ackScript.Run(actx, w.client, []string{w.k.stream}, batch...).Err()
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				w.log.Warn("redistask: ack failed at shutdown; the tasks stay pending and will run again", "n", len(ids), "err", err)
				break
			}
			if attempt == 3 {
				w.log.Warn("redistask: ack failing; retrying", "n", len(ids), "err", err)
			}
			sleep(ctx, min(100*time.Millisecond<<min(attempt, 5), 2*time.Second))
		}
		w.forget(ids...)
	}
}

// heartbeat resets the idle time of in-flight tasks every third of the
// visibility timeout, so other workers do not reclaim them.
func (w *Worker) heartbeat(ctx context.Context) {
	t := time.NewTicker(w.visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids := make([]string, 0, len(w.inflight))
		for id := range w.inflight {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		err := w.client.XClaimJustID(ctx, &redis.XClaimArgs{Stream: w.k.stream, Group: group, Consumer: w.consumer, MinIdle: 0, Messages: ids}).Err()
		if err != nil && ctx.Err() == nil {
			w.log.Warn("redistask: heartbeat failed", "queue", w.k.queue, "err", err)
		}
	}
}

// reclaim takes over tasks idle for longer than the visibility timeout
// (their worker died or stalled), as many as there are free handlers.
func (w *Worker) reclaim(ctx context.Context) {
	every := max(w.visibility/2, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cursor := "0-0"
		// Claim what the pool can start soon (the reclaimed tasks wait for
		// free handlers, heartbeated), and at least one window's worth per
		// tick even when fetching keeps the window full: orphaned tasks
		// must not wait for the backlog to drain.
		budget, claimed := w.pool+w.prefetch(), 0
		for ctx.Err() == nil {
			w.mu.Lock()
			n := max(w.pool+w.prefetch()-len(w.inflight), budget-claimed)
			w.mu.Unlock()
			if n <= 0 {
				break
			}
			n = min(n, w.readSize())
			msgs, deleted, next, err := xautoclaim(ctx, w.client, w.k.stream, w.consumer, w.visibility, cursor, n)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, redis.Nil) {
					w.log.Warn("redistask: reclaim failed", "queue", w.k.queue, "err", err)
				}
				break
			}
			if len(deleted) > 0 {
				// Entries deleted while pending: nothing to run; make sure
				// the PEL forgets them.
				w.client.XAck(ctx, w.k.stream, group, deleted...)
			}
			counts := w.deliveries(ctx, msgs)
			for i, m := range msgs {
				if w.owns(m.ID) {
					// Ours already: running here, or finished and being
					// acknowledged (heartbeats could not get through).
					continue
				}
				w.log.Info("redistask: reclaimed task", "queue", w.k.queue, "id", m.ID, "deliveries", counts[i])
				w.start(ctx, m, counts[i], false)
			}
			claimed += len(msgs)
			cursor = next
			if cursor == "0-0" {
				break
			}
		}
	}
}

// deliveries returns how many times each reclaimed entry was delivered.
func (w *Worker) deliveries(ctx context.Context, msgs []redis.XMessage) []int64 {
	out := make([]int64, len(msgs))
	for i := range out {
		out[i] = 2
	}
	if len(msgs) == 0 {
		return out
	}
	pend, err := w.client.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: w.k.stream, Group: group,
		Start: msgs[0].ID, End: msgs[len(msgs)-1].ID, Count: int64(len(msgs)) * 4, Consumer: w.consumer}).Result()
	if err != nil {
		return out
	}
	byID := make(map[string]int64, len(pend))
	for _, p := range pend {
		byID[p.ID] = p.RetryCount
	}
	for i, m := range msgs {
		if c, ok := byID[m.ID]; ok {
			out[i] = c
		}
	}
	return out
}

// xautoclaim runs XAUTOCLAIM and also returns the deleted IDs that Redis 7
// reports in a third element (go-redis drops them).
func xautoclaim(ctx context.Context, c redis.UniversalClient, stream, consumer string, idle time.Duration, start string, count int) ([]redis.XMessage, []string, string, error) {
	v, err := c.Do(ctx, "XAUTOCLAIM", stream, group, consumer, idle.Milliseconds(), start, "COUNT", count).Slice()
	if err != nil {
		return nil, nil, "", err
	}
	if len(v) < 2 {
		return nil, nil, "", fmt.Errorf("redistask: XAUTOCLAIM reply %v", v)
	}
	next, _ := v[0].(string)
	var msgs []redis.XMessage
	entries, _ := v[1].([]any)
	for _, e := range entries {
		pair, _ := e.([]any)
		if len(pair) != 2 {
			continue
		}
		id, _ := pair[0].(string)
		fields, _ := pair[1].([]any)
		if fields == nil {
			continue // deleted entry reported inline by older servers
		}
		vals := make(map[string]any, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			vals[k] = fields[i+1]
		}
		msgs = append(msgs, redis.XMessage{ID: id, Values: vals})
	}
	var deleted []string
	if len(v) > 2 {
		ds, _ := v[2].([]any)
		for _, d := range ds {
			if s, ok := d.(string); ok {
				deleted = append(deleted, s)
			}
		}
	}
	return msgs, deleted, next, nil
}

// promoteLoop moves due delayed and retry tasks to the stream.
func (w *Worker) promoteLoop(ctx context.Context) {
	t := time.NewTicker(w.promote)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := promoteDue(ctx, w.client, w.k); err != nil && ctx.Err() == nil {
			w.log.Warn("redistask: promote failed", "queue", w.k.queue, "err", err)
		}
	}
}

func promoteDue(ctx context.Context, c redis.UniversalClient, k queueKeys) error {
	now := time.Now().UnixMilli()
	for _, z := range []string{k.delayed, k.retry} {
		for {
			n, err := promoteScript.Run(ctx, c, []string{z, k.stream}, now, 100).Int()
			if err != nil {
				return wrapErr(err)
			}
			if n < 100 {
				break
			}
		}
	}
	return nil
}
