package sync

import (
	"context"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/redistask"
)

// Task is the seed's task interface: Run executes a command now, until
// completion; Status reports the state of the last execution.
type Task interface {
	// Run executes cmd as many times as the pool size, in parallel, waits
	// for all runs, and returns every run's error joined (nil when all
	// succeeded). Unlike the seed's, errors are never swallowed.
	Run(Command) error
	// Status returns "idle", "running", "completed" or "failed: <error>".
	Status() string
}

// Command is a named function (the seed's).
type Command struct {
	Name string
	Func func() error
}

// TaskOption configures a Task.
type TaskOption func(*taskOptions)

type taskOptions struct {
	pool    int
	timeout time.Duration
}

// WithPool sets how many times Run executes the command in parallel
// (default 1).
func WithPool(n int) TaskOption { return func(o *taskOptions) { o.pool = n } }

// WithTaskTimeout bounds how long a distributed Run waits for its runs to
// report (default 1 minute); a dead or missing worker cannot hang Run.
func WithTaskTimeout(d time.Duration) TaskOption { return func(o *taskOptions) { o.timeout = d } }

func taskOpts(opts []TaskOption) taskOptions {
	o := taskOptions{pool: 1, timeout: time.Minute}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

type status struct {
	mu stdsync.Mutex
	s  string
}

func (st *status) set(s string) { st.mu.Lock(); st.s = s; st.mu.Unlock() }
func (st *status) Status() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.s
}

func (st *status) finish(err error) error {
	if err != nil {
		st.set("failed: " + err.Error())
	} else {
		st.set("completed")
	}
	return err
}

// NewLocalTask returns a Task that runs commands in this process.
func NewLocalTask(opts ...TaskOption) Task {
	return &localTask{o: taskOpts(opts), st: &status{s: "idle"}}
}

type localTask struct {
	o  taskOptions
	st *status
}

func (t *localTask) Status() string { return t.st.Status() }

func (t *localTask) Run(c Command) error {
	if c.Func == nil || t.o.pool <= 0 {
		return t.st.finish(fmt.Errorf("sync: task %q: nil Func or pool < 1", c.Name))
	}
	t.st.set("running")
	errs := make([]error, t.o.pool)
	var wg stdsync.WaitGroup
	for i := range t.o.pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("run %d: panic: %v", i, r)
				}
			}()
			if err := c.Func(); err != nil {
				errs[i] = fmt.Errorf("run %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return t.st.finish(errors.Join(errs...))
}

// Producer returns a redistask.Producer on the shared client and prefix.
func (s *Sync) Producer(opts ...redistask.ProducerOption) (*redistask.Producer, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	return redistask.NewProducer(s.client, append([]redistask.ProducerOption{redistask.WithProducerPrefix(s.Prefix()),
		redistask.WithProducerPropagator(s.opts.prop), redistask.WithProducerHooks(s.opts.hooks.Task)}, opts...)...)
}

// Worker returns a redistask.Worker for queue on the shared client and
// prefix. Register handlers, then Run it; Close does not stop it (cancel
// the context given to Run).
func (s *Sync) Worker(queue string, opts ...redistask.WorkerOption) (*redistask.Worker, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	opts = append([]redistask.WorkerOption{redistask.WithWorkerPrefix(s.Prefix()), redistask.WithWorkerLogger(s.opts.logger),
		redistask.WithWorkerPropagator(s.opts.prop), redistask.WithWorkerHooks(s.opts.hooks.Task)}, opts...)
	return redistask.NewWorker(s.client, queue, opts...)
}

// Scheduler returns a redistask.Scheduler that enqueues periodic tasks on
// queue, on the shared client and prefix. Run it in every replica (each
// tick is enqueued once however many run); Close does not stop it (cancel
// the context given to Run).
func (s *Sync) Scheduler(queue string, opts ...redistask.SchedulerOption) (*redistask.Scheduler, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	opts = append([]redistask.SchedulerOption{redistask.WithSchedulerPrefix(s.Prefix()), redistask.WithSchedulerLogger(s.opts.logger)}, opts...)
	return redistask.NewScheduler(s.client, queue, opts...)
}

// Inspector returns a redistask.Inspector on the shared client and prefix.
func (s *Sync) Inspector() (*redistask.Inspector, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	return redistask.NewInspector(s.client, redistask.WithInspectorPrefix(s.Prefix()))
}

// Task returns the seed's Task, distributed over queue: Run pushes
// WithPool(n) runs of the command's name, and workers in any process that
// registered the name with Worker.HandleCommand execute them; Run returns
// when all have reported, with every run's error, or an error wrapping
// redistask.ErrTimeout naming the runs that did not report in time. A run
// that a worker dead-lettered (no handler for the name on the worker that
// read it) reports at once, wrapping redistask.ErrDeadLettered.
// Command.Func is not sent (functions do not travel): the workers' own
// registration runs.
func (s *Sync) Task(queue string, opts ...TaskOption) Task {
	return &distTask{s: s, queue: queue, o: taskOpts(opts), st: &status{s: "idle"}}
}

type distTask struct {
	s     *Sync
	queue string
	o     taskOptions
	st    *status
}

func (t *distTask) Status() string { return t.st.Status() }

func (t *distTask) Run(c Command) error {
	p, err := t.s.Producer()
	if err != nil {
		return t.st.finish(err)
	}
	t.st.set("running")
	ctx, cancel := context.WithCancel(t.s.ctx)
	defer cancel()
	err = p.RunCommand(ctx, t.queue, c.Name, t.o.pool, t.o.timeout)
	if err != nil && t.s.ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return t.st.finish(err)
}
