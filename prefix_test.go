package sync

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redistask"
)

// Two prefixes on one Redis never see each other's locks, leaders, tasks
// or events, and every key each one creates lies under its own prefix. One
// prefix starts with the other, the case a careless key or SCAN pattern
// would confuse.
func TestPrefixesIsolated(t *testing.T) {
	ctx := t.Context()
	node := redistest.Standalone(t)
	c := node.Client()
	pa, pb := redistest.Prefix(t)+"-a", redistest.Prefix(t)+"-ab"
	a, b := New(c, WithPrefix(pa)), New(c, WithPrefix(pb))
	defer a.Close()
	defer b.Close()
	both := []*Sync{a, b}

	// Locks: the same name is held under both prefixes at once, each with
	// its own fencing counter.
	for _, s := range both {
		locker, err := s.Locker()
		if err != nil {
			t.Fatal(err)
		}
		lk, err := locker.TryAcquire(ctx, "invoice-42")
		if err != nil {
			t.Fatalf("%s: lock held under the other prefix? %v", s.Prefix(), err)
		}
		if lk.Token() != 1 {
			t.Fatalf("%s: first token %d, want 1: the fencing counters are shared", s.Prefix(), lk.Token())
		}
		defer lk.Release(context.WithoutCancel(ctx))
		store, err := s.FencedStore()
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Write(ctx, "invoice-42", lk.Token(), s.Prefix()); err != nil {
			t.Fatal(err)
		}
	}

	// Leaders: one group, two leaders.
	for i, s := range both {
		e, err := s.Elector("scheduler")
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ld, err := e.Campaign(cctx, []string{"node-a", "node-b"}[i])
		cancel()
		if err != nil {
			t.Fatalf("%s: not elected while the other prefix has a leader: %v", s.Prefix(), err)
		}
		defer ld.Resign(context.WithoutCancel(ctx))
	}
	for i, s := range both {
		e, _ := s.Elector("scheduler")
		if in, err := e.Leader(ctx); err != nil || in.ID != []string{"node-a", "node-b"}[i] {
			t.Fatalf("%s: leader %+v, %v", s.Prefix(), in, err)
		}
	}

	// Tasks: queue "q" under a is not queue "q" under b.
	pr, err := a.Producer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Push(ctx, "q", redistask.Task{Name: "t", Payload: []byte("for a")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 2)
	var stops []func()
	for _, s := range both {
		w, err := s.Worker("q")
		if err != nil {
			t.Fatal(err)
		}
		w.Handle("t", func(_ context.Context, tk *redistask.Task) error {
			got <- s.Prefix() + " ran " + string(tk.Payload)
			return nil
		})
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		stops = append(stops, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: worker Run = %v", s.Prefix(), err)
			}
		})
	}
	select {
	case g := <-got:
		if g != pa+" ran for a" {
			t.Fatalf("%s", g)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the task pushed under a was not run")
	}
	time.Sleep(200 * time.Millisecond) // room for b's worker to misbehave
	for _, stop := range stops {
		stop()
	}
	select {
	case g := <-got:
		t.Fatalf("%s", g)
	default:
	}

	// Events: topic "orders" has 2 partitions under a and 3 under b (a
	// shared topic would refuse the second count); b sees none of a's.
	var topics []*event.Topic
	for i, s := range both {
		ev, err := s.Events(event.WithBlock(50 * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		tp, err := ev.CreateTopic(ctx, "orders", 2+i)
		if err != nil {
			t.Fatalf("%s: CreateTopic: %v", s.Prefix(), err)
		}
		topics = append(topics, tp)
	}
	if _, err := topics[0].Publish(ctx, event.Event{Key: "order-1", Payload: []byte("created")}); err != nil {
		t.Fatal(err)
	}
	for i, tp := range topics {
		n := 0
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := tp.Subscribe(sctx, event.Beginning(), func(context.Context, *event.Event) error { n++; return nil })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 - i; n != want {
			t.Fatalf("%s: %d events, want %d", both[i].Prefix(), n, want)
		}
	}

	// Every key lies under one of the two prefixes, and each prefix holds
	// keys of every kind it used.
	kinds := map[string]map[string]bool{pa: {}, pb: {}}
	iter := node.AdminClient().Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		p, rest, _ := strings.Cut(k, ":")
		if kinds[p] == nil {
			t.Errorf("key %q is under neither %q nor %q", k, pa+":", pb+":")
			continue
		}
		kind, _, _ := strings.Cut(rest, ":")
		kinds[p][kind] = true
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	for p, ks := range kinds {
		for _, want := range []string{"lock", "fenced", "leader", "task", "event"} {
			if !ks[want] {
				t.Errorf("no %s key under %s (found %v)", want, p, ks)
			}
		}
	}
}
