package redislock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Tests for defects found by a review; each failed before its fix.

// A Release cut short by its context can be retried and then releases.
func TestReleaseRetryAfterCancel(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	lk, err := l.Acquire(ctx, "r", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if err := lk.Release(dead); err == nil {
		t.Fatal("Release with a cancelled context reported success")
	}
	if err := lk.Release(ctx); err != nil && !errors.Is(err, ErrNotHeld) {
		t.Fatalf("retried Release = %v", err)
	}
	if n, _ := redistest.Admin(t, nodes[0]).Exists(ctx, l.Key("r")).Result(); n != 0 {
		t.Fatal("lock key still set after a retried Release")
	}
	if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("third Release = %v, want ErrNotHeld", err)
	}
}

// Close ends a waiter blocked on a name the same Locker holds with
// ErrClosed, not with a lock that is already gone.
func TestCloseEndsWaiterOfSameLocker(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l, err := New(nodes, WithPrefix(redistest.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, "a", TTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		lk, err := l.Acquire(ctx, "a")
		if err == nil {
			err = errors.New("got a lock: " + lk.Holder())
		}
		got <- err
	}()
	waitQueued(t, l, "a")
	l.Close()
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter after Close = %v, want ErrClosed", err)
	}
}

// A paused (SIGSTOP) node does not hold Acquire past its wait bound or
// its context.
func TestBoundsHoldWhileNodeHangs(t *testing.T) {
	ctx := t.Context()
	node := redistest.Standalone(t)
	l := newLocker(t, []redis.UniversalClient{node.Client()})
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	defer node.Resume()
	start := time.Now()
	_, err := l.Acquire(ctx, "h", MaxWait(200*time.Millisecond))
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, ErrQuorum) {
		t.Fatalf("Acquire with MaxWait on a hung node = %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = l.Acquire(cctx, "h")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Acquire on a hung node = %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("two 200ms-bounded calls took %v", took)
	}
}

// A counter that is not a positive integer is reported as ErrWrongType,
// is left as it was, and no orphan lock key stays behind.
func TestCorruptCounter(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(ctx context.Context, c redis.UniversalClient, key string) error
		want string // the counter afterwards ("" for a hash)
	}{
		{"garbage", func(ctx context.Context, c redis.UniversalClient, k string) error {
			return c.Set(ctx, k, "garbage", 0).Err()
		}, "garbage"},
		{"negative", func(ctx context.Context, c redis.UniversalClient, k string) error {
			return c.Set(ctx, k, "-1", 0).Err()
		}, "-1"},
		{"hash", func(ctx context.Context, c redis.UniversalClient, k string) error {
			return c.HSet(ctx, k, "f", "v").Err()
		}, ""},
	} {
		for _, b := range []backend{miniBackend, oneBackend} {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				ctx := t.Context()
				nodes := b.nodes(t)
				l := newLocker(t, nodes)
				admin := redistest.Admin(t, nodes[0])
				if err := tc.set(ctx, admin, l.fenceKey("c")); err != nil {
					t.Fatal(err)
				}
				if _, err := l.TryAcquire(ctx, "c"); !errors.Is(err, ErrWrongType) {
					t.Fatalf("TryAcquire with a corrupt counter = %v", err)
				}
				if n, _ := admin.Exists(ctx, l.Key("c")).Result(); n != 0 {
					t.Fatal("the failed acquire left the lock key set")
				}
				if tc.want != "" {
					if got, _ := admin.Get(ctx, l.fenceKey("c")).Result(); got != tc.want {
						t.Fatalf("counter after the failed acquire = %q, want %q", got, tc.want)
					}
				}
				// Taken by someone else, a corrupt counter is still reported.
				if err := admin.Set(ctx, l.Key("c"), "someone", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				if _, err := l.TryAcquire(ctx, "c"); !errors.Is(err, ErrWrongType) {
					t.Fatalf("TryAcquire of a taken lock with a corrupt counter = %v", err)
				}
			})
		}
	}
}

// A lock key set without a TTL (by hand, or by another tool) is taken, not
// corrupt: TryAcquire says ErrTaken and Acquire waits for it.
func TestLockKeyWithoutTTL(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			for _, c := range nodes {
				if err := redistest.Admin(t, c).Set(ctx, l.Key("forever"), "someone", 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.TryAcquire(ctx, "forever"); !errors.Is(err, ErrTaken) {
				t.Fatalf("TryAcquire of a key without TTL = %v, want ErrTaken", err)
			}
			if _, err := l.Acquire(ctx, "forever", MaxWait(200*time.Millisecond)); !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, ErrTaken) {
				t.Fatalf("Acquire of a key without TTL = %v, want ErrWaitTimeout wrapping ErrTaken", err)
			}
			for _, c := range nodes {
				if v, err := c.Get(ctx, l.Key("forever")).Result(); err != nil || v != "someone" {
					t.Fatalf("the key changed: %q %v", v, err)
				}
			}
		})
	}
}

// FencedStore compares tokens exactly, beyond 2^53.
func TestFencedStoreLargeTokens(t *testing.T) {
	ctx := t.Context()
	f, err := NewFencedStore(oneBackend.nodes(t)[0], redistest.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, "r", 1<<60+1, "new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, "r", 1<<60, "old"); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("write with 2^60 after 2^60+1 = %v, want ErrStaleToken", err)
	}
	if err := f.Write(ctx, "r", 1<<63+5, "max"); err != nil {
		t.Fatal(err)
	}
	if v, tok, _ := f.Read(ctx, "r"); v != "max" || tok != 1<<63+5 {
		t.Fatalf("Read = %q %d", v, tok)
	}
}

// A late extension does not resurrect a lock whose key vanished: the
// holder learns it no longer holds a majority there.
func TestExtendDoesNotResurrect(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	lk, err := l.Acquire(ctx, "v", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].Del(ctx, l.Key("v"))
	if err := lk.Extend(ctx, 0); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Extend of a vanished key = %v, want ErrNotHeld", err)
	}
	if n, _ := redistest.Admin(t, nodes[0]).Exists(ctx, l.Key("v")).Result(); n != 0 {
		t.Fatal("Extend set the vanished key again")
	}
}

func TestNewRejectsSameNodeTwice(t *testing.T) {
	c := oneBackend.nodes(t)[0].(*redis.Client)
	same := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
	defer same.Close()
	if _, err := New([]redis.UniversalClient{c, same, c}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("New with one Redis twice = %v", err)
	}
}

// With one node of three dead, Close releases on the live majority and
// waits for the dead node only as long as closeGrace, not for go-redis's
// redials (2.3 s here before).
func TestCloseWithDeadNode(t *testing.T) {
	ctx := t.Context()
	nodes := redistest.Independent(t, 3)
	clients := redistest.Clients(nodes)
	for _, c := range clients {
		c.(*redis.Client).Options().DialTimeout = 3 * time.Second
	}
	l, err := New(clients, WithPrefix(redistest.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	nodes[2].Kill()
	var locks []*Lock
	for _, name := range []string{"a", "b", "c"} {
		lk, err := l.Acquire(ctx, name, TTL(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		locks = append(locks, lk)
	}
	start := time.Now()
	l.Close()
	took := time.Since(start)
	for _, lk := range locks {
		if !errors.Is(lk.Err(), ErrReleased) {
			t.Fatalf("after Close, lock %s: %v", lk.Name(), lk.Err())
		}
		for _, c := range clients[:2] {
			if n, _ := redistest.Admin(t, c).Exists(ctx, l.Key(lk.Name())).Result(); n != 0 {
				t.Fatalf("lock %s still set on a live node after Close", lk.Name())
			}
		}
	}
	// The dead node's dial alone would take DialTimeout (3 s) per retry.
	if took > 2*time.Second {
		t.Fatalf("Close took %v with a dead node", took)
	}
	t.Logf("Close took %v with one node of three dead", took.Round(time.Millisecond))
}

// Close with a waiter of the same Locker queued: the waiter may win the
// lock Close just released, as Close runs; that grant is released too,
// so another Locker can have the name at once, not after a TTL.
func TestCloseLeavesNoGrantBehind(t *testing.T) {
	for _, b := range []backend{oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			other := newLocker(t, nodes)
			for i := range 20 {
				l, err := New(nodes, WithPrefix(redistest.Prefix(t)))
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprint("c", i)
				if _, err := l.Acquire(ctx, name, TTL(time.Minute)); err != nil {
					t.Fatal(err)
				}
				waited := make(chan error, 1)
				go func() {
					_, err := l.Acquire(ctx, name, TTL(time.Minute))
					waited <- err
				}()
				time.Sleep(20 * time.Millisecond) // the waiter queues
				l.Close()
				if err := <-waited; !errors.Is(err, ErrClosed) {
					t.Fatalf("waiter after Close = %v, want ErrClosed", err)
				}
				if _, err := other.TryAcquire(ctx, name); err != nil {
					t.Fatalf("round %d: after Close, another Locker's TryAcquire = %v (a grant was left behind)", i, err)
				}
			}
		})
	}
}

// A hung minority node (SIGSTOP) does not hold up a waiter: its
// subscription to that node cannot be made, but the release announced by
// the others wakes it at once, well before the holder's TTL or the
// client's read timeout.
func TestWaiterNotHeldUpByHungNode(t *testing.T) {
	ctx := t.Context()
	nodes := redistest.Independent(t, 3)
	holder := newLocker(t, redistest.Clients(nodes))
	waiter := newLocker(t, redistest.Clients(nodes))
	lk, err := holder.Acquire(ctx, "h", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Pause(); err != nil {
		t.Fatal(err)
	}
	defer nodes[0].Resume()
	got := make(chan time.Time, 1)
	go func() {
		if _, err := waiter.Acquire(ctx, "h", TTL(time.Minute), MaxWait(10*time.Second)); err != nil {
			t.Error(err)
		}
		got <- time.Now()
	}()
	time.Sleep(100 * time.Millisecond) // the waiter queues and subscribes
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	released := time.Now()
	lk.Release(rctx) // reaches nodes 1 and 2
	select {
	case at := <-got:
		// The read timeout of the test clients is 2 s.
		if d := at.Sub(released); d > time.Second {
			t.Fatalf("the waiter got the lock %v after the release", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter never got the lock")
	}
}

// A split vote with a hung third node (one node grants, another is taken,
// the third does not answer) fails soon after the majority answered, as
// taken, instead of waiting out the client's read timeout for the hung
// node; the grant it won is released.
func TestSplitVoteNotHeldUpByHungNode(t *testing.T) {
	ctx := t.Context()
	nodes, cs, l, _ := splitVoteSetup(t, "s")
	defer nodes[0].Resume()
	start := time.Now()
	_, err := l.TryAcquire(ctx, "s", TTL(time.Minute))
	took := time.Since(start)
	if !errors.Is(err, ErrTaken) {
		t.Fatalf("TryAcquire on a split vote = %v, want ErrTaken", err)
	}
	// The test clients' read timeout is 2 s: the old behaviour took that.
	if took > time.Second {
		t.Fatalf("the split vote took %v to fail", took)
	}
	granted := redistest.Admin(t, cs[1])
	redistest.WaitFor(t, 5*time.Second, "the grant on node 1 released", func() bool {
		return granted.Get(ctx, l.Key("s")).Err() == redis.Nil
	})
}

// A node that left a split vote unanswered is marked silent: later split
// votes do not wait for it, until it answers again.
func TestSplitVoteSkipsSilentNode(t *testing.T) {
	ctx := t.Context()
	nodes, cs, l, other := splitVoteSetup(t, "q")
	for i := range 2 {
		_, err := l.TryAcquire(ctx, "q", TTL(time.Minute))
		if !errors.Is(err, ErrTaken) || !errors.Is(err, errSplitVote) {
			t.Fatalf("attempt %d = %v, want a split vote", i, err)
		}
		if !l.silent[0].Load() {
			t.Fatalf("attempt %d: the hung node is not marked silent", i)
		}
		if l.silent[1].Load() || l.silent[2].Load() {
			t.Fatalf("attempt %d: a node that answered is marked silent", i)
		}
		granted := redistest.Admin(t, cs[1])
		redistest.WaitFor(t, 5*time.Second, "the grant on node 1 released", func() bool {
			return granted.Get(ctx, l.Key("q")).Err() == redis.Nil
		})
	}
	if err := nodes[0].Resume(); err != nil {
		t.Fatal(err)
	}
	other.Del(ctx, l.Key("q"))
	redistest.WaitFor(t, 10*time.Second, "the resumed node answering", func() bool {
		lk, err := l.TryAcquire(ctx, "q", TTL(time.Minute))
		if err != nil {
			return false
		}
		lk.Release(ctx)
		return !l.silent[0].Load()
	})
}

// splitVoteSetup starts three nodes, has another holder take name on node
// 2 (other is an admin client of node 2), and pauses node 0: an attempt
// then wins node 1 only.
func splitVoteSetup(t *testing.T, name string) (nodes []*redistest.Node, cs []redis.UniversalClient, l *Locker, other redis.UniversalClient) {
	t.Helper()
	nodes = redistest.Independent(t, 3)
	cs = redistest.Clients(nodes)
	l = newLocker(t, cs)
	other = redistest.Admin(t, cs[2])
	if err := other.Set(t.Context(), l.Key(name), "someone-else", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Pause(); err != nil {
		t.Fatal(err)
	}
	return nodes, cs, l, other
}

// A Release whose handoff to a waiter fails on a split vote (the handoff
// took the lock over on one node, then gave it up) reports the release,
// not ErrNotHeld: the lock was valid until then.
func TestReleaseAfterFailedHandoff(t *testing.T) {
	ctx := t.Context()
	nodes, _, l, _ := splitVoteSetup(t, "r")
	if err := nodes[0].Resume(); err != nil { // held on nodes 0 and 1
		t.Fatal(err)
	}
	lk, err := l.Acquire(ctx, "r", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() {
		_, err := l.Acquire(wctx, "r", TTL(time.Minute))
		waited <- err
	}()
	redistest.WaitFor(t, 5*time.Second, "the waiter queued", func() bool { return l.hasWaiters("r") })
	if err := nodes[0].Pause(); err != nil {
		t.Fatal(err)
	}
	defer nodes[0].Resume()
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("Release of a valid lock whose handoff failed = %v, want nil", err)
	}
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter = %v, want context.Canceled (node 2 stays taken)", err)
	}
}

// Two Release calls racing on one Lock: one releases, the other says
// "already released", never that the lock had expired.
func TestConcurrentReleaseSaysAlreadyReleased(t *testing.T) {
	ctx := t.Context()
	l := newLocker(t, redistest.Clients(redistest.Independent(t, 3)))
	for i := range 30 {
		lk, err := l.Acquire(ctx, "cr", TTL(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- lk.Release(ctx) }()
		}
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("round %d: Release results %v and %v, want one nil", i, e1, e2)
		}
		loser := cmp.Or(e1, e2)
		if !errors.Is(loser, ErrNotHeld) || !strings.Contains(loser.Error(), "already released") {
			t.Fatalf("round %d: the second Release = %v, want ErrNotHeld, already released", i, loser)
		}
	}
}
