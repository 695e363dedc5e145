// Package redistask runs tasks across processes on Redis Streams consumer
// groups: producers push named tasks to a queue; workers in any number of
// processes run registered handlers with a pool of goroutines.
//
// # Guarantees
//
// Delivery is at least once. A task pushed (Push returned nil) is run
// until a handler returns nil for it, it is dead-lettered, or it is
// deleted by an operator; it is never dropped silently:
//
//   - A worker acknowledges a task only after its handler returned; the
//     acknowledgement and the removal of the entry are one script.
//   - A worker that dies (kill -9) leaves its tasks pending in the group;
//     other workers reclaim them with XAUTOCLAIM once they have been idle
//     for the visibility timeout. Live workers heartbeat their in-flight
//     tasks (XCLAIM JUSTID resets the idle time), so a long handler is not
//     reclaimed while it runs, and the visibility timeout can be short.
//   - A failing or panicking handler's task is retried with exponential
//     backoff and full jitter, up to its MaxAttempts; then it moves to the
//     dead-letter stream with its last error, attempt count and
//     timestamps. A task with an unknown name or an undecodable entry goes
//     to the dead-letter stream at once, with the reason.
//   - Graceful shutdown stops reading, lets in-flight handlers finish up to
//     a deadline, and leaves the rest pending for reclaim: nothing is
//     acknowledged that did not finish.
//   - A task delivered more than 2*MaxAttempts+3 times without finishing
//     (it keeps killing or stalling its workers) goes to the dead-letter
//     stream with reason "reclaimed". Deliveries also count tasks fetched
//     but not started, so a task that waited in a crashing worker's
//     prefetch window each time can be dead-lettered with it although it
//     never ran; it is kept whole there, and Inspector.RequeueDead puts
//     it back.
//   - A task pushed with an ID is enqueued once per dedupe window (the
//     check and the append are one script).
//   - Periodic tasks are enqueued once per tick however many schedulers
//     run: each tick is claimed with SET NX inside the enqueue script.
//
// A handler may run more than once for one task (a worker paused past the
// visibility timeout, a crash after the handler's side effects but before
// the acknowledgement): handlers must be idempotent, or fence their writes.
//
// Durability is Redis's: with appendonly yes and appendfsync always a
// pushed task survives a Redis restart; with everysec the last second of
// pushes can be lost in a crash.
//
// # Throughput
//
// A worker reads with a blocking XREADGROUP while its handlers are busy,
// so the next tasks are at hand when a handler frees; the ones waiting for
// a handler are heartbeated like running ones. How many it may hold beyond
// its pool adapts to its handlers: as many as the pool runs in about 5ms at
// their measured mean run time, at least the pool size (until a handler
// has finished, and whenever handlers are slow), at most 16 per handler and
// 256 in all; a read fetches up to 128. Fast handlers thus get large
// batches, while a worker with slow handlers holds no more than twice its
// pool (plus finished tasks whose batched acknowledgement is on its way),
// leaving the rest of the queue to idle workers. A long task can still
// hold up to 16 short ones per handler behind it, measured before it.
// WithBatch(n) fixes both numbers at n instead. The limits count tasks,
// not bytes: with payloads near the producer's limit (WithMaxPayload,
// 1 MiB by default), 256 held tasks are 256 MiB; set WithBatch to bound a
// worker's memory. Tasks fetched but not
// started when a worker stops (or dies) stay pending and are reclaimed by
// other workers after the visibility timeout, like in-flight ones. Acknowledgements of tasks
// that finish together go out in one script call.
//
// # Retention
//
// Entries are deleted when they are acknowledged (XACK and XDEL in one
// script), so the stream holds exactly the tasks that are ready or in
// flight and never loses an unacknowledged one; the pending entries list
// never refers to a deleted entry (reclaimed IDs that were deleted by
// someone else, which Redis 7 reports in XAUTOCLAIM's third element, are
// acknowledged). One consumer group per queue. The dead-letter stream is
// capped (MAXLEN ~, default 10000).
//
// # Keys (prefix default "sync"; every key of a queue shares its hash tag)
//
//	<prefix>:task:{<queue>}:stream        stream  ready and in-flight tasks, group "workers"
//	<prefix>:task:{<queue>}:delayed       zset    delayed tasks, score = run-at (unix ms)
//	<prefix>:task:{<queue>}:retry         zset    tasks waiting for a retry, score = next attempt
//	<prefix>:task:{<queue>}:dead          stream  dead-lettered tasks with reason and error
//	<prefix>:task:{<queue>}:unique:<id>   string  dedupe marker for task id, PX = window
//	<prefix>:task:{<queue>}:tick:<name>:<unix ms>  string  periodic tick claim
//	<prefix>:task:{<queue>}:reply:<run>   list    results of a distributed Run
//	<prefix>:task:{<queue>}:waiting:<run> string  the Run's caller waits, PX = its timeout
//	<prefix>:task:{<queue>}:wake:<id>     list    wakes a producer's reply listener, PX = 1m
//
// A task is stored as one binary field "t" (a versioned, length-prefixed
// encoding of its id, name, payload, attempt, limits and timestamps, and,
// only when it has one, its W3C trace context), so scripts move tasks
// between the stream and the sets without parsing them, and retries, dead
// letters and requeues keep the trace context.
//
// # Tracing
//
// With WithProducerPropagator, Push stores the W3C trace context of its
// ctx (traceparent, and tracestate up to 512 bytes) in Task.Trace; with
// WithWorkerPropagator, the handler's context carries it as the remote
// parent. The propagator is a small interface (package tracing), so this
// package does not depend on OpenTelemetry; github.com/go-sync/sync/otelsync
// adapts OpenTelemetry's propagators. Workers of releases before trace
// contexts dead-letter a traced task as "corrupt" (its entry kept whole,
// so RequeueDead works after the upgrade): upgrade workers before
// producers set a propagator.
//
// # Scripts
//
// push.lua (unique push), ack.lua, retry.lua, dead.lua, promote.lua
// (due delayed and retry tasks to the stream), tick.lua (periodic claim
// and push), requeue.lua (dead task back to the stream).
package redistask
