package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
)

// leaderView is one election group as syncctl prints it.
type leaderView struct {
	Group  string     `json:"group"`
	Leader string     `json:"leader"` // "" when none leads now
	Term   uint64     `json:"term"`   // the leader's term; 0 when none leads
	Since  *time.Time `json:"since"`  // when the leader was elected (its own clock)
	// LeaseMs is the remaining lease of the leader (0: none).
	LeaseMs int64 `json:"lease_ms"`
	// LastTerm is the highest term ever granted in the group.
	LastTerm uint64 `json:"last_term"`
}

type leaderList struct {
	Leaders []leaderView
	now     time.Time
}

func (l *leaderList) jsonList() any { return l.Leaders }

func (l *leaderList) table(w io.Writer) {
	if len(l.Leaders) == 0 {
		fmt.Fprintln(w, "no election groups")
		return
	}
	tw := newTable(w)
	row(tw, "GROUP", "LEADER", "TERM", "SINCE", "LEASE")
	for _, v := range l.Leaders {
		if v.Leader == "" {
			row(tw, v.Group, "-", "-", "-", "-")
			continue
		}
		since := "-"
		if v.Since != nil {
			since = fmt.Sprintf("%s (%s ago)", stamp(*v.Since), dur(l.now.Sub(*v.Since)))
		}
		row(tw, v.Group, v.Leader, v.Term, since, ttl(time.Duration(v.LeaseMs)*time.Millisecond))
	}
	tw.Flush()
}

func (c *cli) leaders(ctx context.Context, args []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	groups := args
	if len(groups) == 0 {
		var err error
		if groups, err = c.scan(ctx, "leader", c.conn.up()); err != nil {
			return err
		}
	}
	leases, err := redislock.New(c.conn.nodes, redislock.WithPrefix(c.cfg.prefix), redislock.WithKind("leader"))
	if err != nil {
		return usageErr("%v", err)
	}
	defer leases.Close()
	res := &leaderList{Leaders: []leaderView{}, now: c.now()}
	for _, g := range groups {
		v, err := c.leader(ctx, leases, g)
		if err != nil {
			return err
		}
		if len(args) > 0 && v.Leader == "" && v.LastTerm == 0 {
			return failErr("election group %q not found (never had a leader under prefix %q)", g, c.cfg.prefix)
		}
		res.Leaders = append(res.Leaders, v)
	}
	return c.render(res)
}

func (c *cli) leader(ctx context.Context, leases *redislock.Locker, group string) (leaderView, error) {
	v := leaderView{Group: group}
	lease, err := leases.Inspect(ctx, group)
	if err != nil {
		return v, fmt.Errorf("group %q: %w", group, err)
	}
	v.LastTerm = lease.Token
	e, err := redisleader.New(c.conn.nodes, group, redisleader.WithPrefix(c.cfg.prefix))
	if err != nil {
		return v, usageErr("%v", err)
	}
	defer e.Close()
	in, err := e.Leader(ctx)
	switch {
	case errors.Is(err, redisleader.ErrNoLeader):
		return v, nil
	case err != nil:
		return v, fmt.Errorf("group %q: %w", group, err)
	}
	v.Leader, v.Term, v.Since = in.ID, in.Term, &in.Since
	if lease.Held {
		v.LeaseMs = ms(lease.TTL)
	}
	return v, nil
}
