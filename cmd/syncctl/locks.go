package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/go-sync/sync/redislock"
)

// lockView is one lock as syncctl prints it.
type lockView struct {
	Name   string `json:"name"`
	State  string `json:"state"` // held, free, split
	Owner  string `json:"owner"`
	Holder string `json:"holder"`
	Token  uint64 `json:"token"`
	TTLMs  int64  `json:"ttl_ms"`
	// NoExpiry reports a held lock whose key has no TTL (not written by
	// this package, or a PERSIST by hand): it is held until deleted.
	NoExpiry bool `json:"no_expiry,omitempty"`
	// Error is why the lock could not be read (locks list); the other
	// fields are then empty.
	Error string `json:"error,omitempty"`
}

// lockShow is one lock with the quorum view and every node's.
type lockShow struct {
	lockView
	Quorum int        `json:"quorum"`
	HeldOn int        `json:"held_on"` // nodes holding Holder
	Nodes  []nodeView `json:"nodes"`
}

type nodeView struct {
	Node   string `json:"node"`
	Holder string `json:"holder"`
	Fence  uint64 `json:"fence"`
	TTLMs  int64  `json:"ttl_ms"`
	// NoExpiry reports a holder whose key has no TTL on this node.
	NoExpiry bool   `json:"no_expiry,omitempty"`
	Error    string `json:"error,omitempty"`
}

// lockTTL formats a lock's remaining TTL: "none" for a key held without
// expiry, "-" when not held.
func lockTTL(ttlMs int64, noExpiry bool) string {
	if noExpiry {
		return "none"
	}
	return ttl(time.Duration(ttlMs) * time.Millisecond)
}

func newLockShow(in redislock.Info, quorum int) *lockShow {
	v := &lockShow{Quorum: quorum}
	v.lockView = lockView{Name: in.Name, State: "free", Owner: in.Owner, Holder: in.Holder, Token: in.Token, TTLMs: ms(in.TTL)}
	for _, n := range in.Nodes {
		nv := nodeView{Node: n.Node, Holder: n.Holder, Fence: n.Fence, TTLMs: ms(n.TTL), NoExpiry: n.Holder != "" && n.TTL <= 0}
		if n.Err != nil {
			nv.Error = n.Err.Error()
		}
		v.Nodes = append(v.Nodes, nv)
		switch {
		case in.Held && n.Holder == in.Holder:
			v.HeldOn++
		case !in.Held && n.Holder != "":
			v.State = "split"
		}
	}
	if in.Held {
		v.State = "held"
		// Info.TTL is 0 both when not held and when a majority of the
		// holder's keys have no expiry (Inspect reports those as 0).
		v.NoExpiry = in.TTL <= 0
	}
	return v
}

func (c *cli) locker() (*redislock.Locker, error) {
	l, err := redislock.New(c.conn.nodes, redislock.WithPrefix(c.cfg.prefix))
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return l, nil
}

type lockList struct{ Locks []lockView }

func (l *lockList) jsonList() any { return l.Locks }

func (l *lockList) table(w io.Writer) {
	if len(l.Locks) == 0 {
		fmt.Fprintln(w, "no locks")
		return
	}
	failed := slices.ContainsFunc(l.Locks, func(v lockView) bool { return v.Error != "" })
	tw := newTable(w)
	head := []any{"NAME", "STATE", "OWNER", "TOKEN", "TTL"}
	if failed {
		head = append(head, "ERROR")
	}
	row(tw, head...)
	for _, v := range l.Locks {
		if v.Error != "" {
			row(tw, v.Name, v.State, "-", "-", "-", v.Error)
			continue
		}
		cells := []any{v.Name, v.State, dash(v.Owner), v.Token, lockTTL(v.TTLMs, v.NoExpiry)}
		if failed {
			cells = append(cells, "-")
		}
		row(tw, cells...)
	}
	tw.Flush()
}

func (c *cli) locksList(ctx context.Context, _ []string) error {
	names, err := c.scanNodes(ctx, "lock")
	if err != nil {
		return err
	}
	l, err := c.locker()
	if err != nil {
		return err
	}
	defer l.Close()
	res := &lockList{Locks: []lockView{}}
	var failed []string
	for _, name := range names {
		in, err := c.inspect(ctx, l, name)
		switch {
		case unreachable(err):
			return fmt.Errorf("lock %q: %w", name, err)
		case err != nil:
			// A foreign or corrupt key: this row fails, the others print.
			res.Locks = append(res.Locks, lockView{Name: name, State: "error", Error: err.Error()})
			failed = append(failed, name)
		default:
			res.Locks = append(res.Locks, newLockShow(in, 0).lockView)
		}
	}
	if err := c.render(res); err != nil {
		return err
	}
	return rowsFailed("locks", failed, len(names))
}

func (v *lockShow) table(w io.Writer) {
	tw := newTable(w)
	row(tw, "lock", v.Name)
	state := v.State
	switch v.State {
	case "held":
		state = fmt.Sprintf("held on %d of %d nodes (quorum %d)", v.HeldOn, len(v.Nodes), v.Quorum)
	case "split":
		state = fmt.Sprintf("split: no holder on a majority (quorum %d of %d)", v.Quorum, len(v.Nodes))
	}
	row(tw, "state", state)
	if v.State == "held" {
		row(tw, "owner", dash(v.Owner))
		row(tw, "holder", v.Holder)
		row(tw, "token", v.Token)
		row(tw, "ttl", lockTTL(v.TTLMs, v.NoExpiry))
	} else {
		row(tw, "last token", v.Token)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "NODE", "HOLDER", "FENCE", "TTL", "ERROR")
	for _, n := range v.Nodes {
		row(tw, n.Node, dash(n.Holder), n.Fence, lockTTL(n.TTLMs, n.NoExpiry), dash(n.Error))
	}
	tw.Flush()
}

func (c *cli) locksShow(ctx context.Context, args []string) error {
	l, err := c.locker()
	if err != nil {
		return err
	}
	defer l.Close()
	in, err := c.inspect(ctx, l, args[0])
	var qe *redislock.QuorumError
	switch {
	case errors.As(err, &qe), unreachable(err) && len(in.Nodes) > 0:
		// Show what could be read, then fail with exit 3.
		if rerr := c.render(newLockShow(in, l.Quorum())); rerr != nil {
			return rerr
		}
		return err
	case err != nil:
		return err
	}
	if !in.Held && in.Token == 0 {
		split := false
		for _, n := range in.Nodes {
			split = split || n.Holder != ""
		}
		if !split {
			return failErr("lock %q not found (never taken under prefix %q)", args[0], c.cfg.prefix)
		}
	}
	return c.render(newLockShow(in, l.Quorum()))
}
