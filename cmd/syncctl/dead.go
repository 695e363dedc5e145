package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sync/sync/redistask"
)

// deadView is one dead-lettered task as syncctl prints it.
type deadView struct {
	ID          string     `json:"id"` // dead-letter entry id: what requeue and delete take
	Died        *time.Time `json:"died"`
	Task        string     `json:"task"`    // task name; "" when the entry cannot be decoded
	TaskID      string     `json:"task_id"` // the producer's unique id, if any
	Attempts    int        `json:"attempts"`
	MaxAttempts int        `json:"max_attempts"`
	Reason      string     `json:"reason"` // failed, unknown-name, corrupt, reclaimed
	Error       string     `json:"error"`
	Enqueued    *time.Time `json:"enqueued"`
	// Payload is the task's payload when it is UTF-8, PayloadBase64
	// otherwise (JSON encodes bytes as base64).
	Payload       *string `json:"payload,omitempty"`
	PayloadBase64 []byte  `json:"payload_base64,omitempty"`
}

func newDeadView(d redistask.DeadTask) deadView {
	v := deadView{ID: d.ID, Reason: d.Reason, Error: d.Error}
	if !d.Died.IsZero() {
		t := d.Died.UTC()
		v.Died = &t
	}
	if t := d.Task; t != nil {
		v.Task, v.TaskID, v.Attempts, v.MaxAttempts = t.Name, t.ID, t.Attempt, t.MaxAttempts
		if !t.EnqueuedAt.IsZero() {
			e := t.EnqueuedAt.UTC()
			v.Enqueued = &e
		}
		if utf8.Valid(t.Payload) {
			s := string(t.Payload)
			v.Payload = &s
		} else {
			v.PayloadBase64 = t.Payload
		}
	}
	return v
}

type deadList struct {
	Queue string
	Tasks []deadView
	Total int64 // dead tasks in the queue
}

func (l *deadList) jsonList() any { return l.Tasks }

func (l *deadList) table(w io.Writer) {
	if len(l.Tasks) == 0 {
		fmt.Fprintf(w, "no dead tasks in queue %q\n", l.Queue)
		return
	}
	tw := newTable(w)
	row(tw, "ID", "DIED", "TASK", "ATTEMPTS", "REASON", "ERROR")
	for _, d := range l.Tasks {
		task := dash(d.Task)
		if d.TaskID != "" {
			task += " (id " + d.TaskID + ")"
		}
		died := "-"
		if d.Died != nil {
			died = stamp(*d.Died)
		}
		row(tw, d.ID, died, task, fmt.Sprintf("%d/%d", d.Attempts, d.MaxAttempts), dash(d.Reason), dash(shorten(d.Error, 60)))
	}
	tw.Flush()
	if int64(len(l.Tasks)) < l.Total {
		fmt.Fprintf(w, "(%d of %d dead tasks; --limit N for more)\n", len(l.Tasks), l.Total)
	}
}

func (c *cli) deadList(ctx context.Context, args []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	queue := args[0]
	in, err := c.inspector()
	if err != nil {
		return err
	}
	if err := c.mustQueue(ctx, queue); err != nil {
		return err
	}
	st, err := in.Stats(ctx, queue)
	if err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	ds, err := in.Dead(ctx, queue, c.cfg.limit)
	if err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	res := &deadList{Queue: queue, Tasks: []deadView{}, Total: st.Dead}
	for _, d := range ds {
		res.Tasks = append(res.Tasks, newDeadView(d))
	}
	return c.render(res)
}

func (c *cli) mustQueue(ctx context.Context, queue string) error {
	ok, err := c.queueExists(ctx, queue)
	if err != nil {
		return err
	}
	if !ok {
		return failErr("queue %q not found under prefix %q", queue, c.cfg.prefix)
	}
	return nil
}

// deadTargets resolves the ids a requeue or delete acts on: those given
// that exist, or every dead task with --all; missing lists the given ids
// that are not dead tasks of the queue.
func (c *cli) deadTargets(ctx context.Context, in *redistask.Inspector, queue string, ids []string) (targets, missing []string, err error) {
	switch {
	case c.cfg.all && len(ids) > 0:
		return nil, nil, usageErr("give dead task ids or --all, not both")
	case !c.cfg.all && len(ids) == 0:
		return nil, nil, usageErr("give the ids of the dead tasks (see 'syncctl dead list %s'), or --all", queue)
	}
	if err := c.mustQueue(ctx, queue); err != nil {
		return nil, nil, err
	}
	st, err := in.Stats(ctx, queue)
	if err != nil {
		return nil, nil, fmt.Errorf("queue %q: %w", queue, err)
	}
	exists := map[string]bool{}
	if st.Dead > 0 {
		ds, err := in.Dead(ctx, queue, st.Dead)
		if err != nil {
			return nil, nil, fmt.Errorf("queue %q: %w", queue, err)
		}
		for _, d := range ds {
			exists[d.ID] = true
			if c.cfg.all {
				targets = append(targets, d.ID)
			}
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		switch {
		case seen[id]:
		case exists[id]:
			targets = append(targets, id)
		default:
			missing = append(missing, id)
		}
		seen[id] = true
	}
	return targets, missing, nil
}

// confirm asks the operator before a destructive step. Without --yes it
// needs a terminal on stdin: a script that forgot --yes fails with exit 2
// rather than hanging on a prompt nobody sees or reading its input as
// an answer.
func (c *cli) confirm(what string) error {
	if c.cfg.yes {
		return nil
	}
	if !c.tty {
		return usageErr("refusing to %s without confirmation: stdin is not a terminal; pass --yes", what)
	}
	fmt.Fprintf(c.stderr, "%s%s? [y/N] ", strings.ToUpper(what[:1]), what[1:])
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return failErr("reading the answer: %v; nothing changed", err)
	}
	if !strings.HasSuffix(line, "\n") {
		fmt.Fprintln(c.stderr) // end of input (^D): the terminal echoed no newline
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return failErr("not confirmed; nothing changed")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// describe names what a destructive command is about to touch.
func (c *cli) describe(verb string, n int, queue string) string {
	return fmt.Sprintf("%s %s of queue %q (prefix %q, %s)", verb, plural(n, "dead task", "dead tasks"), queue, c.cfg.prefix, c.conn.names[0])
}

type requeueResult struct {
	Queue    string      `json:"queue"`
	Requeued []requeued  `json:"requeued"`
	Failed   []deadError `json:"failed"`
}

type requeued struct {
	ID    string `json:"id"`
	NewID string `json:"new_id"` // the task's new entry in the queue
}

type deadError struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

func (r *requeueResult) table(w io.Writer) {
	if len(r.Requeued) > 0 {
		tw := newTable(w)
		row(tw, "ID", "NEW ID")
		for _, q := range r.Requeued {
			row(tw, q.ID, q.NewID)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "requeued %s to queue %q\n", plural(len(r.Requeued), "dead task", "dead tasks"), r.Queue)
}

func (c *cli) deadRequeue(ctx context.Context, args []string) error {
	res := &requeueResult{Queue: args[0], Requeued: []requeued{}, Failed: []deadError{}}
	failed, err := c.deadAct(ctx, args, "requeue", "requeued", func(ctx context.Context, in *redistask.Inspector, queue, id string) (bool, error) {
		newID, err := in.RequeueDead(ctx, queue, id)
		if errors.Is(err, redistask.ErrNotFound) {
			return false, nil
		}
		if err == nil {
			res.Requeued = append(res.Requeued, requeued{id, newID})
		}
		return true, err
	})
	if err != nil {
		return err
	}
	res.Failed = failed
	if err := c.render(res); err != nil {
		return err
	}
	return failures("requeued", res.Failed)
}

// deadAct runs act on each dead task named by args (queue, then ids or
// --all) after confirmation, and returns the ids it could not act on. act
// reports found=false for an id that is not there. An unreachable server
// stops it, saying how many were done.
func (c *cli) deadAct(ctx context.Context, args []string, verb, done string, act func(ctx context.Context, in *redistask.Inspector, queue, id string) (found bool, err error)) ([]deadError, error) {
	queue, ids := args[0], args[1:]
	in, err := c.inspector()
	if err != nil {
		return nil, err
	}
	rctx, cancel := c.op(ctx)
	targets, missing, err := c.deadTargets(rctx, in, queue, ids)
	cancel()
	if err != nil {
		return nil, err
	}
	failed := []deadError{}
	for _, id := range missing {
		failed = append(failed, deadError{id, "not found"})
	}
	if len(targets) == 0 {
		return failed, nil
	}
	if err := c.confirm(c.describe(verb, len(targets), queue)); err != nil {
		return nil, err
	}
	wctx, cancel := c.op(ctx)
	defer cancel()
	n := 0
	for _, id := range targets {
		found, err := act(wctx, in, queue, id)
		switch {
		case unreachable(err):
			return nil, fmt.Errorf("%s %d, then: %w", done, n, err)
		case err != nil:
			failed = append(failed, deadError{id, err.Error()})
		case !found:
			failed = append(failed, deadError{id, "not found"})
		default:
			n++
		}
	}
	return failed, nil
}

// failures returns the one-line error for the ids that could not be acted on.
func failures(verb string, failed []deadError) error {
	if len(failed) == 0 {
		return nil
	}
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = f.ID + ": " + f.Error
	}
	return failErr("%s not %s: %s", plural(len(failed), "dead task", "dead tasks"), verb, strings.Join(parts, "; "))
}

type deleteResult struct {
	Queue   string      `json:"queue"`
	Deleted []string    `json:"deleted"`
	Failed  []deadError `json:"failed"`
}

func (r *deleteResult) table(w io.Writer) {
	fmt.Fprintf(w, "deleted %s of queue %q\n", plural(len(r.Deleted), "dead task", "dead tasks"), r.Queue)
}

func (c *cli) deadDelete(ctx context.Context, args []string) error {
	res := &deleteResult{Queue: args[0], Deleted: []string{}}
	// One XDEL per id, so the result says which existed.
	failed, err := c.deadAct(ctx, args, "delete", "deleted", func(ctx context.Context, in *redistask.Inspector, queue, id string) (bool, error) {
		n, err := in.DeleteDead(ctx, queue, id)
		if err == nil && n > 0 {
			res.Deleted = append(res.Deleted, id)
		}
		return n > 0, err
	})
	if err != nil {
		return err
	}
	res.Failed = failed
	if err := c.render(res); err != nil {
		return err
	}
	return failures("deleted", res.Failed)
}
