package event

import (
	"context"
	"errors"
	"fmt"
	"github.com/go-sync/sync/internal/redistest"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder records deliveries in the order the handlers ran.
type recorder struct {
	mu   stdsync.Mutex
	dels []delivery
	pubs []published
}

func (r *recorder) handler(member string) Handler {
	return func(_ context.Context, ev *Event) error {
		key, seq, err := parsePayload(ev.Payload)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.dels = append(r.dels, delivery{member, key, seq, ev.Offset})
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) publish(t *testing.T, tp *Topic, evs []Event) {
	t.Helper()
	rs, err := tp.PublishBatch(context.Background(), evs)
	if err != nil {
		t.Error(err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ev := range evs {
		key, seq, _ := parsePayload(ev.Payload)
		r.pubs = append(r.pubs, published{key, seq, rs[i].Offset})
	}
}

// complete reports whether every published event was delivered.
func (r *recorder) complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	type ks struct {
		key string
		seq int
	}
	seen := map[ks]bool{}
	for _, d := range r.dels {
		seen[ks{d.Key, d.Seq}] = true
	}
	for _, p := range r.pubs {
		if !seen[ks{p.Key, p.Seq}] {
			return false
		}
	}
	return true
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if bad := check(r.pubs, r.dels); len(bad) > 0 {
		t.Fatalf("history of %d publishes, %d deliveries is bad:\n%v", len(r.pubs), len(r.dels), bad)
	}
	t.Logf("history ok: %d published, %d delivered", len(r.pubs), len(r.dels))
}

// owners tracks which member owns which partition, through Hooks.
type owners struct {
	mu stdsync.Mutex
	by map[int]string
}

func (o *owners) hooks(member string) Hooks {
	return Hooks{
		OnAssign: func(p int, _ uint64, _ Offset) { o.mu.Lock(); o.by[p] = member; o.mu.Unlock() },
		OnRevoke: func(p int, _ error) {
			o.mu.Lock()
			if o.by[p] == member {
				delete(o.by, p)
			}
			o.mu.Unlock()
		},
	}
}

func (o *owners) count(member string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, m := range o.by {
		if m == member {
			n++
		}
	}
	return n
}

func TestGroupConsumesInOrder(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb), "orders", 4)
			var rec recorder
			seq := map[string]int{}
			rec.publish(t, tp, keyed(100, 10, seq))
			own := &owners{by: map[int]string{}}
			for _, m := range []string{"a", "b"} {
				c, err := tp.Consumer("billing", rec.handler(m), WithMemberID(m), WithLease(300*time.Millisecond), WithBatch(7), WithHooks(own.hooks(m)))
				if err != nil {
					t.Fatal(err)
				}
				run(t, c)
			}
			rec.publish(t, tp, keyed(100, 10, seq))
			waitFor(t, 5*time.Second, "all delivered", rec.complete)
			waitFor(t, 5*time.Second, "two members with two partitions each", func() bool { return own.count("a") == 2 && own.count("b") == 2 })
			rec.check(t)
			// The committed offsets reach the last event of every partition.
			waitFor(t, 2*time.Second, "commits", func() bool {
				got, err := tp.Committed(t.Context(), "billing")
				if err != nil {
					t.Fatal(err)
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				last := map[int]Offset{}
				for _, p := range rec.pubs {
					pp := tp.PartitionFor(p.Key)
					if last[pp].Less(p.Off) {
						last[pp] = p.Off
					}
				}
				for p, o := range last {
					if got[p] != o {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestCrashAndJoin runs a group through a crash of one member (its leases
// expire) and a join, while events are published, and checks the history.
func TestCrashAndJoin(t *testing.T) {
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb), "orders", 6)
			var rec recorder
			own := &owners{by: map[int]string{}}
			const lease = 400 * time.Millisecond
			start := func(m string, leave bool) func() {
				c, err := tp.Consumer("g", rec.handler(m), WithMemberID(m), WithLease(lease), WithBatch(5),
					WithHooks(own.hooks(m)), WithLeaveOnStop(leave))
				if err != nil {
					t.Fatal(err)
				}
				return run(t, c)
			}
			stopA := start("a", false)
			start("b", true)
			waitFor(t, 5*time.Second, "a and b share", func() bool { return own.count("a") == 3 && own.count("b") == 3 })
			pubCtx, stopPub := context.WithCancel(t.Context())
			pubDone := make(chan struct{})
			go func() {
				defer close(pubDone)
				seq := map[string]int{}
				for pubCtx.Err() == nil {
					rec.publish(t, tp, keyed(10, 12, seq))
					time.Sleep(2 * time.Millisecond)
				}
			}()
			time.Sleep(200 * time.Millisecond)
			stopA() // crash: no release, no commit of in-flight work beyond the last batch
			t0 := time.Now()
			waitFor(t, 5*time.Second, "b takes over", func() bool { return own.count("b") == 6 })
			t.Logf("b owns all 6 partitions %v after a's crash (lease %v)", time.Since(t0).Round(time.Millisecond), lease)
			start("c", true)
			waitFor(t, 5*time.Second, "c joins", func() bool { return own.count("c") == 3 && own.count("b") == 3 })
			time.Sleep(100 * time.Millisecond)
			stopPub()
			<-pubDone
			waitFor(t, 5*time.Second, "all delivered", rec.complete)
			rec.check(t)
			if t.Failed() {
				return
			}
			if b.name == "cluster" {
				masters := map[string]bool{}
				for p := range tp.Partitions() {
					n, err := redistest.SharedClusterNodes().NodeFor(t.Context(), tp.StreamKey(p))
					if err != nil {
						t.Fatal(err)
					}
					masters[n.Addr] = true
				}
				if len(masters) != 3 {
					t.Fatalf("partitions on %d masters, want 3", len(masters))
				}
			}
		})
	}
}

// TestStaleOwnerCannotCommit pauses an owner (renewals stopped, handler
// stuck) past its lease; a new owner takes the partition and commits; the
// old owner's commit is then rejected by Redis.
func TestStaleOwnerCannotCommit(t *testing.T) {
	rdb := oneBackend.client(t)
	ctx := t.Context()
	tp := newTopic(t, newClient(t, rdb), "pay", 1)
	const lease = 300 * time.Millisecond
	stuck, unstick := make(chan struct{}), make(chan struct{})
	var once stdsync.Once
	type commitRec struct {
		member string
		token  uint64
		off    Offset
		err    error
	}
	var mu stdsync.Mutex
	var commits []commitRec
	hooks := func(m string) Hooks {
		return Hooks{OnCommit: func(_ int, token uint64, off Offset, err error) {
			mu.Lock()
			commits = append(commits, commitRec{m, token, off, err})
			mu.Unlock()
		}}
	}
	var aToken atomic.Uint64
	a, _ := tp.Consumer("g", func(ctx context.Context, ev *Event) error {
		if string(ev.Payload) == "block" {
			once.Do(func() { close(stuck) })
			<-unstick // ignores ctx, like a paused process
		}
		return nil
	}, WithMemberID("a"), WithLease(lease), WithHooks(Hooks{
		OnAssign: func(_ int, token uint64, _ Offset) { aToken.Store(token) },
		OnCommit: hooks("a").OnCommit,
	}))
	stopA := run(t, a)
	waitFor(t, 3*time.Second, "a owns the partition", func() bool { return aToken.Load() != 0 })
	if _, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	a.noRenew.Store(true)
	blocked, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte("block")})
	if err != nil {
		t.Fatal(err)
	}
	<-stuck
	var bToken atomic.Uint64
	b, _ := tp.Consumer("g", func(context.Context, *Event) error { return nil }, WithMemberID("b"), WithLease(lease),
		WithHooks(Hooks{OnAssign: func(_ int, token uint64, _ Offset) { bToken.Store(token) }, OnCommit: hooks("b").OnCommit}))
	run(t, b)
	waitFor(t, 5*time.Second, "b owns the partition", func() bool { return bToken.Load() > aToken.Load() })
	after, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "b commits", func() bool {
		got, _ := tp.Committed(ctx, "g")
		return got[0] == after.Offset
	})
	close(unstick) // a wakes up and tries to commit "block"
	stopA()
	mu.Lock()
	defer mu.Unlock()
	sawStale := false
	for _, c := range commits {
		if c.member == "a" && c.off == blocked.Offset {
			if !errors.Is(c.err, ErrStaleToken) {
				t.Fatalf("stale owner's commit of %v: err = %v", c.off, c.err)
			}
			sawStale = true
		}
	}
	if !sawStale {
		t.Fatalf("a never tried to commit the blocked event: %+v", commits)
	}
	if got, _ := tp.Committed(ctx, "g"); got[0] != after.Offset {
		t.Fatalf("committed %v, want b's %v", got[0], after.Offset)
	}
	// The direct check: a commit with a's token is refused.
	if err := tp.commit(ctx, "g", 0, aToken.Load(), Offset{Ms: 1 << 50}); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("commit with an old token = %v", err)
	}
}

func TestHandlerErrorRetriesInOrderThenDeadLetters(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			ctx := t.Context()
			c := newClient(t, rdb)
			tp := newTopic(t, c, "jobs", 1)
			dlq := newTopic(t, c, "jobs-dead", 1)
			var mu stdsync.Mutex
			var seen []string
			fails := map[string]int{"flaky": 2, "poison": 1000}
			h := func(_ context.Context, ev *Event) error {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, string(ev.Payload))
				if fails[string(ev.Payload)] > 0 {
					fails[string(ev.Payload)]--
					return fmt.Errorf("fail %s attempt %d", ev.Payload, ev.Attempt)
				}
				return nil
			}
			var dead atomic.Int32
			cons, err := tp.Consumer("g", h, WithLease(time.Second), WithDeadLetter(dlq, 3),
				WithBackoff(func(int, error) time.Duration { return 5 * time.Millisecond }),
				WithHooks(Hooks{OnDeadLetter: func(*Event, error) { dead.Add(1) }}))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"a", "flaky", "b", "poison", "c"} {
				if _, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte(p)}); err != nil {
					t.Fatal(err)
				}
			}
			run(t, cons)
			waitFor(t, 5*time.Second, "c handled", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) > 0 && seen[len(seen)-1] == "c"
			})
			mu.Lock()
			got := fmt.Sprint(seen)
			mu.Unlock()
			if want := "[a flaky flaky flaky b poison poison poison c]"; got != want {
				t.Fatalf("handled %s, want %s", got, want)
			}
			var deadEvs []string
			subCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			dlq.Subscribe(subCtx, Beginning(), func(_ context.Context, ev *Event) error {
				deadEvs = append(deadEvs, string(ev.Payload))
				return nil
			})
			if fmt.Sprint(deadEvs) != "[poison]" || dead.Load() != 1 {
				t.Fatalf("dead letters %v (hook %d)", deadEvs, dead.Load())
			}
		})
	}
}

func TestReplay(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			ctx := t.Context()
			tp := newTopic(t, newClient(t, rdb), "log", 2)
			var rs []Receipt
			for i := range 6 {
				if i == 3 {
					time.Sleep(5 * time.Millisecond) // a distinct millisecond for FromTime
				}
				r, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte{'0' + byte(i)}})
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			// consume runs a new group from pos until it has seen want events,
			// then a bit longer to catch extras.
			consume := func(group string, pos Position, want int) string {
				var mu stdsync.Mutex
				var got []byte
				var opts []ConsumerOption
				if group != "" {
					opts = append(opts, WithStart(pos))
				}
				c, err := tp.Consumer(group, func(_ context.Context, ev *Event) error {
					mu.Lock()
					got = append(got, ev.Payload...)
					mu.Unlock()
					return nil
				}, append(opts, WithLease(200*time.Millisecond))...)
				if err != nil {
					t.Fatal(err)
				}
				stop := run(t, c)
				waitFor(t, 3*time.Second, fmt.Sprintf("%d events for %s", want, group), func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= want })
				time.Sleep(50 * time.Millisecond)
				stop()
				return string(got)
			}
			if got := consume("from-start", Beginning(), 6); got != "012345" {
				t.Fatalf("beginning: %s", got)
			}
			if got := consume("from-offset", FromOffset(rs[2].Offset), 4); got != "2345" {
				t.Fatalf("offset: %s", got)
			}
			if got := consume("from-time", FromTime(rs[3].Offset.Time()), 3); got != "345" {
				t.Fatalf("time: %s", got)
			}
			if got := consume("from-map", FromOffsets(map[int]Offset{rs[0].Partition: rs[4].Offset}), 2); got != "45" {
				t.Fatalf("offsets: %s", got)
			}
			// The end: only later events.
			go func() {
				time.Sleep(300 * time.Millisecond)
				tp.Publish(context.Background(), Event{Key: "k", Payload: []byte("6")})
			}()
			if got := consume("from-end", End(), 1); got != "6" {
				t.Fatalf("end: %s", got)
			}
			// A group resumes from its committed offset...
			if got := consume("from-start", Beginning(), 1); got != "6" {
				t.Fatalf("resume: %s", got)
			}
			// ...until it is reset.
			if err := tp.ResetGroup(ctx, "from-start", FromOffset(rs[5].Offset)); err != nil {
				t.Fatal(err)
			}
			if got := consume("from-start", Beginning(), 2); got != "56" {
				t.Fatalf("after reset: %s", got)
			}
		})
	}
}

func TestResetGroupRefusesLiveGroup(t *testing.T) {
	rdb := miniBackend.client(t)
	tp := newTopic(t, newClient(t, rdb), "log", 2)
	c, _ := tp.Consumer("g", func(context.Context, *Event) error { return nil }, WithLease(time.Second))
	run(t, c)
	waitFor(t, 2*time.Second, "member", func() bool { m, _ := tp.Members(t.Context(), "g"); return len(m) == 1 })
	if err := tp.ResetGroup(t.Context(), "g", Beginning()); !errors.Is(err, ErrGroupActive) {
		t.Fatalf("ResetGroup = %v", err)
	}
}

func TestSubscribeFanOut(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb), "news", 3)
			recs := make([]*recorder, 2)
			errs := make(chan error, 2)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			seq := map[string]int{}
			var pubs recorder
			pubs.publish(t, tp, keyed(30, 5, seq))
			for i := range recs {
				recs[i] = &recorder{}
				go func() { errs <- tp.Subscribe(ctx, Beginning(), recs[i].handler(fmt.Sprint("s", i))) }()
			}
			pubs.publish(t, tp, keyed(60, 5, seq))
			for _, r := range recs {
				r.pubs = pubs.pubs
				waitFor(t, 5*time.Second, "all seen", r.complete)
				r.check(t)
				if len(r.dels) != len(pubs.pubs) {
					t.Fatalf("%d deliveries of %d events", len(r.dels), len(pubs.pubs))
				}
			}
			cancel()
			for range recs {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			// A handler error ends Subscribe with it.
			boom := errors.New("boom")
			err := tp.Subscribe(t.Context(), Beginning(), func(context.Context, *Event) error { return boom })
			var he *HandlerError
			if !errors.Is(err, boom) || !errors.As(err, &he) {
				t.Fatalf("Subscribe = %v", err)
			}
		})
	}
}

func TestRetentionKeepsUncommitted(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			ctx := t.Context()
			tp := newTopic(t, newClient(t, rdb), "logs", 1)
			var rs []Receipt
			for i := range 10 {
				r, err := tp.Publish(ctx, Event{Key: "k", Payload: []byte{byte(i)}})
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			length := func() int64 { return rdb.XLen(ctx, tp.StreamKey(0)).Val() }
			// No group: length limit applies.
			if n, err := tp.Trim(ctx, Retention{MaxLen: 8}); err != nil || n != 2 || length() != 8 {
				t.Fatalf("Trim = %d, %v; len %d", n, err, length())
			}
			// A group that committed up to rs[4] holds rs[5:] back.
			if err := tp.commit(ctx, "slow", 0, 1, rs[4].Offset); err != nil {
				t.Fatal(err)
			}
			if n, err := tp.Trim(ctx, Retention{MaxLen: 1}); err != nil || n != 3 || length() != 5 {
				t.Fatalf("Trim past a group = %d, %v; len %d", n, err, length())
			}
			first, _ := rdb.XRangeN(ctx, tp.StreamKey(0), "-", "+", 1).Result()
			if first[0].ID != rs[5].Offset.String() {
				t.Fatalf("first kept %s, want %s", first[0].ID, rs[5].Offset)
			}
			// Age: everything is young.
			if n, err := tp.Trim(ctx, Retention{MaxAge: time.Hour}); err != nil || n != 0 {
				t.Fatalf("Trim by age = %d, %v", n, err)
			}
			// By age, still held back by the group.
			time.Sleep(5 * time.Millisecond)
			if n, err := tp.Trim(ctx, Retention{MaxAge: time.Millisecond}); err != nil || n != 0 {
				t.Fatalf("Trim by age past a group = %d, %v", n, err)
			}
			// Forced.
			if n, err := tp.Trim(ctx, Retention{MaxLen: 2, IgnoreGroups: true}); err != nil || n != 3 || length() != 2 {
				t.Fatalf("forced Trim = %d, %v; len %d", n, err, length())
			}
			// DeleteGroup releases the hold.
			if err := tp.DeleteGroup(ctx, "slow"); err != nil {
				t.Fatal(err)
			}
			if n, err := tp.Trim(ctx, Retention{MaxAge: time.Millisecond}); err != nil || n != 2 {
				t.Fatalf("Trim after DeleteGroup = %d, %v", n, err)
			}
		})
	}
}
