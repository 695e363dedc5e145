package redislock

import (
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestInspect(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			in, err := l.Inspect(ctx, "never")
			if err != nil || in.Held || in.Token != 0 || len(in.Nodes) != len(nodes) {
				t.Fatalf("Inspect of an unused name = %+v, %v", in, err)
			}
			lk, err := l.Acquire(ctx, "orders", TTL(5*time.Second), Owner("op-1"))
			if err != nil {
				t.Fatal(err)
			}
			in, err = l.Inspect(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			if !in.Held || in.Holder != lk.Holder() || in.Owner != "op-1" || in.Token != lk.Token() {
				t.Fatalf("Inspect of a held lock = %+v; holder %q token %d", in, lk.Holder(), lk.Token())
			}
			if in.TTL <= 4*time.Second || in.TTL > 5*time.Second {
				t.Fatalf("TTL = %v, want about 5s", in.TTL)
			}
			// Acquire returns at a majority: a node may answer later, or
			// hold a waiter's partial attempt; the majority holds it.
			holding := 0
			for _, n := range in.Nodes {
				if n.Err != nil {
					t.Fatalf("node state %+v", n)
				}
				if n.Holder == lk.Holder() {
					holding++
					if n.TTL <= 0 || n.Fence == 0 {
						t.Fatalf("node state %+v", n)
					}
				}
			}
			if holding < l.Quorum() {
				t.Fatalf("%d nodes hold the lock, want a majority: %+v", holding, in.Nodes)
			}
			if err := lk.Release(ctx); err != nil {
				t.Fatal(err)
			}
			in, err = l.Inspect(ctx, "orders")
			if err != nil || in.Held || in.Holder != "" || in.TTL != 0 || in.Token != lk.Token() {
				t.Fatalf("Inspect after Release = %+v, %v; want free with last token %d", in, err, lk.Token())
			}
			if _, err := l.Inspect(ctx, ""); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("Inspect(\"\") = %v, want ErrInvalidName", err)
			}
		})
	}
}

func TestInspectQuorumView(t *testing.T) {
	ns := redistest.Independent(t, 3)
	clients := redistest.Clients(ns)
	ctx := t.Context()
	l := newLocker(t, clients)
	// Three holders, one per node: nobody holds a majority.
	for i, c := range clients {
		if err := c.Set(ctx, l.Key("split"), []string{"a:1", "b:2", "c:3"}[i], time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	in, err := l.Inspect(ctx, "split")
	if err != nil || in.Held || in.Nodes[1].Holder != "b:2" || in.Nodes[1].TTL <= 0 {
		t.Fatalf("split lock: %+v, %v", in, err)
	}

	lk, err := l.Acquire(ctx, "jobs", TTL(10*time.Second), Owner("op-2"))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(ctx)
	// Acquire returns once a majority said yes: wait for the third node's
	// grant, so that the view below has the lock on nodes 0 and 1.
	redistest.WaitFor(t, 5*time.Second, "the lock on every node", func() bool {
		in, err := l.Inspect(ctx, "jobs")
		if err != nil {
			return false
		}
		for _, n := range in.Nodes {
			if n.Holder != lk.Holder() {
				return false
			}
		}
		return true
	})
	ns[2].Kill()
	in, err = l.Inspect(ctx, "jobs")
	if err != nil || !in.Held || in.Owner != "op-2" || in.Token != lk.Token() || in.Nodes[2].Err == nil || in.Nodes[0].Err != nil {
		t.Fatalf("with one node down: %+v, %v", in, err)
	}
	ns[1].Kill()
	in, err = l.Inspect(ctx, "jobs")
	var qe *QuorumError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuorum) || in.Held || in.Nodes[0].Holder != lk.Holder() {
		t.Fatalf("with two nodes down: %+v, %v; want a QuorumError and node 0's view", in, err)
	}
}

func TestInspectWrongType(t *testing.T) {
	c := redistest.Standalone(t).Client()
	l := newLocker(t, []redis.UniversalClient{c})
	if err := c.HSet(t.Context(), l.Key("h"), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Inspect(t.Context(), "h"); !errors.Is(err, ErrWrongType) {
		t.Fatalf("Inspect of a hash = %v, want ErrWrongType", err)
	}
	_, fence, _ := l.Keys("f")
	c.Set(t.Context(), fence, "x", 0)
	if _, err := l.Inspect(t.Context(), "f"); !errors.Is(err, ErrWrongType) {
		t.Fatalf("Inspect with a bad counter = %v, want ErrWrongType", err)
	}
}

func TestOwnerOf(t *testing.T) {
	for in, want := range map[string]string{"host:42:abc": "host:42", "op:x": "op", "redsyncvalue": "", "": ""} {
		if got := OwnerOf(in); got != want {
			t.Errorf("OwnerOf(%q) = %q, want %q", in, got, want)
		}
	}
}
