package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // as main does: the dial errors of the unreachable cases are expected
	redistest.Main(m, nil)
}

// result is one syncctl run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// since is the fixed election time the scrubbed output shows; now is
// 90s later.
var since = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// syncctl runs the command in-process with a scrubbed, deterministic
// output; stdin is not a terminal unless tty is set.
func syncctl(t *testing.T, stdin string, tty bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, tty: tty, scrub: scrub,
		now: func() time.Time { return since.Add(90 * time.Second) }}
	code := c.main(t.Context(), args)
	r := result{out.String(), errb.String(), code}
	t.Logf("syncctl %s\n%s", strings.Join(args, " "), r)
	return r
}

// scrub replaces what changes from run to run (TTLs, ages, times, stream
// ids, random holder suffixes, server addresses) before the output is
// formatted, so column widths stay those of the real values' shapes.
func scrub(v any) {
	const ttlMs = 29_500
	holder := func(h string) string {
		if h == "" {
			return ""
		}
		return redislock.OwnerOf(h) + ":f00dfeedf00dfeedf00dfeedf00dfeed"
	}
	fakeID := func(i int) string { return fmt.Sprintf("17400000000%02d-0", i) }
	switch r := v.(type) {
	case *lockList:
		for i := range r.Locks {
			l := &r.Locks[i]
			l.Holder = holder(l.Holder)
			if l.TTLMs > 0 {
				l.TTLMs = ttlMs
			}
		}
	case *lockShow:
		r.Holder = holder(r.Holder)
		if r.TTLMs > 0 {
			r.TTLMs = ttlMs
		}
		for i := range r.Nodes {
			n := &r.Nodes[i]
			n.Node = fmt.Sprintf("redis-%d", i+1)
			n.Holder = holder(n.Holder)
			if n.TTLMs > 0 {
				n.TTLMs = ttlMs
			}
			if strings.Contains(n.Error, "refused") {
				n.Error = "connection refused"
			}
		}
	case *leaderList:
		for i := range r.Leaders {
			l := &r.Leaders[i]
			if l.Since != nil {
				l.Since = &since
			}
			if l.LeaseMs > 0 {
				l.LeaseMs = 4_200
			}
		}
	case *queueList:
		for i := range r.Queues {
			if r.Queues[i].OldestAgeMs > 0 {
				r.Queues[i].OldestAgeMs = 65_000
			}
		}
	case *queueShow:
		if r.OldestAgeMs > 0 {
			r.OldestAgeMs = 65_000
		}
		for i := range r.Consumers {
			r.Consumers[i].IdleMs = 1_500
		}
	case *deadList:
		for i := range r.Tasks {
			d := &r.Tasks[i]
			d.ID = fakeID(i)
			died, enq := since.Add(time.Minute), since
			d.Died, d.Enqueued = &died, &enq
		}
	case *topicList:
	case *topicShow:
		// Offsets become fake ones of the same order.
		var offs []event.Offset
		add := func(s string) {
			if o, err := event.ParseOffset(s); err == nil {
				offs = append(offs, o)
			}
		}
		for _, p := range r.PartitionStats {
			add(p.First)
			add(p.Last)
		}
		for _, g := range r.Groups {
			for _, p := range g.Partitions {
				add(p.Committed)
			}
		}
		slices.SortFunc(offs, func(a, b event.Offset) int {
			switch {
			case a.Less(b):
				return -1
			case b.Less(a):
				return 1
			}
			return 0
		})
		offs = slices.Compact(offs)
		fake := func(s string) string {
			o, err := event.ParseOffset(s)
			if err != nil {
				return s
			}
			i, _ := slices.BinarySearchFunc(offs, o, func(a, b event.Offset) int {
				switch {
				case a.Less(b):
					return -1
				case b.Less(a):
					return 1
				}
				return 0
			})
			return fakeID(i)
		}
		for i := range r.PartitionStats {
			p := &r.PartitionStats[i]
			p.First, p.Last = fake(p.First), fake(p.Last)
		}
		for _, g := range r.Groups {
			for i := range g.Partitions {
				p := &g.Partitions[i]
				p.Committed = fake(p.Committed)
				if p.LeaseMs > 0 {
					p.LeaseMs = 9_000
				}
			}
		}
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/syncctl -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cmd/syncctl -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// world is the state populate builds with the library.
type world struct {
	release func() // lets the blocked task finish
}

// populate builds, through the library, the state the golden files show:
// locks, leaders, queues with ready, delayed, retrying, in-flight and
// dead tasks, and a topic with two consumer groups. Lock and leader state
// goes to nodes; queues and topics to client (nodes[0]).
func populate(t *testing.T, prefix string, nodes []redis.UniversalClient) *world {
	t.Helper()
	ctx := t.Context()
	client := nodes[0]

	locker, err := redislock.New(nodes, redislock.WithPrefix(prefix), redislock.WithOwner("api-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close() })
	if _, err := locker.Acquire(ctx, "invoice-42", redislock.TTL(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	lk, err := locker.Acquire(ctx, "report", redislock.TTL(30*time.Second), redislock.Owner("cron-7"))
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}

	for _, g := range []string{"scheduler", "mailer"} {
		e, err := redisleader.New(nodes, g, redisleader.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		ld, err := e.Campaign(ctx, "node-"+g[:1])
		if err != nil {
			t.Fatal(err)
		}
		if g == "mailer" {
			if err := ld.Resign(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	p, err := redistask.NewProducer(client, redistask.WithProducerPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []redistask.Task{
		{Name: "welcome", Payload: []byte(`{"user":1}`)},
		{Name: "welcome", Payload: []byte(`{"user":2}`)},
		{Name: "digest", Delay: time.Hour},
	} {
		if _, err := p.Push(ctx, "emails", tk); err != nil {
			t.Fatal(err)
		}
	}
	w, err := redistask.NewWorker(client, "billing", redistask.WithWorkerPrefix(prefix), redistask.WithConsumer("worker-1"),
		redistask.WithPool(4), redistask.WithShutdownTimeout(time.Second),
		redistask.WithBackoff(func(int, error) time.Duration { return time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	unblock := make(chan struct{})
	w.Handle("charge", func(context.Context, *redistask.Task) error { return errors.New("card declined: insufficient funds") })
	w.Handle("flaky", func(context.Context, *redistask.Task) error { return errors.New("timeout") })
	w.Handle("settle", func(ctx context.Context, _ *redistask.Task) error {
		started <- struct{}{}
		select {
		case <-unblock:
		case <-ctx.Done():
		}
		return nil
	})
	runUntilCleanup(t, w.Run)
	for _, tk := range []redistask.Task{
		{Name: "charge", ID: "order-7", Payload: []byte(`{"order":7}`), MaxAttempts: 1},
		{Name: "flaky", MaxAttempts: 3},
		{Name: "settle"},
	} {
		if _, err := p.Push(ctx, "billing", tk); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	in, err := redistask.NewInspector(client, redistask.WithInspectorPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 10*time.Second, "billing: one dead, one retrying, one in flight", func() bool {
		st, err := in.Stats(ctx, "billing")
		return err == nil && st.Dead == 1 && st.Retry == 1 && st.Pending == 1 && st.Length == 1
	})

	ec, err := event.New(client, event.WithPrefix(prefix), event.WithBlock(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ec.CreateTopic(ctx, "orders", 2)
	if err != nil {
		t.Fatal(err)
	}
	// Key "b" goes to partition 1, "a" to partition 0; b's events are
	// older, so a reset to a's third event leaves partition 1 behind it.
	if _, err := topic.PublishBatch(ctx, []event.Event{{Key: "b"}, {Key: "b"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	rs, err := topic.PublishBatch(ctx, []event.Event{{Key: "a"}, {Key: "a"}, {Key: "a"}, {Key: "a"}, {Key: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.ResetGroup(ctx, "audit", event.FromOffset(rs[2].Offset)); err != nil {
		t.Fatal(err)
	}
	cons, err := topic.Consumer("analytics", func(context.Context, *event.Event) error { return nil }, event.WithMemberID("m1"))
	if err != nil {
		t.Fatal(err)
	}
	runUntilCleanup(t, cons.Run)
	redistest.WaitFor(t, 10*time.Second, "analytics to catch up", func() bool {
		st, err := topic.Stats(ctx)
		if err != nil || len(st.Groups) != 2 {
			return false
		}
		for _, gp := range st.Groups[0].Partitions {
			if gp.Owner != "m1" || gp.Lag != 0 {
				return false
			}
		}
		return true
	})
	var once stdsync.Once
	return &world{release: func() { once.Do(func() { close(unblock) }) }}
}

// runUntilCleanup runs f until the test ends.
func runUntilCleanup(t *testing.T, f func(context.Context) error) { redistest.Run(t, f) }

type backendSpec struct {
	name  string
	start func(t *testing.T) (url []string, nodes []redis.UniversalClient)
}

var (
	standalone = backendSpec{"standalone", func(t *testing.T) ([]string, []redis.UniversalClient) {
		n := redistest.Standalone(t)
		c := n.Client()
		return []string{"--redis", "redis://" + n.Addr + "/0"}, []redis.UniversalClient{c}
	}}
	cluster = backendSpec{"cluster", func(t *testing.T) ([]string, []redis.UniversalClient) {
		c := redistest.SharedCluster(t)
		return []string{"--redis", "redis+cluster://" + redistest.SharedClusterNodes().Addrs()[0]}, []redis.UniversalClient{c}
	}}
)
