package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-sync/sync/event"
)

// topicView is one event topic as syncctl prints it.
type topicView struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Events     int64  `json:"events"` // retained, all partitions
	// Per partition (topics TOPIC only).
	PartitionStats []partitionView `json:"by_partition,omitempty"`
	Groups         []groupView     `json:"groups"`
	// Error is why the topic could not be read (topics list); the other
	// fields are then empty.
	Error string `json:"error,omitempty"`
}

type partitionView struct {
	Partition int    `json:"partition"`
	Events    int64  `json:"events"`
	First     string `json:"first"` // offset of the oldest retained event; "" when empty
	Last      string `json:"last"`  // offset of the newest event; "" when empty
}

type groupView struct {
	Group     string   `json:"group"`
	Members   []string `json:"members"`
	Lag       int64    `json:"lag"` // all partitions
	LagCapped bool     `json:"lag_capped,omitempty"`
	// Per partition (topics TOPIC only).
	Partitions []groupPartitionView `json:"partitions,omitempty"`
}

type groupPartitionView struct {
	Partition int    `json:"partition"`
	Owner     string `json:"owner"` // member holding the lease; "" when none
	Token     uint64 `json:"token"` // highest owner fencing token
	Committed string `json:"committed"`
	Lag       int64  `json:"lag"`
	LagCapped bool   `json:"lag_capped,omitempty"` // counting stopped at the limit: the lag is at least Lag
	LeaseMs   int64  `json:"lease_ms"`
}

func offset(o event.Offset) string {
	if o == (event.Offset{}) {
		return ""
	}
	return o.String()
}

func newTopicView(st event.TopicStats, detail bool) topicView {
	v := topicView{Topic: st.Topic, Partitions: len(st.Partitions), Groups: []groupView{}}
	for _, p := range st.Partitions {
		v.Events += p.Length
		if detail {
			v.PartitionStats = append(v.PartitionStats, partitionView{p.Partition, p.Length, offset(p.First), offset(p.Last)})
		}
	}
	for _, g := range st.Groups {
		gv := groupView{Group: g.Group, Members: g.Members}
		if gv.Members == nil {
			gv.Members = []string{}
		}
		for _, gp := range g.Partitions {
			gv.Lag += gp.Lag
			gv.LagCapped = gv.LagCapped || gp.LagCapped
			if detail {
				committed := ""
				if gp.HasCommitted {
					committed = gp.Committed.String()
				}
				gv.Partitions = append(gv.Partitions, groupPartitionView{gp.Partition, gp.Owner, gp.Token, committed, gp.Lag, gp.LagCapped, ms(gp.LeaseTTL)})
			}
		}
		v.Groups = append(v.Groups, gv)
	}
	return v
}

func lag(n int64, capped bool) string {
	if capped {
		return fmt.Sprintf(">=%d", n)
	}
	return fmt.Sprint(n)
}

type topicList struct{ Topics []topicView }

func (l *topicList) jsonList() any { return l.Topics }

func (l *topicList) table(w io.Writer) {
	if len(l.Topics) == 0 {
		fmt.Fprintln(w, "no event topics")
		return
	}
	failed := slices.ContainsFunc(l.Topics, func(t topicView) bool { return t.Error != "" })
	tw := newTable(w)
	head := []any{"TOPIC", "PARTITIONS", "EVENTS", "GROUPS (LAG)"}
	if failed {
		head = append(head, "ERROR")
	}
	row(tw, head...)
	for _, t := range l.Topics {
		if t.Error != "" {
			row(tw, t.Topic, "-", "-", "-", t.Error)
			continue
		}
		var gs []string
		for _, g := range t.Groups {
			gs = append(gs, fmt.Sprintf("%s (%s)", g.Group, lag(g.Lag, g.LagCapped)))
		}
		cells := []any{t.Topic, t.Partitions, t.Events, dash(strings.Join(gs, ", "))}
		if failed {
			cells = append(cells, "-")
		}
		row(tw, cells...)
	}
	tw.Flush()
}

type topicShow struct{ topicView }

func (s *topicShow) table(w io.Writer) {
	t := s.topicView
	tw := newTable(w)
	row(tw, "topic", t.Topic)
	row(tw, "partitions", t.Partitions)
	row(tw, "events", t.Events)
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "PARTITION", "EVENTS", "FIRST", "LAST")
	for _, p := range t.PartitionStats {
		row(tw, p.Partition, p.Events, dash(p.First), dash(p.Last))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(t.Groups) == 0 {
		fmt.Fprintln(w, "no consumer groups")
		return
	}
	tw = newTable(w)
	row(tw, "GROUP", "MEMBERS", "LAG")
	for _, g := range t.Groups {
		row(tw, g.Group, dash(strings.Join(g.Members, ", ")), lag(g.Lag, g.LagCapped))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "GROUP", "PARTITION", "OWNER", "TOKEN", "COMMITTED", "LAG", "LEASE")
	for _, g := range t.Groups {
		for _, p := range g.Partitions {
			row(tw, g.Group, p.Partition, dash(p.Owner), p.Token, dash(p.Committed), lag(p.Lag, p.LagCapped), ttl(time.Duration(p.LeaseMs)*time.Millisecond))
		}
	}
	tw.Flush()
}

func (c *cli) topics(ctx context.Context, args []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	p, err := c.conn.primary()
	if err != nil {
		return err
	}
	ec, err := event.New(p, event.WithPrefix(c.cfg.prefix))
	if err != nil {
		return usageErr("%v", err)
	}
	if len(args) == 1 {
		t, err := ec.OpenTopic(ctx, args[0])
		switch {
		case errors.Is(err, event.ErrTopicNotFound), errors.Is(err, event.ErrInvalidTopic):
			return failErr("topic %q not found under prefix %q", args[0], c.cfg.prefix)
		case err != nil:
			return err
		}
		st, err := t.Stats(ctx)
		if err != nil {
			return fmt.Errorf("topic %q: %w", args[0], err)
		}
		return c.render(&topicShow{newTopicView(st, true)})
	}
	names, err := c.scan(ctx, "event", []redisClient{p})
	if err != nil {
		return err
	}
	res := &topicList{Topics: []topicView{}}
	var failed []string
	fail := func(name string, err error) {
		// A foreign or corrupt key: this row fails, the others print.
		res.Topics = append(res.Topics, topicView{Topic: name, Groups: []groupView{}, Error: err.Error()})
		failed = append(failed, name)
	}
	for _, name := range names {
		if strings.Contains(name, "/") {
			continue // a partition, or a partition lease
		}
		t, err := ec.OpenTopic(ctx, name)
		switch {
		case errors.Is(err, event.ErrTopicNotFound), errors.Is(err, event.ErrInvalidTopic):
			continue // keys left without the topic's metadata
		case unreachable(err):
			return fmt.Errorf("topic %q: %w", name, err)
		case err != nil:
			fail(name, err)
			continue
		}
		st, err := t.Stats(ctx)
		switch {
		case unreachable(err):
			return fmt.Errorf("topic %q: %w", name, err)
		case err != nil:
			fail(name, err)
			continue
		}
		res.Topics = append(res.Topics, newTopicView(st, false))
	}
	if err := c.render(res); err != nil {
		return err
	}
	return rowsFailed("topics", failed, len(res.Topics))
}
