package redislock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestAcquireReleaseCycle(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l1 := newLocker(t, nodes)
			l2 := newLocker(t, nodes)
			lk, err := l1.Acquire(ctx, "orders", TTL(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if lk.Token() == 0 || !lk.Valid() || lk.Err() != nil {
				t.Fatalf("fresh lock: token %d valid %v err %v", lk.Token(), lk.Valid(), lk.Err())
			}
			if _, err := l2.TryAcquire(ctx, "orders"); !errors.Is(err, ErrTaken) {
				t.Fatalf("TryAcquire of a held lock = %v, want ErrTaken", err)
			}
			if _, err := l1.TryAcquire(ctx, "orders"); !errors.Is(err, ErrTaken) {
				t.Fatalf("locks are not reentrant: TryAcquire = %v, want ErrTaken", err)
			}
			lctx := lk.Context()
			before := time.Now()
			if err := lk.Release(ctx); err != nil {
				t.Fatalf("Release = %v", err)
			}
			if d, after := lk.Deadline(), time.Now(); d.Before(before) || d.After(after) {
				t.Fatalf("after Release, Deadline() = %v from the Release call, want within the call (%v)", d.Sub(before), after.Sub(before))
			}
			select {
			case <-lk.Done():
			default:
				t.Fatal("Done not closed after Release")
			}
			if !errors.Is(context.Cause(lctx), ErrReleased) || !errors.Is(lk.Err(), ErrReleased) || lk.Valid() {
				t.Fatalf("after Release: cause %v, Err %v, Valid %v", context.Cause(lctx), lk.Err(), lk.Valid())
			}
			if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("second Release = %v, want ErrNotHeld", err)
			}
			lk2, err := l2.TryAcquire(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			defer lk2.Release(ctx)
			if lk2.Token() <= lk.Token() {
				t.Fatalf("token went from %d to %d", lk.Token(), lk2.Token())
			}
		})
	}
}

func TestTokensIncreaseAcrossLockersAndExpiry(t *testing.T) {
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			lockers := []*Locker{newLocker(t, nodes), newLocker(t, nodes), newLocker(t, nodes)}
			var last uint64
			for i := range 30 {
				l := lockers[i%3]
				lk, err := l.Acquire(ctx, "seq", TTL(50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				if lk.Token() <= last {
					t.Fatalf("grant %d: token %d after %d", i, lk.Token(), last)
				}
				last = lk.Token()
				if i%2 == 0 {
					lk.Release(ctx)
				} // otherwise it expires and the next Acquire waits for the TTL
			}
		})
	}
}

// The counterexample from ANCHORS.md: counters A=10, B=1, C=1. Taking the
// max of per-node INCRs would give 11 on {A,B} and later 3 on {B,C}.
func TestTokensMonotonicWithDivergentCounters(t *testing.T) {
	nodes := redistest.Independent(t, 3)
	ctx := t.Context()
	clients := redistest.Clients(nodes)
	l := newLocker(t, clients)
	fence := l.keys.LockFence("x")
	for i, v := range []int{10, 1, 1} {
		if err := clients[i].Set(ctx, fence, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// First grant while C is down: quorum {A, B}.
	nodes[2].Kill()
	lk, err := l.TryAcquire(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	first := lk.Token()
	if first <= 10 {
		t.Fatalf("token %d does not exceed the counter 10 held on A", first)
	}
	if err := lk.Release(ctx); !errors.Is(err, ErrQuorum) && err != nil {
		t.Fatal(err)
	}
	// Second grant from a fresh Locker (no memory of the first) with A
	// down: quorum {B, C}. C restarts empty (no AOF) with counter 0.
	if err := nodes[2].Restart(); err != nil {
		t.Fatal(err)
	}
	nodes[0].Kill()
	fresh := newLocker(t, redistest.Clients(nodes))
	lk2, err := fresh.TryAcquire(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if lk2.Token() <= first {
		t.Fatalf("second token %d <= first %d: not monotonic", lk2.Token(), first)
	}
}

func TestAcquireWaitsForReleaseNotification(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			holder := newLocker(t, nodes)
			waiter := newLocker(t, nodes)
			lk, err := holder.Acquire(ctx, "n", TTL(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan error, 1)
			go func() {
				wl, err := waiter.Acquire(ctx, "n", TTL(time.Minute), MaxWait(30*time.Second))
				if err == nil {
					err = wl.Release(ctx)
				}
				got <- err
			}()
			waitQueued(t, waiter, "n")
			if err := lk.Release(ctx); err != nil {
				t.Fatal(err)
			}
			// With a one-minute TTL, only the notification can wake the
			// waiter before the 30 s bound.
			if err := <-got; err != nil {
				t.Fatalf("waiter: %v", err)
			}
		})
	}
}

// waitQueued waits until l has a waiter queued for name, and its
// subscription had time to be confirmed.
func waitQueued(t *testing.T, l *Locker, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !l.hasWaiters(name) {
		if time.Now().After(deadline) {
			t.Fatal("waiter never queued")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
}

func TestAcquireAfterHolderExpires(t *testing.T) {
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			lk, err := newLocker(t, nodes).Acquire(ctx, "e", TTL(200*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			// The holder never releases: the waiter's fallback timer finds
			// the lock free once the TTL has run out.
			lk2, err := newLocker(t, nodes).Acquire(ctx, "e", MaxWait(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if lk.Valid() || !errors.Is(lk.Err(), ErrLost) {
				t.Fatalf("expired lock: Valid %v Err %v", lk.Valid(), lk.Err())
			}
			<-lk.Done()
			if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("releasing an expired lock = %v, want ErrNotHeld", err)
			}
			if !lk2.Valid() || lk2.Token() <= lk.Token() {
				t.Fatalf("new holder valid %v token %d after %d", lk2.Valid(), lk2.Token(), lk.Token())
			}
		})
	}
}

func TestWaitBoundAndCancellation(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	lk, err := l.Acquire(ctx, "w", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(ctx)
	other := newLocker(t, nodes)

	_, err = other.Acquire(ctx, "w", MaxWait(100*time.Millisecond))
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, ErrTaken) {
		t.Fatalf("wait bound: %v, want ErrWaitTimeout wrapping ErrTaken", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = other.Acquire(cctx, "w")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
	dctx, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	_, err = other.Acquire(dctx, "w")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v, want context.DeadlineExceeded", err)
	}
	done, cancel3 := context.WithCancel(ctx)
	cancel3()
	if _, err := other.TryAcquire(done, "w"); !errors.Is(err, context.Canceled) {
		t.Fatalf("TryAcquire with a cancelled context = %v", err)
	}
	// Waiters that gave up left no queue behind.
	if other.hasWaiters("w") {
		t.Fatal("queue left behind")
	}
}

func TestArgumentErrors(t *testing.T) {
	ctx := t.Context()
	nodes := miniBackend.nodes(t)
	if _, err := New(nil); !errors.Is(err, ErrBadOption) {
		t.Errorf("New(nil) = %v", err)
	}
	if _, err := New([]redis.UniversalClient{nodes[0], nil}); !errors.Is(err, ErrBadOption) {
		t.Errorf("New with a nil node = %v", err)
	}
	if _, err := New(nodes, WithPrefix("a{b")); !errors.Is(err, ErrBadOption) {
		t.Errorf("New with a bad prefix = %v", err)
	}
	if _, err := New(nodes, WithTTL(time.Millisecond)); !errors.Is(err, ErrBadOption) {
		t.Errorf("New with a 1ms TTL = %v", err)
	}
	l := newLocker(t, nodes)
	if _, err := l.Acquire(ctx, ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name = %v", err)
	}
	if _, err := l.TryAcquire(ctx, "x", TTL(time.Millisecond)); !errors.Is(err, ErrBadOption) {
		t.Errorf("1ms TTL = %v", err)
	}
	if _, err := l.Acquire(ctx, "x", MaxWait(-time.Second)); !errors.Is(err, ErrBadOption) {
		t.Errorf("negative MaxWait = %v", err)
	}
	if _, err := l.Acquire(ctx, "x", TTL(50*time.Millisecond), AutoRenew()); !errors.Is(err, ErrBadOption) {
		t.Errorf("AutoRenew with a 50ms TTL = %v", err)
	}
}

func TestWrongKeyType(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			for _, c := range nodes {
				if err := c.HSet(ctx, l.Key("h"), "f", "v").Err(); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.TryAcquire(ctx, "h"); !errors.Is(err, ErrWrongType) {
				t.Fatalf("TryAcquire on a hash = %v, want ErrWrongType", err)
			}
			if _, err := l.Acquire(ctx, "h", MaxWait(time.Second)); !errors.Is(err, ErrWrongType) {
				t.Fatalf("Acquire on a hash = %v, want ErrWrongType", err)
			}
			// Nothing was changed.
			if v, err := nodes[0].HGet(ctx, l.Key("h"), "f").Result(); err != nil || v != "v" {
				t.Fatalf("hash changed: %q %v", v, err)
			}
		})
	}
}

func TestRedisDownGivesQuorumError(t *testing.T) {
	ctx := t.Context()
	nodes := redistest.Independent(t, 3)
	l := newLocker(t, redistest.Clients(nodes))
	nodes[0].Kill()
	nodes[1].Kill()
	_, err := l.TryAcquire(ctx, "q")
	var qe *QuorumError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuorum) {
		t.Fatalf("TryAcquire with 2 of 3 nodes down = %v, want *QuorumError", err)
	}
	if len(qe.Nodes) != 2 || qe.Quorum != 2 {
		t.Fatalf("QuorumError lists %d nodes (quorum %d): %v", len(qe.Nodes), qe.Quorum, err)
	}
	_, err = l.Acquire(ctx, "q", MaxWait(300*time.Millisecond))
	if !errors.Is(err, ErrWaitTimeout) || !errors.Is(err, ErrQuorum) {
		t.Fatalf("Acquire with nodes down = %v, want ErrWaitTimeout wrapping ErrQuorum", err)
	}
	// One node down of three: still works.
	if err := nodes[0].Restart(); err != nil {
		t.Fatal(err)
	}
	lk, err := l.Acquire(ctx, "q", MaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("2 of 3 nodes up: %v", err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("Release on 2 of 3: %v", err)
	}
}

func TestFIFOWithinALocker(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			l := newLocker(t, b.nodes(t))
			lk, err := l.Acquire(ctx, "fifo", TTL(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			const n = 6
			var mu stdsync.Mutex
			var order []int
			var wg stdsync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w, err := l.Acquire(ctx, "fifo", TTL(time.Minute), MaxWait(30*time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					w.Release(ctx)
				}()
				// Let waiter i queue before waiter i+1 arrives.
				deadline := time.Now().Add(5 * time.Second)
				for {
					l.mu.Lock()
					q := l.queues["fifo"]
					queued := q != nil && len(q.waiters) == i+1
					l.mu.Unlock()
					if queued {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("waiter %d never queued", i)
					}
					time.Sleep(time.Millisecond)
				}
			}
			lk.Release(ctx)
			wg.Wait()
			for i, v := range order {
				if v != i {
					t.Fatalf("served in order %v, want arrival order", order)
				}
			}
		})
	}
}

func TestWatchdogKeepsLockAcrossTTLs(t *testing.T) {
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			other := newLocker(t, nodes)
			ttl := 300 * time.Millisecond
			lk, err := l.Acquire(ctx, "wd", TTL(ttl), AutoRenew())
			if err != nil {
				t.Fatal(err)
			}
			end := time.Now().Add(5 * ttl)
			for time.Now().Before(end) {
				if _, err := other.TryAcquire(ctx, "wd"); !errors.Is(err, ErrTaken) {
					t.Fatalf("another Locker got a watchdog-held lock: %v", err)
				}
				if !lk.Valid() {
					t.Fatalf("lock invalid while renewed: %v", lk.Err())
				}
				time.Sleep(ttl / 5)
			}
			if err := lk.Release(ctx); err != nil {
				t.Fatalf("Release after 5 TTLs = %v", err)
			}
			if _, err := other.TryAcquire(ctx, "wd"); err != nil {
				t.Fatalf("after Release: %v", err)
			}
		})
	}
}

// Killing two of three nodes takes the quorum away: the holder must learn
// it before the lock's deadline (when another client could win a majority
// once the nodes come back).
func TestLostSignalWhenQuorumGoes(t *testing.T) {
	ctx := t.Context()
	nodes := redistest.Independent(t, 3)
	l := newLocker(t, redistest.Clients(nodes), WithLogger(slog.New(slog.NewTextHandler(tlog{t}, nil))))
	ttl := 3 * time.Second
	lk, err := l.Acquire(ctx, "lost", TTL(ttl), AutoRenew())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 2) // at least one renewal happened
	nodes[0].Kill()
	nodes[1].Kill()
	killed := time.Now()
	deadline := lk.Deadline()
	select {
	case <-lk.Done():
	case <-time.After(2 * ttl):
		t.Fatal("Done never fired after the quorum went away")
	}
	if !errors.Is(lk.Err(), ErrLost) || !errors.Is(context.Cause(lk.Context()), ErrLost) {
		t.Fatalf("Err %v, cause %v; want ErrLost", lk.Err(), context.Cause(lk.Context()))
	}
	lost := time.Now()
	if lost.After(deadline) {
		t.Fatalf("lost signal came %v after the kill, after the deadline", lost.Sub(killed))
	}
	// The watchdog gave up before the deadline (and released what it
	// could): Deadline must now report that moment, not the old deadline,
	// or a caller's record of its hold would overlap the next holder's.
	if d := lk.Deadline(); d.After(lost) || d.Before(killed) {
		t.Fatalf("after the loss Deadline() = kill%+v, want between the kill and the Done signal (kill%+v)", d.Sub(killed), lost.Sub(killed))
	}
	t.Logf("lost signal %v after the kill (renew period %v)", time.Since(killed).Round(time.Millisecond), ttl/3)
}

func TestExtend(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			l := newLocker(t, b.nodes(t))
			lk, err := l.Acquire(ctx, "x", TTL(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			before := lk.Deadline()
			if err := lk.Extend(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if !lk.Deadline().After(before.Add(5 * time.Second)) {
				t.Fatalf("deadline moved from %v to %v", before, lk.Deadline())
			}
			lk.Release(ctx)
			if err := lk.Extend(ctx, time.Second); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Extend after Release = %v", err)
			}
		})
	}
}

func TestExtendFindsLockTakenOver(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	lk, err := l.Acquire(ctx, "x", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Someone deletes the key and takes it (as after an expiry).
	nodes[0].Del(ctx, l.Key("x"))
	if _, err := newLocker(t, nodes).TryAcquire(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := lk.Extend(ctx, 0); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Extend of a taken-over lock = %v", err)
	}
	select {
	case <-lk.Done():
	default:
		t.Fatal("Done not closed after a renewal found the lock gone")
	}
	if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Release of a lost lock = %v", err)
	}
}

func TestCloseReleasesAndUnblocks(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l, err := New(nodes, WithPrefix(redistest.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	lk, err := l.Acquire(ctx, "c", TTL(time.Minute), AutoRenew())
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(nodes, WithPrefix(redistest.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	blocked := make(chan error, 1)
	l2, err := New(nodes, WithPrefix(redistest.Prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := l2.Acquire(ctx, "c")
		blocked <- err
	}()
	waitQueued(t, l2, "c")
	l2.Close()
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Acquire after Close = %v, want ErrClosed", err)
	}
	l.Close()
	if lk.Valid() {
		t.Fatal("lock still valid after Locker.Close")
	}
	if _, err := other.TryAcquire(ctx, "c"); err != nil {
		t.Fatalf("Close did not release: %v", err)
	}
	if _, err := l.Acquire(ctx, "c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Acquire after Close = %v", err)
	}
}

func TestEveryKeyInOneSlot(t *testing.T) {
	ks := keys.Must("p")
	for _, name := range []string{"a", "}", "{x}", "a:b"} {
		s := keys.Slot(ks.LockKey(name))
		if keys.Slot(ks.LockFence(name)) != s || keys.Slot(ks.LockChannel(name)) != s {
			t.Fatalf("name %q: lock keys span slots", name)
		}
	}
}

func TestClusterLocksSpreadAndNotify(t *testing.T) {
	ctx := t.Context()
	c := sharedCluster(t)
	l := newLocker(t, []redis.UniversalClient{c})
	for i := range 20 {
		lk, err := l.TryAcquire(ctx, fmt.Sprintf("job-%d", i))
		if err != nil {
			t.Fatalf("job-%d: %v", i, err)
		}
		if err := lk.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// After a pause past the deadline, the context reports the loss at the
// first check, before the expiry timer had a chance to run.
func TestContextErrChecksDeadline(t *testing.T) {
	ctx := t.Context()
	l := newLocker(t, miniBackend.nodes(t))
	lk, err := l.Acquire(ctx, "p", TTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lctx := lk.Context()
	child, cancel := context.WithCancel(lctx)
	defer cancel()
	lk.mu.Lock()
	lk.expiry.Stop() // as if the timer had not run yet after a pause
	lk.deadline = time.Now().Add(-time.Millisecond)
	lk.mu.Unlock()
	if lctx.Err() == nil {
		t.Fatal("Err nil past the deadline")
	}
	select {
	case <-lctx.Done():
	default:
		t.Fatal("Err reported the loss but Done is open")
	}
	if !errors.Is(context.Cause(lctx), ErrLost) {
		t.Fatalf("cause %v, want ErrLost", context.Cause(lctx))
	}
	<-child.Done() // derived contexts end too
}
