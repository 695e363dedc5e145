package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
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
	// Error is why the group could not be read; the other fields are
	// then empty.
	Error string `json:"error,omitempty"`
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
	failed := slices.ContainsFunc(l.Leaders, func(v leaderView) bool { return v.Error != "" })
	tw := newTable(w)
	if failed {
		row(tw, "GROUP", "LEADER", "TERM", "SINCE", "LEASE", "ERROR")
	} else {
		row(tw, "GROUP", "LEADER", "TERM", "SINCE", "LEASE")
	}
	for _, v := range l.Leaders {
		switch {
		case v.Error != "":
			row(tw, v.Group, "error", "-", "-", "-", v.Error)
			continue
		case v.Leader == "" && failed:
			row(tw, v.Group, "-", "-", "-", "-", "-")
			continue
		case v.Leader == "":
			row(tw, v.Group, "-", "-", "-", "-")
			continue
		}
		since := "-"
		if v.Since != nil {
			since = fmt.Sprintf("%s (%s ago)", stamp(*v.Since), dur(l.now.Sub(*v.Since)))
		}
		cells := []any{v.Group, v.Leader, v.Term, since, ttl(time.Duration(v.LeaseMs) * time.Millisecond)}
		if failed {
			cells = append(cells, "-")
		}
		row(tw, cells...)
	}
	tw.Flush()
}

func (c *cli) leaders(ctx context.Context, args []string) error {
	groups := args
	if len(groups) == 0 {
		var err error
		if groups, err = c.scanNodes(ctx, "leader"); err != nil {
			return err
		}
	}
	leases, err := redislock.New(c.conn.nodes, redislock.WithPrefix(c.cfg.prefix), redislock.WithKind("leader"))
	if err != nil {
		return usageErr("%v", err)
	}
	defer leases.Close()
	res := &leaderList{Leaders: []leaderView{}, now: c.now()}
	var failed []string
	for _, g := range groups {
		v, err := c.leader(ctx, leases, g)
		var ee *exitError
		switch {
		case errors.As(err, &ee), unreachable(err):
			return err
		case err != nil:
			// A foreign or corrupt key: this row fails, the others print.
			res.Leaders = append(res.Leaders, leaderView{Group: g, Error: err.Error()})
			failed = append(failed, g)
			continue
		}
		if len(args) > 0 && v.Leader == "" && v.LastTerm == 0 {
			return failErr("election group %q not found (never had a leader under prefix %q)", g, c.cfg.prefix)
		}
		res.Leaders = append(res.Leaders, v)
	}
	if err := c.render(res); err != nil {
		return err
	}
	return rowsFailed("election groups", failed, len(groups))
}

func (c *cli) leader(ctx context.Context, leases *redislock.Locker, group string) (leaderView, error) {
	v := leaderView{Group: group}
	lease, err := c.inspect(ctx, leases, group)
	if err != nil {
		return v, fmt.Errorf("group %q: %w", group, err)
	}
	v.LastTerm = lease.Token
	e, err := redisleader.New(c.conn.nodes, group, redisleader.WithPrefix(c.cfg.prefix))
	if err != nil {
		return v, usageErr("%v", err)
	}
	defer e.Close()
	lctx, cancel := c.op(ctx)
	defer cancel()
	in, err := e.Leader(lctx)
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
