package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redistask"
)

// queueView is one task queue as syncctl prints it.
type queueView struct {
	Queue       string           `json:"queue"`
	Length      int64            `json:"length"`
	Pending     int64            `json:"pending"`
	Lag         int64            `json:"lag"`
	Delayed     int64            `json:"delayed"`
	Retry       int64            `json:"retry"`
	Dead        int64            `json:"dead"`
	OldestAgeMs int64            `json:"oldest_age_ms"`
	InFlight    map[string]int64 `json:"in_flight"` // pending tasks per consumer
	// Consumers lists the group's consumers (queues QUEUE only).
	Consumers []consumerView `json:"consumers,omitempty"`
	// Error is why the queue could not be read (queues list); the other
	// fields are then zero.
	Error string `json:"error,omitempty"`
}

type consumerView struct {
	Name     string `json:"name"`
	InFlight int64  `json:"in_flight"`
	IdleMs   int64  `json:"idle_ms"`
}

func newQueueView(st redistask.Stats) queueView {
	return queueView{Queue: st.Queue, Length: st.Length, Pending: st.Pending, Lag: st.Lag, Delayed: st.Delayed,
		Retry: st.Retry, Dead: st.Dead, OldestAgeMs: ms(st.OldestAge), InFlight: st.InFlight}
}

func (c *cli) inspector() (*redistask.Inspector, error) {
	p, err := c.conn.primary()
	if err != nil {
		return nil, err
	}
	in, err := redistask.NewInspector(p, redistask.WithInspectorPrefix(c.cfg.prefix))
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return in, nil
}

// queueExists reports whether any of the queue's main keys exists.
func (c *cli) queueExists(ctx context.Context, queue string) (bool, error) {
	p, err := c.conn.primary()
	if err != nil {
		return false, err
	}
	ks := keys.Must(c.cfg.prefix)
	n, err := p.Exists(ctx, ks.Key("task", queue, "stream"), ks.Key("task", queue, "delayed"),
		ks.Key("task", queue, "retry"), ks.Key("task", queue, "dead")).Result()
	return n > 0, err
}

type queueList struct{ Queues []queueView }

func (l *queueList) jsonList() any { return l.Queues }

func (l *queueList) table(w io.Writer) {
	if len(l.Queues) == 0 {
		fmt.Fprintln(w, "no task queues")
		return
	}
	failed := slices.ContainsFunc(l.Queues, func(q queueView) bool { return q.Error != "" })
	tw := newTable(w)
	head := []any{"QUEUE", "LENGTH", "PENDING", "LAG", "DELAYED", "RETRY", "DEAD", "OLDEST"}
	if failed {
		head = append(head, "ERROR")
	}
	row(tw, head...)
	for _, q := range l.Queues {
		if q.Error != "" {
			row(tw, q.Queue, "-", "-", "-", "-", "-", "-", "-", q.Error)
			continue
		}
		oldest := "-"
		if q.Length > 0 {
			oldest = dur(time.Duration(q.OldestAgeMs) * time.Millisecond)
		}
		cells := []any{q.Queue, q.Length, q.Pending, q.Lag, q.Delayed, q.Retry, q.Dead, oldest}
		if failed {
			cells = append(cells, "-")
		}
		row(tw, cells...)
	}
	tw.Flush()
}

type queueShow struct{ queueView }

func (s *queueShow) table(w io.Writer) {
	q := s.queueView
	tw := newTable(w)
	row(tw, "queue", q.Queue)
	row(tw, "length", fmt.Sprintf("%d (ready and in flight)", q.Length))
	row(tw, "pending", fmt.Sprintf("%d (in flight)", q.Pending))
	row(tw, "lag", fmt.Sprintf("%d (ready, not yet delivered)", q.Lag))
	row(tw, "delayed", q.Delayed)
	row(tw, "retry", q.Retry)
	row(tw, "dead", q.Dead)
	oldest := "-"
	if q.Length > 0 {
		oldest = dur(time.Duration(q.OldestAgeMs) * time.Millisecond)
	}
	row(tw, "oldest", oldest)
	tw.Flush()
	fmt.Fprintln(w)
	if len(q.Consumers) == 0 {
		fmt.Fprintln(w, "no consumers")
		return
	}
	tw = newTable(w)
	row(tw, "CONSUMER", "IN-FLIGHT", "IDLE")
	for _, cv := range q.Consumers {
		row(tw, cv.Name, cv.InFlight, dur(time.Duration(cv.IdleMs)*time.Millisecond))
	}
	tw.Flush()
}

func (c *cli) queues(ctx context.Context, args []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	in, err := c.inspector()
	if err != nil {
		return err
	}
	if len(args) == 1 {
		return c.queueShow(ctx, in, args[0])
	}
	p, _ := c.conn.primary()
	names, err := c.scan(ctx, "task", []redisClient{p})
	if err != nil {
		return err
	}
	res := &queueList{Queues: []queueView{}}
	var failed []string
	for _, q := range names {
		st, err := in.Stats(ctx, q)
		switch {
		case unreachable(err):
			return fmt.Errorf("queue %q: %w", q, err)
		case err != nil:
			// A foreign or corrupt key: this row fails, the others print.
			res.Queues = append(res.Queues, queueView{Queue: q, InFlight: map[string]int64{}, Error: err.Error()})
			failed = append(failed, q)
		default:
			res.Queues = append(res.Queues, newQueueView(st))
		}
	}
	if err := c.render(res); err != nil {
		return err
	}
	return rowsFailed("queues", failed, len(names))
}

func (c *cli) queueShow(ctx context.Context, in *redistask.Inspector, queue string) error {
	ok, err := c.queueExists(ctx, queue)
	if err != nil {
		return err
	}
	if !ok {
		return failErr("queue %q not found under prefix %q", queue, c.cfg.prefix)
	}
	st, err := in.Stats(ctx, queue)
	if err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	cs, err := in.Consumers(ctx, queue)
	if err != nil {
		return fmt.Errorf("queue %q: %w", queue, err)
	}
	v := newQueueView(st)
	v.Consumers = []consumerView{}
	for _, cn := range cs {
		v.Consumers = append(v.Consumers, consumerView{Name: cn.Name, InFlight: cn.Pending, IdleMs: ms(cn.Idle)})
	}
	slices.SortFunc(v.Consumers, func(a, b consumerView) int { return strings.Compare(a.Name, b.Name) })
	return c.render(&queueShow{v})
}
