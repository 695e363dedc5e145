package redistask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A command is a task whose outcome goes back to the caller: RunCommand
// pushes n runs of a named command and waits for every run to report;
// workers that registered the name with HandleCommand execute them. This
// is the seed's distributed Task.Run with WithPool(n).

// HandleCommand registers fn as command name. Each run's result (nil or
// fn's error; a panic counts as an error) is reported to the caller, and
// the task then counts as done: a failed command is not retried or
// dead-lettered, its caller sees the error. A run whose worker died is
// reclaimed and executed by another worker.
func (w *Worker) HandleCommand(name string, fn func(ctx context.Context) error) error {
	return w.Handle(name, func(ctx context.Context, t *Task) error {
		run, index, ok := commandRun(t.Payload)
		if !ok {
			return fmt.Errorf("redistask: command %q: malformed run reference %q", name, t.Payload)
		}
		msg := "ok"
		if err := run_(ctx, fn); err != nil {
			msg = "err:" + err.Error()
		}
		key := w.k.reply(run)
		// Report even when fn ran out of time: the handler's context may
		// have ended, the report must not.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		ctx = rctx
		_, err := w.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.RPush(ctx, key, index+":"+msg)
			p.PExpire(ctx, key, replyTTL(t))
			return nil
		})
		return err // a report that failed is retried with the task
	})
}

// replyTTL is how long a command run's report is kept: the run's timeout
// (its caller's whole wait, which began before the run was pushed), or an
// hour for a run without one.
func replyTTL(t *Task) time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return time.Hour
}

// runIDLen is the length of a run id: 12 random bytes, hex.
const runIDLen = 24

// commandRun splits a command task's payload, "<run>/<index>", where run
// is RunCommand's random run id; ok is false for any other payload.
func commandRun(payload []byte) (run, index string, ok bool) {
	run, index, ok = strings.Cut(string(payload), "/")
	if !ok || len(run) != runIDLen || index == "" {
		return "", "", false
	}
	if _, err := hex.DecodeString(run); err != nil {
		return "", "", false
	}
	if _, err := strconv.Atoi(index); err != nil {
		return "", "", false
	}
	return run, index, true
}

func run_(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx)
}

// RunCommand pushes n runs of command name to queue and blocks until all
// have reported, ctx ends, or timeout passes. It returns nil when every
// run succeeded; otherwise the runs' errors joined (each "run i: ..."),
// and, on timeout, an error wrapping ErrTimeout naming the runs that never
// reported (no worker is running, or none reads them in time). A run that
// a worker dead-letters instead of running (it has no handler for name,
// or the run kept killing its workers) reports at once, as an error
// wrapping ErrDeadLettered; the run is in the dead-letter stream. Workers
// of releases before this report are silent: the caller times out. Runs of
// concurrent calls never mix: each call has its own reply key. Runs that
// did not report in time, or whose caller's ctx ended, are not withdrawn:
// a worker still executes them (their reports expire after the run's
// timeout).
//
// RunCommand stops waiting as soon as ctx ends or timeout passes, then
// deletes its keys (one DEL): while Redis does not answer, that DEL holds
// the return up to the client's read timeout (3s by default; with none,
// until Redis answers). Concurrent calls on one queue share one
// connection of the producer's client while they wait (one goroutine pops
// every waiting call's reports with one BLPOP; it ends with the last
// call), so workers sharing the client keep the rest of its pool (each
// worker holds one connection in its blocking reads: size the pool above
// the number of workers and producers' queues that share it). RunCommand
// needs a client read timeout of at least 500ms or none (-1), and fails
// with ErrBadOption under a shorter one.
func (p *Producer) RunCommand(ctx context.Context, queue, name string, n int, timeout time.Duration) error {
	if n <= 0 || timeout <= 0 {
		return fmt.Errorf("%w: need n > 0 and a positive timeout", ErrBadOption)
	}
	if rt := readTimeout(p.client); rt > 0 && rt < minReadTimeout {
		return fmt.Errorf("%w: RunCommand needs a client read timeout of at least %v (it waits in BLPOPs of %v), not %v", ErrBadOption, minReadTimeout, listenWait, rt)
	}
	k, err := newQueueKeys(p.keys, queue)
	if err != nil {
		return err
	}
	var b [12]byte
	rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{Name: name, Payload: []byte(run + "/" + strconv.Itoa(i)), MaxAttempts: 3, Timeout: timeout}
	}
	key, waiting := k.reply(run), k.waiting(run)
	l := p.listener(k)
	w := l.register(key, n)
	defer l.unregister(key)
	// The marker tells a worker that dead-letters a run that someone
	// waits for its report; it lapses by itself if this caller dies. It
	// goes in the pushes' round trip, ahead of them, with the listener's
	// wake-up.
	var mark *redis.StatusCmd
	_, pushErrs, err := p.pushBatch(ctx, queue, tasks, func(pipe redis.Pipeliner) {
		mark = pipe.Set(ctx, waiting, "1", timeout+time.Second)
		l.wakeUp(ctx, pipe)
	})
	defer p.client.Del(context.WithoutCancel(ctx), key, waiting)
	if err != nil {
		return err
	} else if err := errors.Join(pushErrs...); err != nil {
		return err
	} else if err := mark.Err(); err != nil {
		return fmt.Errorf("redistask: command %q: runs pushed, but their waiting marker was not set: %w", name, wrapErr(err))
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	results := map[int]string{}
wait:
	for len(results) < n {
		var v string
		select {
		case v = <-w.msgs:
		case err := <-w.errs:
			return fmt.Errorf("redistask: command %q: waiting for reports: %w", name, wrapErr(err))
		case <-ctx.Done():
			return fmt.Errorf("redistask: command %q: %w", name, ctx.Err())
		case <-timer.C:
			break wait
		}
		idx, msg, _ := strings.Cut(v, ":")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= n {
			continue
		}
		if _, dup := results[i]; !dup {
			results[i] = msg // a reclaimed run may report twice; the first counts
		}
	}
	var errs []error
	var missing []string
	for i := range n {
		msg, ok := results[i]
		switch {
		case !ok:
			missing = append(missing, strconv.Itoa(i))
		case strings.HasPrefix(msg, "dead:"):
			errs = append(errs, fmt.Errorf("%w: command %q: run %d: %s", ErrDeadLettered, name, i, strings.TrimPrefix(msg, "dead:")))
		case msg != "ok":
			errs = append(errs, fmt.Errorf("run %d: %s", i, strings.TrimPrefix(msg, "err:")))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		errs = append(errs, fmt.Errorf("%w: command %q: runs %s did not report within %v", ErrTimeout, name, strings.Join(missing, ","), timeout))
	}
	return errors.Join(errs...)
}
