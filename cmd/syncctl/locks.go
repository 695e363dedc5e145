package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	Error  string `json:"error,omitempty"`
}

func newLockShow(in redislock.Info, quorum int) *lockShow {
	v := &lockShow{Quorum: quorum}
	v.lockView = lockView{Name: in.Name, State: "free", Owner: in.Owner, Holder: in.Holder, Token: in.Token, TTLMs: ms(in.TTL)}
	for _, n := range in.Nodes {
		nv := nodeView{Node: n.Node, Holder: n.Holder, Fence: n.Fence, TTLMs: ms(n.TTL)}
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
	tw := newTable(w)
	row(tw, "NAME", "STATE", "OWNER", "TOKEN", "TTL")
	for _, v := range l.Locks {
		row(tw, v.Name, v.State, dash(v.Owner), v.Token, ttl(time.Duration(v.TTLMs)*time.Millisecond))
	}
	tw.Flush()
}

func (c *cli) locksList(ctx context.Context, _ []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	names, err := c.scan(ctx, "lock", c.conn.up())
	if err != nil {
		return err
	}
	l, err := c.locker()
	if err != nil {
		return err
	}
	defer l.Close()
	res := &lockList{Locks: []lockView{}}
	for _, name := range names {
		in, err := l.Inspect(ctx, name)
		if err != nil {
			return fmt.Errorf("lock %q: %w", name, err)
		}
		res.Locks = append(res.Locks, newLockShow(in, 0).lockView)
	}
	return c.render(res)
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
		row(tw, "ttl", ttl(time.Duration(v.TTLMs)*time.Millisecond))
	} else {
		row(tw, "last token", v.Token)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "NODE", "HOLDER", "FENCE", "TTL", "ERROR")
	for _, n := range v.Nodes {
		row(tw, n.Node, dash(n.Holder), n.Fence, ttl(time.Duration(n.TTLMs)*time.Millisecond), dash(n.Error))
	}
	tw.Flush()
}

func (c *cli) locksShow(ctx context.Context, args []string) error {
	ctx, cancel := c.op(ctx)
	defer cancel()
	l, err := c.locker()
	if err != nil {
		return err
	}
	defer l.Close()
	in, err := l.Inspect(ctx, args[0])
	var qe *redislock.QuorumError
	switch {
	case errors.As(err, &qe):
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
