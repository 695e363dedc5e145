package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/redistask"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Both libraries share the bench's standalone server (it has one database):
// our keys live under taskPrefix ("bench-task:task:{<queue>}:..."), asynq's
// under its own "asynq:" namespace, in the queue asynqQueue.
const (
	taskPrefix = "bench-task"
	asynqQueue = "bench"
	noop       = "noop"
)

// taskPayload is the payload of every benchmark task, for both libraries.
var taskPayload = []byte(`{"user":12345,"op":"noop"}`)

// tasks compares redistask with hibiken/asynq (ANCHORS.md section 4):
// processing throughput, push throughput, push-to-handler latency, and our
// worker's memory per task.
func tasks(e *env) (out []comparison, err error) {
	for _, step := range []func(*env) ([]comparison, error){taskProcessing, taskPush, taskLatency, taskMemory} {
		cs, err := step(e)
		out = append(out, cs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func asynqOpt(e *env) asynq.RedisClientOpt { return asynq.RedisClientOpt{Addr: e.one.Addr} }

// asynqServer starts an asynq server with its defaults (1s idle poll)
// except for the concurrency, the queue and the logging.
func asynqServer(e *env, concurrency int, h func(context.Context, *asynq.Task) error) (*asynq.Server, error) {
	srv := asynq.NewServer(asynqOpt(e), asynq.Config{
		Concurrency:     concurrency,
		Queues:          map[string]int{asynqQueue: 1},
		LogLevel:        asynq.FatalLevel,
		ShutdownTimeout: 5 * time.Second,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(noop, h)
	return srv, srv.Start(mux)
}

// dropAsynqQueue deletes every key asynq holds for the bench queue
// (asynq:{bench}:*). Inspector.DeleteQueue is not enough: a Client that
// registered the queue once does not register it again after the queue
// was deleted, so the next DeleteQueue reports it missing and leaves its
// tasks behind.
func dropAsynqQueue(e *env) error {
	ctx := e.ctx
	c := redis.NewClient(&redis.Options{Addr: e.one.Addr})
	defer c.Close()
	iter := c.Scan(ctx, 0, "asynq:{"+asynqQueue+"}:*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	return c.SRem(ctx, "asynq:queues", asynqQueue).Err()
}

// startWorker runs a redistask worker on queue with pool handlers calling h;
// stop ends it and returns Run's error.
func startWorker(c redis.UniversalClient, queue string, pool int, h redistask.Handler, opts ...redistask.WorkerOption) (stop func() error, err error) {
	opts = append([]redistask.WorkerOption{redistask.WithWorkerPrefix(taskPrefix), redistask.WithPool(pool)}, opts...)
	w, err := redistask.NewWorker(c, queue, opts...)
	if err != nil {
		return nil, err
	}
	if err := w.Handle(noop, h); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() error { cancel(); return <-done }, nil
}

// fillOurs pushes n tasks to queue in batches of 100.
func fillOurs(ctx context.Context, p *redistask.Producer, queue string, n int) error {
	batch := make([]redistask.Task, 100)
	for i := range batch {
		batch[i] = redistask.Task{Name: noop, Payload: taskPayload}
	}
	for left := n; left > 0; left -= len(batch) {
		b := batch[:min(left, len(batch))]
		_, errs, err := p.PushBatch(ctx, queue, b)
		if err == nil {
			err = errors.Join(errs...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fillAsynq enqueues n tasks from 8 goroutines.
func fillAsynq(cl *asynq.Client, n int) error {
	var (
		next atomic.Int64
		wg   stdsync.WaitGroup
		errs = make([]error, 8)
	)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := cl.Enqueue(asynq.NewTask(noop, taskPayload), asynq.Queue(asynqQueue)); err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// countTo returns a counter that closes reached once it counts n.
func countTo(n int64) (count func(), reached <-chan struct{}) {
	var c atomic.Int64
	ch := make(chan struct{})
	return func() {
		if c.Add(1) == n {
			close(ch)
		}
	}, ch
}

// taskProcessing drains 20,000 pre-filled no-op tasks with 10 handlers:
// ours to the end, asynq for at most the measurement duration.
func taskProcessing(e *env) ([]comparison, error) {
	const n = 20000
	ctx := e.ctx
	c := e.one.Client()
	p, err := redistask.NewProducer(c, redistask.WithProducerPrefix(taskPrefix))
	if err != nil {
		return nil, err
	}
	drain := func(queue string, opts ...redistask.WorkerOption) (result, error) {
		if err := fillOurs(ctx, p, queue, n); err != nil {
			return result{}, err
		}
		count, all := countTo(n)
		start := time.Now()
		stop, err := startWorker(c, queue, 10, func(context.Context, *redistask.Task) error { count(); return nil }, opts...)
		if err != nil {
			return result{}, err
		}
		select {
		case <-all:
		case <-time.After(time.Minute):
			stop()
			return result{}, errors.New("our worker did not drain 20k tasks in a minute")
		}
		took := time.Since(start)
		if err := stop(); err != nil {
			return result{}, err
		}
		return result{value: n / took.Seconds(), unit: "tasks/s", extra: fmt.Sprintf("%dk in %.2fs", n/1000, took.Seconds())}, nil
	}
	ours, err := drain("proc")
	if err != nil {
		return nil, err
	}
	ours64, err := drain("proc64", redistask.WithBatch(64))
	if err != nil {
		return nil, err
	}

	cl := asynq.NewClient(asynqOpt(e))
	defer cl.Close()
	if err := fillAsynq(cl, n); err != nil {
		return nil, err
	}
	var done atomic.Int64
	count, all := countTo(n)
	start := time.Now()
	srv, err := asynqServer(e, 10, func(context.Context, *asynq.Task) error { done.Add(1); count(); return nil })
	if err != nil {
		return nil, err
	}
	select {
	case <-all:
	case <-time.After(max(e.d, time.Second)):
	}
	got, took := done.Load(), time.Since(start)
	srv.Shutdown()
	if err := dropAsynqQueue(e); err != nil {
		return nil, err
	}
	peer := result{value: float64(got) / took.Seconds(), unit: "tasks/s", extra: fmt.Sprintf("%d of %dk in %.2fs", got, n/1000, took.Seconds())}
	return []comparison{
		{name: "task processing, no-op, pool 10, 20k queued: vs asynq", ours: ours, peer: peer, target: ">= 10x"},
		{name: "task processing, pool 10, WithBatch(64): vs asynq", ours: ours64, peer: peer, target: ">= 10x"},
	}, nil
}

// parallelRounds measures the throughput of each op with g goroutines
// calling it, d in total per op, in alternating rounds so that a drift of
// the machine's speed affects all alike. reset runs after each op's turn
// (it empties the queue, so Redis does not fill up).
type taskOp struct {
	name  string
	per   int // tasks per call
	f     func() error
	reset func() error
}

func parallelRounds(d time.Duration, g int, ops []taskOp) ([]result, error) {
	const rounds = 4
	run := func(o taskOp, d time.Duration) (int64, time.Duration, error) {
		var (
			calls atomic.Int64
			wg    stdsync.WaitGroup
			errMu stdsync.Mutex
			first error
		)
		start := time.Now()
		for range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < d {
					if err := o.f(); err != nil {
						errMu.Lock()
						first = cmp.Or(first, err)
						errMu.Unlock()
						return
					}
					calls.Add(1)
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		if first != nil {
			return 0, 0, fmt.Errorf("%s: %w", o.name, first)
		}
		return calls.Load(), took, o.reset()
	}
	for _, o := range ops { // warm-up: connections, script caches
		if _, _, err := run(o, d/10); err != nil {
			return nil, err
		}
	}
	calls := make([]int64, len(ops))
	spent := make([]time.Duration, len(ops))
	for r := range rounds {
		for k := range ops {
			i := (k + r) % len(ops)
			n, took, err := run(ops[i], d/rounds)
			if err != nil {
				return nil, err
			}
			calls[i] += n
			spent[i] += took
		}
	}
	res := make([]result, len(ops))
	for i, o := range ops {
		res[i] = result{value: float64(calls[i]*int64(o.per)) / spent[i].Seconds(), unit: "tasks/s"}
	}
	return res, nil
}

// taskPush measures pushes from 8 goroutines: our Push and asynq's
// Enqueue one task per call, and our PushBatch of 100.
func taskPush(e *env) ([]comparison, error) {
	ctx := e.ctx
	c := e.one.Client()
	p, err := redistask.NewProducer(c, redistask.WithProducerPrefix(taskPrefix))
	if err != nil {
		return nil, err
	}
	cl := asynq.NewClient(asynqOpt(e))
	defer cl.Close()
	const queue = "push"
	stream := taskPrefix + ":task:{" + queue + "}:stream"
	dropOurs := func() error { return c.Del(ctx, stream).Err() }
	batch := make([]redistask.Task, 100)
	for i := range batch {
		batch[i] = redistask.Task{Name: noop, Payload: taskPayload}
	}
	res, err := parallelRounds(e.d, 8, []taskOp{
		{name: "ours Push", per: 1, reset: dropOurs, f: func() error {
			_, err := p.Push(ctx, queue, redistask.Task{Name: noop, Payload: taskPayload})
			return err
		}},
		{name: "asynq Enqueue", per: 1, reset: func() error { return dropAsynqQueue(e) }, f: func() error {
			_, err := cl.Enqueue(asynq.NewTask(noop, taskPayload), asynq.Queue(asynqQueue))
			return err
		}},
		{name: "ours PushBatch", per: len(batch), reset: dropOurs, f: func() error {
			_, errs, err := p.PushBatch(ctx, queue, batch)
			if err == nil {
				err = errors.Join(errs...)
			}
			return err
		}},
	})
	if err != nil {
		return nil, err
	}
	return []comparison{
		{name: "task push, single, 8 producers: vs asynq", ours: res[0], peer: res[1], target: ">= 1.0x"},
		{name: "task push, PushBatch x100, 8 producers: vs asynq single", ours: res[2], peer: res[1], target: ">= 5x"},
	}, nil
}

// taskLatency sends tasks one at a time to an idle worker and measures
// from the push to the handler's start: 200 of ours, 10 of asynq's (its
// idle poll makes each take about a second).
func taskLatency(e *env) ([]comparison, error) {
	const oursN, asynqN = 200, 10
	ctx := e.ctx
	c := e.one.Client()
	p, err := redistask.NewProducer(c, redistask.WithProducerPrefix(taskPrefix))
	if err != nil {
		return nil, err
	}
	got := make(chan time.Time, 1)
	stop, err := startWorker(c, "latency", 10, func(context.Context, *redistask.Task) error { got <- time.Now(); return nil })
	if err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond) // the worker's group exists and its read is blocked
	measure := func(n int, push func() error) ([]time.Duration, error) {
		var ds []time.Duration
		for range n {
			start := time.Now()
			if err := push(); err != nil {
				return nil, err
			}
			select {
			case at := <-got:
				ds = append(ds, at.Sub(start))
			case <-time.After(10 * time.Second):
				return nil, errors.New("task not handled within 10s")
			}
			time.Sleep(2 * time.Millisecond) // low load: let the acknowledgement go out
		}
		return ds, nil
	}
	ours, err := measure(oursN, func() error {
		_, err := p.Push(ctx, "latency", redistask.Task{Name: noop, Payload: taskPayload})
		return err
	})
	if serr := stop(); err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}

	cl := asynq.NewClient(asynqOpt(e))
	defer cl.Close()
	srv, err := asynqServer(e, 10, func(context.Context, *asynq.Task) error { got <- time.Now(); return nil })
	if err != nil {
		return nil, err
	}
	peer, err := measure(asynqN, func() error {
		_, err := cl.Enqueue(asynq.NewTask(noop, taskPayload), asynq.Queue(asynqQueue))
		return err
	})
	srv.Shutdown()
	if err != nil {
		return nil, err
	}
	if err := dropAsynqQueue(e); err != nil {
		return nil, err
	}
	lat := func(ds []time.Duration, p float64, n int) result {
		return result{value: float64(percentile(ds, p).Microseconds()) / 1000, unit: "ms", extra: fmt.Sprintf("n=%d", n)}
	}
	return []comparison{
		{name: "task push-to-handler latency p50, idle: vs asynq", ours: lat(ours, 50, oursN), peer: lat(peer, 50, asynqN), target: "ours <= 2 ms"},
		{name: "task push-to-handler latency p99, idle: vs asynq", ours: lat(ours, 99, oursN), peer: lat(peer, 99, asynqN), target: "report (asynq: max of 10)"},
	}, nil
}

// liveHeap returns the heap that the last GC found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func redisUsedMemory(ctx context.Context, c *redis.Client) (int64, error) {
	info, err := c.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

// taskMemory runs 100,000 tasks through one worker and reports its heap
// allocations per task, its live heap along the run, and the memory Redis
// holds before, while the tasks wait, and once they are all acknowledged.
func taskMemory(e *env) ([]comparison, error) {
	const n = 100000
	ctx := e.ctx
	c := e.one.Client()
	p, err := redistask.NewProducer(c, redistask.WithProducerPrefix(taskPrefix))
	if err != nil {
		return nil, err
	}
	const queue = "memory"
	stream := taskPrefix + ":task:{" + queue + "}:stream"
	redisBefore, err := redisUsedMemory(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := fillOurs(ctx, p, queue, n); err != nil {
		return nil, err
	}
	redisFull, err := redisUsedMemory(ctx, c)
	if err != nil {
		return nil, err
	}

	var (
		done      atomic.Int64
		checks    = [4]int64{n / 4, n / 2, 3 * n / 4, n}
		samples   [4]uint64
		sampledMu stdsync.Mutex
	)
	count, all := countTo(n)
	runtime.GC()
	liveBefore := liveHeap()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	start := time.Now()
	stop, err := startWorker(c, queue, 10, func(context.Context, *redistask.Task) error {
		k := done.Add(1)
		for i, at := range checks {
			if k == at {
				sampledMu.Lock()
				samples[i] = liveHeap()
				sampledMu.Unlock()
			}
		}
		count()
		return nil
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		stop()
		return nil, fmt.Errorf("only %d of %d tasks ran in two minutes", done.Load(), n)
	}
	took := time.Since(start)
	// Wait for the acknowledgements: the stream is empty once all are in.
	for {
		l, err := c.XLen(ctx, stream).Result()
		if err != nil {
			stop()
			return nil, err
		}
		if l == 0 {
			break
		}
		if time.Since(start) > 3*time.Minute {
			stop()
			return nil, fmt.Errorf("%d entries still in the stream", l)
		}
		time.Sleep(5 * time.Millisecond)
	}
	runtime.ReadMemStats(&b)
	if err := stop(); err != nil {
		return nil, err
	}
	pend, err := c.XPending(ctx, stream, "workers").Result()
	if err != nil {
		return nil, err
	}
	redisAfter, err := redisUsedMemory(ctx, c)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	liveAfter := liveHeap()

	mib := func(v uint64) string { return fmt.Sprintf("%.2f", float64(v)/(1<<20)) }
	var curve []string
	for _, s := range samples {
		curve = append(curve, mib(s))
	}
	all100 := append(samples[:], liveAfter)
	lo, hi := slices.Min(all100), slices.Max(all100)
	flat := "flat"
	if hi-lo > 4<<20 {
		flat = "GROWS"
	}
	kib := func(v int64) string { return fmt.Sprintf("%.0f KiB", float64(v)/1024) }
	return []comparison{
		{name: "task worker allocations per task (100k tasks, pool 10)", ours: result{
			value: float64(b.TotalAlloc-a.TotalAlloc) / n, unit: "B/task",
			extra: fmt.Sprintf("%.1f allocs/task; %.0f tasks/s", float64(b.Mallocs-a.Mallocs)/n, n/took.Seconds()),
		}, target: "report"},
		{name: "task worker live heap over 100k tasks", ours: result{
			value: float64(liveAfter) / (1 << 20), unit: "MiB",
			extra: fmt.Sprintf("%s; start %s, at 25/50/75/100%%: %s", flat, mib(liveBefore), strings.Join(curve, "/")),
		}, target: "flat"},
		{name: "task Redis used_memory after 100k tasks acked", ours: result{
			value: float64(redisAfter-redisBefore) / 1024, unit: "KiB",
			extra: fmt.Sprintf("before %s, 100k queued %s, after %s; %d pending", kib(redisBefore), kib(redisFull), kib(redisAfter), pend.Count),
		}, target: "back to before"},
	}, nil
}
