package redistask

// Fault tests against real redis-servers: worker processes killed with
// SIGKILL mid-batch and replaced, a redis-server killed with SIGKILL (AOF,
// appendfsync always) during pushes and during processing, and queues
// spread over the masters of a Redis Cluster. What every test records —
// the tasks whose push was acknowledged, each execution of a handler, the
// crashes and what was in flight at each — is judged by checkTasks, a
// plain function tested on hand-made histories below.
//
// With GO_SYNC_SOAK=1 the tests push more tasks and kill more workers.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

const (
	roleFaultWorker = "redistask-fault-worker"

	envFaultAddr     = "GO_SYNC_TASK_ADDR"
	envFaultRecorder = "GO_SYNC_TASK_RECORDER"
	envFaultPrefix   = "GO_SYNC_TASK_PREFIX"
	envFaultConsumer = "GO_SYNC_TASK_CONSUMER"

	faultQueue      = "jobs"
	faultTaskName   = "job"
	faultVisibility = 500 * time.Millisecond
	faultPool       = 4
	recorderKey     = "executions" // list on the recorder server: "<payload> <pid> <unix ns>"
)

func faultSoak() bool { return os.Getenv("GO_SYNC_SOAK") == "1" }

// faultWork is how long a fault test's handler works: a few milliseconds.
func faultWork() time.Duration { return time.Duration(5+rand.IntN(11)) * time.Millisecond }

// ---------------------------------------------------------------------------
// The checker.

// execution is one recorded run of a handler: the task (its payload), the
// process that ran it and when the handler finished.
type execution struct {
	task string
	pid  int
	at   time.Time
}

// crash is a fault after which a process may run again what it had already
// run: a worker killed with SIGKILL (its finished but unacknowledged tasks
// are reclaimed), or a redis-server killed under a live worker (the
// acknowledgement of a finished task may be lost with it). inFlight are
// the tasks that process had pending when the crash happened.
type crash struct {
	pid      int
	inFlight []string
}

// taskHistory is what a fault test recorded.
type taskHistory struct {
	pushed  []string    // pushes that returned nil: each must run
	maybe   []string    // pushes that returned an error: may have been enqueued
	execs   []execution // in the order they were recorded
	crashes []crash
}

// verdict is checkTasks's judgement: problems (empty when the history is
// correct) and how many executions were explained duplicates.
type verdict struct {
	problems   []string
	duplicates int
}

// checkTasks judges a history of at-least-once delivery:
//
//   - every acknowledged push ran at least once (nothing lost);
//   - nothing ran that was not pushed;
//   - a task ran more than once only because of crashes: each crash with
//     the task in flight explains one execution of it by the crashed
//     process; at most one execution of each task stays unexplained.
func checkTasks(h taskHistory) verdict {
	var v verdict
	known := map[string]bool{}
	for _, t := range h.pushed {
		known[t] = true
	}
	for _, t := range h.maybe {
		known[t] = true
	}
	byTask := map[string][]execution{}
	for _, e := range h.execs {
		if !known[e.task] {
			v.problems = append(v.problems, fmt.Sprintf("task %q ran (pid %d) but was never pushed", e.task, e.pid))
			continue
		}
		byTask[e.task] = append(byTask[e.task], e)
	}
	for _, t := range h.pushed {
		if len(byTask[t]) == 0 {
			v.problems = append(v.problems, fmt.Sprintf("task %q lost: its push was acknowledged but it never ran", t))
		}
	}
	// explainers[task] lists the pid of every crash that had the task in
	// flight, once per crash.
	explainers := map[string][]int{}
	for _, c := range h.crashes {
		for _, t := range c.inFlight {
			explainers[t] = append(explainers[t], c.pid)
		}
	}
	tasks := make([]string, 0, len(byTask))
	for t := range byTask {
		tasks = append(tasks, t)
	}
	slices.Sort(tasks)
	for _, t := range tasks {
		es := byTask[t]
		if len(es) < 2 {
			continue
		}
		pids := make([]int, len(es))
		for i, e := range es {
			pids[i] = e.pid
		}
		unexplained := slices.Clone(pids)
		for _, pid := range explainers[t] {
			if i := slices.Index(unexplained, pid); i >= 0 {
				unexplained = slices.Delete(unexplained, i, i+1)
			}
		}
		if len(unexplained) > 1 {
			v.problems = append(v.problems, fmt.Sprintf("task %q ran %d times (pids %v) but only %d crash(es) had it in flight (pids %v)",
				t, len(es), pids, len(explainers[t]), explainers[t]))
			continue
		}
		v.duplicates += len(es) - 1
	}
	return v
}

func TestCheckerFindsBadHistories(t *testing.T) {
	at := time.Unix(0, 0)
	ex := func(task string, pid int) execution { return execution{task: task, pid: pid, at: at} }
	tests := []struct {
		name     string
		h        taskHistory
		problems []string // substrings, one per expected problem
		dups     int
	}{
		{name: "clean", h: taskHistory{
			pushed: []string{"a", "b", "c"},
			execs:  []execution{ex("a", 1), ex("c", 2), ex("b", 1)},
		}},
		{name: "lost task", h: taskHistory{
			pushed: []string{"a", "b", "c"},
			execs:  []execution{ex("a", 1), ex("c", 2)},
		}, problems: []string{`"b" lost`}},
		{name: "unexplained duplicate", h: taskHistory{
			pushed: []string{"a", "b"},
			execs:  []execution{ex("a", 1), ex("b", 2), ex("a", 2)},
		}, problems: []string{`"a" ran 2 times (pids [1 2]) but only 0 crash`}},
		{name: "duplicate explained by the killed worker's in-flight task", h: taskHistory{
			pushed:  []string{"a", "b"},
			execs:   []execution{ex("a", 1), ex("b", 1), ex("a", 2)},
			crashes: []crash{{pid: 1, inFlight: []string{"a"}}},
		}, dups: 1},
		{name: "duplicate by a live worker although another crashed with it in flight", h: taskHistory{
			pushed:  []string{"a"},
			execs:   []execution{ex("a", 2), ex("a", 3)},
			crashes: []crash{{pid: 1, inFlight: []string{"a"}}},
		}, problems: []string{`"a" ran 2 times (pids [2 3]) but only 1 crash(es) had it in flight (pids [1])`}},
		{name: "the crashed worker had another task in flight", h: taskHistory{
			pushed:  []string{"a", "b"},
			execs:   []execution{ex("a", 1), ex("a", 2), ex("b", 2)},
			crashes: []crash{{pid: 1, inFlight: []string{"b"}}},
		}, problems: []string{`"a" ran 2 times`}},
		{name: "one crash explains one extra run, not two", h: taskHistory{
			pushed:  []string{"a"},
			execs:   []execution{ex("a", 1), ex("a", 2), ex("a", 3)},
			crashes: []crash{{pid: 1, inFlight: []string{"a"}}},
		}, problems: []string{`"a" ran 3 times`}},
		{name: "two crashes in a row explain two extra runs", h: taskHistory{
			pushed:  []string{"a"},
			execs:   []execution{ex("a", 1), ex("a", 2), ex("a", 3)},
			crashes: []crash{{pid: 1, inFlight: []string{"a"}}, {pid: 2, inFlight: []string{"a"}}},
		}, dups: 2},
		{name: "a redis crash explains a second run in the same process", h: taskHistory{
			pushed:  []string{"a"},
			execs:   []execution{ex("a", 7), ex("a", 7)},
			crashes: []crash{{pid: 7, inFlight: []string{"a"}}},
		}, dups: 1},
		{name: "execution of a task never pushed", h: taskHistory{
			pushed: []string{"a"},
			execs:  []execution{ex("a", 1), ex("z", 1)},
		}, problems: []string{`"z" ran (pid 1) but was never pushed`}},
		{name: "a push that failed may run once or not at all", h: taskHistory{
			pushed: []string{"a"},
			maybe:  []string{"m1", "m2"},
			execs:  []execution{ex("a", 1), ex("m1", 1)},
		}},
		{name: "a push that failed runs twice", h: taskHistory{
			pushed: []string{"a"},
			maybe:  []string{"m1"},
			execs:  []execution{ex("a", 1), ex("m1", 1), ex("m1", 2)},
		}, problems: []string{`"m1" ran 2 times`}},
		{name: "lost and duplicated together", h: taskHistory{
			pushed: []string{"a", "b"},
			execs:  []execution{ex("a", 1), ex("a", 1)},
		}, problems: []string{`"b" lost`, `"a" ran 2 times`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := checkTasks(tc.h)
			if len(v.problems) != len(tc.problems) {
				t.Fatalf("problems = %q, want %d matching %q", v.problems, len(tc.problems), tc.problems)
			}
			for _, want := range tc.problems {
				if !slices.ContainsFunc(v.problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("no problem mentions %q; got %q", want, v.problems)
				}
			}
			if v.duplicates != tc.dups {
				t.Errorf("duplicates = %d, want %d", v.duplicates, tc.dups)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The recorder: handlers append "<payload> <pid> <unix ns>" to a list on a
// redis-server of its own, before they return, so an execution is on
// record before its task can be acknowledged, and stays on record whatever
// happens to the worker or to the queue's server.

type recorder struct {
	c    redis.UniversalClient
	mu   stdsync.Mutex
	seen []execution
	ran  map[string]int
}

func newRecorder(c redis.UniversalClient) *recorder {
	return &recorder{c: c, ran: map[string]int{}}
}

func formatExecution(task string, pid int, at time.Time) string {
	return fmt.Sprintf("%s %d %d", task, pid, at.UnixNano())
}

// record appends one execution (used by in-process handlers).
func (r *recorder) record(ctx context.Context, task string) error {
	return r.c.RPush(ctx, recorderKey, formatExecution(task, os.Getpid(), time.Now())).Err()
}

// sync reads the executions recorded since the last call.
func (r *recorder) sync(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines, err := r.c.LRange(ctx, recorderKey, int64(len(r.seen)), -1).Result()
	if err != nil {
		return err
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			return fmt.Errorf("bad execution record %q", l)
		}
		pid, err1 := strconv.Atoi(f[1])
		ns, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad execution record %q", l)
		}
		r.seen = append(r.seen, execution{task: f[0], pid: pid, at: time.Unix(0, ns)})
		r.ran[f[0]]++
	}
	return nil
}

// executions returns a copy of what sync has read.
func (r *recorder) executions() []execution {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// count returns how many distinct tasks have run, and how many executions.
func (r *recorder) count() (tasks, execs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ran), len(r.seen)
}

// waitAll syncs until every task in want has run, or fails the test.
func (r *recorder) waitAll(t *testing.T, d time.Duration, want []string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if err := r.sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		missing := 0
		for _, w := range want {
			if r.ran[w] == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d tasks have not run", d, missing, len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// judge runs the checker and reports its verdict.
func judge(t *testing.T, h taskHistory) verdict {
	t.Helper()
	v := checkTasks(h)
	for i, p := range v.problems {
		if i == 20 {
			t.Errorf("... and %d more problems", len(v.problems)-i)
			break
		}
		t.Error(p)
	}
	return v
}

// waitDrained waits until queue holds nothing: no entry in the stream,
// nothing pending, delayed, waiting for a retry or dead.
func waitDrained(t *testing.T, c redis.UniversalClient, pfx, queue string) {
	t.Helper()
	in, err := NewInspector(c, WithInspectorPrefix(pfx))
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err = in.Stats(t.Context(), queue)
		if err == nil && st.Length == 0 && st.Pending == 0 && st.Delayed == 0 && st.Retry == 0 && st.Dead == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %q not drained: %+v (err %v)", queue, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Worker processes killed with SIGKILL.

// TestFaultWorkerHelper is not a test: TestFaultNoTaskLost runs it in child
// processes, workers it can kill -9. It prints "ready <pid>" and works until
// it is killed.
func TestFaultWorkerHelper(t *testing.T) {
	if redistest.HelperRole() != roleFaultWorker {
		t.Skip("helper process of TestFaultNoTaskLost only")
	}
	c := redis.NewClient(redistest.Options(os.Getenv(envFaultAddr))) // the restricted ACL user under GO_SYNC_ACL=1
	defer c.Close()
	rec := redis.NewClient(&redis.Options{Addr: os.Getenv(envFaultRecorder), // the test's recorder: the default user
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	defer rec.Close()
	w, err := NewWorker(c, faultQueue, WithWorkerPrefix(os.Getenv(envFaultPrefix)), WithConsumer(os.Getenv(envFaultConsumer)),
		WithPool(faultPool), WithVisibilityTimeout(faultVisibility))
	if err != nil {
		t.Fatal(err)
	}
	pid := os.Getpid()
	w.Handle(faultTaskName, func(ctx context.Context, tk *Task) error {
		time.Sleep(faultWork())
		return rec.RPush(ctx, recorderKey, formatExecution(string(tk.Payload), pid, time.Now())).Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // the parent kills us long before
	defer cancel()
	fmt.Println("ready", pid)
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

type faultWorker struct {
	p        *redistest.Process
	consumer string
}

// Three worker processes share a queue that a producer fills while they
// work. A worker with tasks in flight is killed with SIGKILL and replaced
// by a new process, once (eight times with GO_SYNC_SOAK=1). Every task whose
// push was acknowledged must run, and a task may run twice only if it was
// pending on the killed worker's consumer when it died.
func TestFaultNoTaskLost(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	n, kills, batch, every := 300, 1, 10, 50*time.Millisecond
	if faultSoak() {
		n, kills, every = 6000, 8, 15*time.Millisecond
	}
	ctx := t.Context()
	node := redistest.Standalone(t)
	recNode := redistest.Standalone(t)
	c := node.Client()
	rec := newRecorder(recNode.AdminClient())
	pfx := prefix(t)
	p := newProducer(t, c)
	k, _ := newQueueKeys(p.keys, faultQueue)
	if err := ensureGroup(ctx, c, k.stream); err != nil {
		t.Fatal(err)
	}

	gen := 0
	startWorker := func(slot int) faultWorker {
		gen++
		consumer := fmt.Sprintf("w%d.%d", slot, gen)
		proc := redistest.StartProcess(t, "TestFaultWorkerHelper", roleFaultWorker,
			envFaultAddr+"="+node.Addr, envFaultRecorder+"="+recNode.Addr, envFaultPrefix+"="+pfx, envFaultConsumer+"="+consumer)
		if _, err := proc.Expect(30*time.Second, func(l string) bool { return strings.HasPrefix(l, "ready ") }); err != nil {
			t.Fatal(err)
		}
		return faultWorker{proc, consumer}
	}
	workers := make([]faultWorker, 3)
	for i := range workers {
		workers[i] = startWorker(i)
	}

	// The producer pushes batches at a steady pace while the workers run.
	var (
		mu     stdsync.Mutex
		byID   = map[string]string{} // entry id -> payload
		pushed []string
	)
	pushDone := make(chan error, 1)
	go func() {
		pushDone <- func() error {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; i < n; i += batch {
				tasks := make([]Task, 0, batch)
				for j := i; j < min(i+batch, n); j++ {
					tasks = append(tasks, Task{Name: faultTaskName, Payload: []byte("task-" + strconv.Itoa(j))})
				}
				ids, errs, err := p.PushBatch(ctx, faultQueue, tasks)
				if err != nil {
					return err
				}
				mu.Lock()
				for j, id := range ids {
					if errs[j] != nil {
						mu.Unlock()
						return errs[j]
					}
					byID[id] = string(tasks[j].Payload)
					pushed = append(pushed, string(tasks[j].Payload))
				}
				mu.Unlock()
				select {
				case <-tick.C:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}()
	}()

	type kill struct {
		at    time.Time
		crash crash
	}
	var killed []kill
	for round := range kills {
		// Let a share of the tasks run first, then kill a worker that has
		// tasks pending: delivered, and not yet acknowledged.
		target := (round + 1) * n / (kills + 2)
		waitFor(t, 30*time.Second, fmt.Sprintf("%d tasks to run", target), func() bool {
			if err := rec.sync(ctx); err != nil {
				t.Fatal(err)
			}
			got, _ := rec.count()
			return got >= target
		})
		var victim int
		waitFor(t, 10*time.Second, "a worker with tasks in flight", func() bool {
			pe, err := c.XPending(ctx, k.stream, group).Result()
			if err != nil {
				return false
			}
			for _, i := range rand.Perm(len(workers)) {
				if pe.Consumers[workers[i].consumer] >= 2 {
					victim = i
					return true
				}
			}
			return false
		})
		v := workers[victim]
		at := time.Now()
		v.p.Kill()
		// Snapshot what the dead consumer has pending. Nobody can have
		// reclaimed any of it yet: its entries were heartbeated a third of
		// a visibility timeout ago at most.
		pend, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: k.stream, Group: group, Start: "-", End: "+", Count: 10000, Consumer: v.consumer}).Result()
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(at); took > faultVisibility/2 {
			t.Fatalf("the kill and the pending snapshot took %v: too slow to be sure nothing was reclaimed yet", took)
		}
		cr := crash{pid: v.p.Pid()}
		mu.Lock()
		for _, e := range pend {
			task, ok := byID[e.ID]
			if !ok {
				t.Errorf("entry %s pending on %s is not one the producer pushed", e.ID, v.consumer)
			}
			cr.inFlight = append(cr.inFlight, task)
		}
		mu.Unlock()
		killed = append(killed, kill{at, cr})
		t.Logf("round %d: killed %s (pid %d) with %d tasks pending", round, v.consumer, cr.pid, len(cr.inFlight))
		workers[victim] = startWorker(victim)
	}

	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	all := slices.Clone(pushed)
	mu.Unlock()
	if len(all) != n {
		t.Fatalf("pushed %d tasks, want %d", len(all), n)
	}
	rec.waitAll(t, 30*time.Second, all)
	waitDrained(t, c, pfx, faultQueue)
	if err := rec.sync(ctx); err != nil {
		t.Fatal(err)
	}

	h := taskHistory{pushed: all, execs: rec.executions()}
	exercised := false
	for _, kl := range killed {
		h.crashes = append(h.crashes, kl.crash)
		exercised = exercised || len(kl.crash.inFlight) > 0
	}
	vd := judge(t, h)
	if !exercised {
		t.Error("no killed worker had a task in flight: the test did not exercise reclaim")
	}

	// Recovery: from the kill until every task the dead worker had in
	// flight has run in another process.
	for i, kl := range killed {
		var worst time.Duration
		for _, task := range kl.crash.inFlight {
			first := time.Duration(-1)
			for _, e := range h.execs {
				if e.task == task && e.pid != kl.crash.pid && e.at.After(kl.at) {
					first = e.at.Sub(kl.at)
					break
				}
			}
			if first < 0 {
				// It ran only on the killed worker (finished, acknowledged
				// just before the kill) or before the kill.
				continue
			}
			worst = max(worst, first)
		}
		t.Logf("kill %d: %d tasks in flight, all run elsewhere %v after the kill (visibility timeout %v)",
			i, len(kl.crash.inFlight), worst.Round(time.Millisecond), faultVisibility)
		if worst > 10*faultVisibility {
			t.Errorf("kill %d: recovery took %v, more than 10 visibility timeouts", i, worst)
		}
	}
	tasks, execs := rec.count()
	t.Logf("%d tasks, %d executions, %d duplicates (all explained by kills), %d kills; checker: %d problems",
		tasks, execs, vd.duplicates, len(killed), len(vd.problems))
}

// ---------------------------------------------------------------------------
// A redis-server killed with SIGKILL.

// With appendonly yes and appendfsync always, a redis-server killed with
// SIGKILL loses no task whose push was acknowledged: pushes of every kind
// (single, batch, unique, delayed) before the kill, pushes racing the kill,
// and a second kill while a worker is processing.
func TestFaultRedisRestartAOF(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	ctx := t.Context()
	node := redistest.Standalone(t, redistest.WithAOF("always"))
	recNode := redistest.Standalone(t)
	// Let failures surface at once (they are "maybe" pushes) rather than
	// riding out the outage in go-redis's dial retries.
	c := node.Client(func(o *redis.Options) {
		o.MaxRetries, o.DialerRetries, o.DialerRetryTimeout = -1, 1, 10*time.Millisecond
	})
	rec := newRecorder(recNode.AdminClient())
	pfx := prefix(t)
	p := newProducer(t, c)
	const queue = "durable"
	var pushed, maybe []string
	next := 0
	name := func() string { next++; return "task-" + strconv.Itoa(next) }

	// Phase 1: acknowledged pushes of every kind.
	for range 100 {
		tk := Task{Name: faultTaskName, Payload: []byte(name())}
		if _, err := p.Push(ctx, queue, tk); err != nil {
			t.Fatal(err)
		}
		pushed = append(pushed, string(tk.Payload))
	}
	for range 4 {
		tasks := make([]Task, 25)
		for i := range tasks {
			tasks[i] = Task{Name: faultTaskName, Payload: []byte(name())}
		}
		if _, errs, err := p.PushBatch(ctx, queue, tasks); err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			t.Fatalf("PushBatch: %v %v", err, errs)
		}
		for _, tk := range tasks {
			pushed = append(pushed, string(tk.Payload))
		}
	}
	for i := range 50 {
		tk := Task{Name: faultTaskName, Payload: []byte(name()), ID: "unique-" + strconv.Itoa(i)}
		if i%2 == 1 {
			tk.Delay = 300 * time.Millisecond
		}
		if _, err := p.Push(ctx, queue, tk); err != nil {
			t.Fatal(err)
		}
		pushed = append(pushed, string(tk.Payload))
	}
	for range 50 {
		tk := Task{Name: faultTaskName, Payload: []byte(name()), Delay: 200 * time.Millisecond}
		if _, err := p.Push(ctx, queue, tk); err != nil {
			t.Fatal(err)
		}
		pushed = append(pushed, string(tk.Payload))
	}

	// Phase 2: a producer pushes while the server is killed and restarted.
	stop := make(chan struct{})
	type outcome struct {
		task string
		err  error
	}
	results := make(chan outcome, 100000)
	var pushers stdsync.WaitGroup
	for g := range 2 {
		pushers.Add(1)
		go func() {
			defer pushers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				task := fmt.Sprintf("race-%d-%d", g, i)
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := p.Push(pctx, queue, Task{Name: faultTaskName, Payload: []byte(task)})
				cancel()
				results <- outcome{task, err}
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	count := func() (ok, failed int) {
		for {
			select {
			case o := <-results:
				if o.err == nil {
					pushed = append(pushed, o.task)
					ok++
				} else {
					maybe = append(maybe, o.task)
					failed++
				}
			default:
				return
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	node.Kill()
	before, _ := count()
	time.Sleep(200 * time.Millisecond)
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	// Keep pushing until the producer has reconnected.
	okAfter := 0
	waitFor(t, 10*time.Second, "acknowledged pushes after the restart", func() bool {
		ok, _ := count()
		okAfter += ok
		return okAfter >= 20
	})
	close(stop)
	pushers.Wait()
	close(results)
	for o := range results {
		if o.err == nil {
			pushed = append(pushed, o.task)
		} else {
			maybe = append(maybe, o.task)
		}
	}
	t.Logf("phase 2: %d pushes acknowledged before the kill, %d failed while the server was down", before, len(maybe))
	if len(maybe) == 0 {
		t.Error("no push failed: the kill did not race the producer")
	}

	// Phase 3: a worker processes the queue; the server is killed again
	// under it and restarted.
	logs := &logBuffer{}
	wc := node.Client(func(o *redis.Options) {
		o.MaxRetries, o.DialerRetries, o.DialerRetryTimeout = -1, 1, 10*time.Millisecond
	})
	failures := &failureHook{}
	wc.AddHook(failures)
	w := newWorker(t, wc, queue, WithPool(8), WithVisibilityTimeout(faultVisibility), WithPromoteInterval(20*time.Millisecond),
		WithWorkerLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	var (
		hmu      stdsync.Mutex
		finished = map[string]time.Time{}
	)
	w.Handle(faultTaskName, func(ctx context.Context, tk *Task) error {
		time.Sleep(time.Millisecond)
		if err := rec.record(ctx, string(tk.Payload)); err != nil {
			return err
		}
		hmu.Lock()
		if _, ok := finished[string(tk.Payload)]; !ok {
			finished[string(tk.Payload)] = time.Now()
		}
		hmu.Unlock()
		return nil
	})
	runWorker(t, w)
	waitFor(t, 10*time.Second, "a third of the tasks to run", func() bool {
		hmu.Lock()
		defer hmu.Unlock()
		return len(finished) >= len(pushed)/3
	})
	killAt := time.Now()
	node.Kill()
	time.Sleep(200 * time.Millisecond)
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	rec.waitAll(t, 30*time.Second, pushed)
	waitDrained(t, c, pfx, queue)
	t.Logf("phase 3: all %d acknowledged tasks ran; %v from the restart to the last", len(pushed), time.Since(restarted).Round(time.Millisecond))
	if err := rec.sync(ctx); err != nil {
		t.Fatal(err)
	}

	// A task whose handler finished shortly before the kill, or before the
	// worker could reach the server again, may have lost its
	// acknowledgement: the worker may run it again.
	first, last := failures.span()
	cr := crash{pid: os.Getpid()}
	hmu.Lock()
	for task, at := range finished {
		if at.After(killAt.Add(-time.Second)) && at.Before(last.Add(100*time.Millisecond)) {
			cr.inFlight = append(cr.inFlight, task)
		}
	}
	hmu.Unlock()
	vd := judge(t, taskHistory{pushed: pushed, maybe: maybe, execs: rec.executions(), crashes: []crash{cr}})
	t.Logf("phase 3: the worker's commands failed from %v to %v after the kill; the server was back after %v",
		first.Sub(killAt).Round(time.Millisecond), last.Sub(killAt).Round(time.Millisecond), restarted.Sub(killAt).Round(time.Millisecond))
	maybeRan := 0
	for _, e := range rec.executions() {
		if slices.Contains(maybe, e.task) {
			maybeRan++
		}
	}
	t.Logf("%d acknowledged pushes, %d failed pushes of which %d were enqueued anyway, %d duplicates after the second kill; checker: %d problems",
		len(pushed), len(maybe), maybeRan, vd.duplicates, len(vd.problems))
	if dropped := logs.grep("ack failed"); len(dropped) > 0 {
		t.Logf("the worker gave up acknowledging (these tasks ran again):\n%s", strings.Join(dropped, "\n"))
	}
}

// A worker never runs a task a second time while it is still running it.
// A server outage longer than the visibility timeout lets no heartbeat
// through; once the server is back, the worker's own reclaim loop finds
// the running task idle and must not start it again beside the first run
// (it did, before reclaim skipped the worker's own in-flight ids).
func TestFaultNoSelfReclaimAfterOutage(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	node := redistest.Standalone(t, redistest.WithAOF("always"))
	c := node.Client(func(o *redis.Options) { o.MaxRetries = -1 })
	p := newProducer(t, c)
	w := newWorker(t, c, "q", WithPool(2), WithVisibilityTimeout(300*time.Millisecond))
	var (
		mu            stdsync.Mutex
		starts        int
		running, most int
	)
	w.Handle("long", func(ctx context.Context, _ *Task) error {
		mu.Lock()
		starts++
		running++
		most = max(most, running)
		mu.Unlock()
		sleep(ctx, 2500*time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	})
	runWorker(t, w)
	if _, err := p.Push(t.Context(), "q", Task{Name: "long"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the task to start", func() bool { mu.Lock(); defer mu.Unlock(); return starts == 1 })
	node.Kill()
	time.Sleep(500 * time.Millisecond)
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if starts != 1 {
		t.Errorf("one worker started its one task %d times, %d at once", starts, most)
	}
}

// failureHook records when a client's commands failed.
type failureHook struct {
	mu          stdsync.Mutex
	first, last time.Time
}

func (h *failureHook) note(err error) {
	var reply redis.Error
	if err == nil || errors.As(err, &reply) || errors.Is(err, context.Canceled) {
		return // no failure, or the server's answer (redis.Nil, NOSCRIPT, ...)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.first.IsZero() {
		h.first = now
	}
	h.last = now
}

// span returns the times of the first and the last failed command.
func (h *failureHook) span() (first, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first, h.last
}

func (h *failureHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failureHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.note(err)
		return err
	}
}

func (h *failureHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.note(err)
		return err
	}
}

// logBuffer collects a worker's log lines.
type logBuffer struct {
	mu    stdsync.Mutex
	lines []string
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

func (b *logBuffer) grep(s string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Redis Cluster.

// Queues whose slots are served by every master of a Redis Cluster: each
// queue's scripts stay in its slot (no CROSSSLOT), and every task pushed
// (single, batch, unique, delayed) runs exactly once.
func TestFaultCluster(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	ctx := t.Context()
	c := sharedCluster(t)
	recNode := redistest.Standalone(t)
	rec := newRecorder(recNode.AdminClient())
	// The cluster outlives the test (and -count=2 reruns it): a prefix of
	// its own per run keeps the dedupe markers of a previous run out.
	pfx := fmt.Sprintf("%s-%08x", prefix(t), rand.Uint32())
	ks := keys.Must(pfx)

	// Two queues per master, found by slot.
	slots, err := c.ClusterSlots(ctx).Result() //lint:ignore SA1019 CLUSTER SHARDS needs Redis 7.0 too, but SLOTS is simpler to read here
	if err != nil {
		t.Fatal(err)
	}
	masterOf := func(slot int) string {
		for _, s := range slots {
			if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
				return s.Nodes[0].Addr
			}
		}
		return ""
	}
	perMaster := map[string][]string{}
	var queues []string
	for i := 0; len(queues) < 6 && i < 1000; i++ {
		q := "q" + strconv.Itoa(i)
		k, _ := newQueueKeys(ks, q)
		m := masterOf(keys.Slot(k.stream))
		if m == "" || len(perMaster[m]) == 2 {
			continue
		}
		perMaster[m] = append(perMaster[m], q)
		queues = append(queues, q)
	}
	if len(perMaster) < 3 || len(queues) != 6 {
		t.Fatalf("queues per master %v: want two on each of 3 masters", perMaster)
	}
	t.Logf("queues per master: %v", perMaster)

	// One worker per queue, all stopped together: each Run takes up to its
	// read's block time (1s) to return.
	wctx, stop := context.WithCancel(context.Background())
	var running stdsync.WaitGroup
	t.Cleanup(func() { stop(); running.Wait() })
	for _, q := range queues {
		w := newWorker(t, c, q, WithWorkerPrefix(pfx), WithPool(4), WithPromoteInterval(20*time.Millisecond))
		w.Handle(faultTaskName, func(ctx context.Context, tk *Task) error {
			time.Sleep(time.Millisecond)
			return rec.record(ctx, string(tk.Payload))
		})
		running.Add(1)
		go func() {
			defer running.Done()
			if err := w.Run(wctx); err != nil {
				t.Errorf("Run %s: %v", q, err)
			}
		}()
	}
	p := newProducer(t, c, WithProducerPrefix(pfx))
	var pushed []string
	for _, q := range queues {
		for i := range 20 {
			tk := Task{Name: faultTaskName, Payload: []byte(fmt.Sprintf("%s-single-%d", q, i))}
			switch i % 4 {
			case 1:
				tk.ID = "u" + strconv.Itoa(i)
			case 2:
				tk.Delay = 50 * time.Millisecond
			case 3:
				tk.ID, tk.Delay = "d"+strconv.Itoa(i), 50*time.Millisecond
			}
			if _, err := p.Push(ctx, q, tk); err != nil {
				t.Fatalf("Push %s: %v", q, err)
			}
			pushed = append(pushed, string(tk.Payload))
		}
		tasks := make([]Task, 30)
		for i := range tasks {
			tasks[i] = Task{Name: faultTaskName, Payload: []byte(fmt.Sprintf("%s-batch-%d", q, i))}
			if i%3 == 0 {
				tasks[i].ID = "b" + strconv.Itoa(i)
			}
		}
		_, errs, err := p.PushBatch(ctx, q, tasks)
		if err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
			t.Fatalf("PushBatch %s: %v %v", q, err, errs)
		}
		for _, tk := range tasks {
			pushed = append(pushed, string(tk.Payload))
		}
	}
	rec.waitAll(t, 30*time.Second, pushed)
	for _, q := range queues {
		waitDrained(t, c, pfx, q)
	}
	if err := rec.sync(ctx); err != nil {
		t.Fatal(err)
	}
	vd := judge(t, taskHistory{pushed: pushed, execs: rec.executions()})
	if vd.duplicates != 0 {
		t.Errorf("%d duplicates without any fault", vd.duplicates)
	}
	_, execs := rec.count()
	t.Logf("%d tasks on %d queues over %d masters, %d executions; checker: %d problems", len(pushed), len(queues), len(perMaster), execs, len(vd.problems))
}
