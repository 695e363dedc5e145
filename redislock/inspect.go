package redislock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeState is one node's view of a lock, as read by Inspect.
type NodeState struct {
	Node   string        // address, or "node <i>" when unknown
	Holder string        // value at the lock key; "" when the lock is free there
	TTL    time.Duration // remaining TTL of the lock key; 0 when free (or when the key has no expiry: not written by this package)
	Fence  uint64        // the fencing counter: the highest token issued through this node
	Err    error         // why the node could not be read; the other fields are then zero
}

// Info describes a lock as its nodes see it at one moment. It is a
// snapshot for operators: by the time it is read the lock may have
// changed hands.
type Info struct {
	Name string
	// Held reports that one holder has the lock on a majority of the nodes.
	Held bool
	// Holder is that holder's value, "<owner>:<random>"; "" when not held.
	Holder string
	// Owner is the owner id part of Holder (WithOwner, Owner); "" when not
	// held or when the value was not written by this package (redsync).
	Owner string
	// Token is the holder's fencing token: the highest counter among the
	// nodes that hold its value. When the lock is not held, it is the
	// highest counter of any node: the next holder's token is larger.
	Token uint64
	// TTL is how long a majority still holds the lock (the quorum-th
	// longest remaining TTL among the holder's nodes); 0 when not held.
	TTL time.Duration
	// Nodes holds each node's view, in the order the nodes were given to New.
	Nodes []NodeState
}

// OwnerOf returns the owner id part of a lock value written by this package
// ("<owner>:<random>"), or "" for a value without a colon.
func OwnerOf(holder string) string {
	i := strings.LastIndexByte(holder, ':')
	if i < 0 {
		return ""
	}
	return holder[:i]
}

// Inspect reads lock name on every node (the lock key, its remaining TTL
// and the fencing counter, atomically per node) and changes nothing. Each
// node's view is in Info.Nodes, including those that could not be read.
// A node that does not answer holds Inspect until ctx ends or the client's
// read timeout passes. Errors: ErrInvalidName; ErrWrongType when a key holds another type;
// a *QuorumError (with the Info filled as far as it could be) when fewer
// than a majority of the nodes answered; an error for which
// errors.Is(err, ctx.Err()) holds when ctx ended first.
func (l *Locker) Inspect(ctx context.Context, name string) (Info, error) {
	if err := validName(name); err != nil {
		return Info{}, err
	}
	info := Info{Name: name, Nodes: make([]NodeState, len(l.nodes))}
	if len(l.nodes) == 1 {
		info.Nodes[0] = l.inspectOne(ctx, 0, name)
	} else {
		done := make(chan struct{}, len(l.nodes))
		for i := range l.nodes {
			go func() {
				info.Nodes[i] = l.inspectOne(ctx, i, name)
				done <- struct{}{}
			}()
		}
		for range l.nodes {
			<-done
		}
	}
	var errs []NodeError
	votes := map[string]int{}
	for _, n := range info.Nodes {
		switch {
		case n.Err != nil:
			if errors.Is(n.Err, ErrWrongType) {
				return info, n.Err
			}
			errs = append(errs, NodeError{n.Node, n.Err})
		case n.Holder != "":
			votes[n.Holder]++
		}
		info.Token = max(info.Token, n.Fence)
	}
	if len(l.nodes)-len(errs) < l.quorum {
		if err := ctx.Err(); err != nil {
			return info, fmt.Errorf("redislock: inspect %q: %w", name, err)
		}
		return info, &QuorumError{Op: "inspect", Name: name, Quorum: l.quorum, OK: len(l.nodes) - len(errs), Nodes: errs}
	}
	for holder, v := range votes {
		if v < l.quorum {
			continue
		}
		info.Held, info.Holder, info.Owner = true, holder, OwnerOf(holder)
		info.Token = 0
		var ttls []time.Duration
		for _, n := range info.Nodes {
			if n.Err == nil && n.Holder == holder {
				info.Token = max(info.Token, n.Fence)
				ttls = append(ttls, n.TTL)
			}
		}
		slices.Sort(ttls)
		slices.Reverse(ttls)
		info.TTL = ttls[l.quorum-1]
	}
	return info, nil
}

// inspectOne reads the lock key, its PTTL and the fencing counter of name
// on node i in one MULTI/EXEC (all three share a slot).
func (l *Locker) inspectOne(ctx context.Context, i int, name string) NodeState {
	st := NodeState{Node: l.nodes[i].addr}
	var (
		holder, fence *redis.StringCmd
		pttl          *redis.DurationCmd
	)
	_, err := l.nodes[i].client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		holder = p.Get(ctx, l.lockKey(name))
		pttl = p.PTTL(ctx, l.lockKey(name))
		fence = p.Get(ctx, l.fenceKey(name))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		if isWrongType(err) {
			err = fmt.Errorf("%w: %v", ErrWrongType, err)
		}
		st.Err = err
		return st
	}
	st.Holder = holder.Val()
	if d := pttl.Val(); st.Holder != "" && d > 0 {
		st.TTL = d
	}
	if s := fence.Val(); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			st.Err = fmt.Errorf("%w: fencing counter %q is not an integer", ErrWrongType, s)
			return NodeState{Node: st.Node, Err: st.Err}
		}
		st.Fence = v
	}
	return st
}
