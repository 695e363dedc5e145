package redislock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// waitQueuedN waits until n waiters of l queue for name.
func waitQueuedN(t *testing.T, l *Locker, name string, n int) {
	t.Helper()
	redistest.WaitFor(t, 5*time.Second, fmt.Sprintf("%d waiters for %q", n, name), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		q := l.queues[name]
		return q != nil && len(q.waiters) == n
	})
}

// released counts release announcements on name's channel on node c.
func released(t *testing.T, l *Locker, c redis.UniversalClient, name string) func() int {
	t.Helper()
	ps := c.Subscribe(t.Context(), l.channel(name))
	if _, err := ps.Receive(t.Context()); err != nil { // the confirmation
		t.Fatal(err)
	}
	var mu stdsync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ps.Channel() {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { ps.Close(); <-done })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// A Release with a waiter of the same Locker queued passes the lock to it
// in one step: the waiter holds a larger token, the releaser's lock has
// ended first, the key never became free (no release was announced), and
// the waiter's own options (owner, TTL) apply.
func TestHandoffToWaiter(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			// On one node the handoff is exact: nothing is announced until
			// the key is freed. (On three, a partial attempt of the waiter
			// is released, and announced, as usual.)
			var announced func() int
			if b.name == "1-node" {
				announced = released(t, l, nodes[0], "h")
			}
			first, err := l.Acquire(ctx, "h", TTL(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan *Lock, 1)
			go func() {
				lk, err := l.Acquire(ctx, "h", TTL(30*time.Second), Owner("second"), MaxWait(10*time.Second))
				if err != nil {
					t.Error(err)
				}
				got <- lk
			}()
			waitQueuedN(t, l, "h", 1)
			if err := first.Release(ctx); err != nil {
				t.Fatalf("Release with a waiter = %v", err)
			}
			select {
			case <-first.Done():
			default:
				t.Fatal("the releaser's lock had not ended when Release returned")
			}
			second := <-got
			if second == nil {
				t.FailNow()
			}
			if second.Token() <= first.Token() {
				t.Fatalf("handed-over token %d, not above %d", second.Token(), first.Token())
			}
			// The new grant holds a majority at once (a node may have been
			// taken by the waiter's own attempt, or answer late), with the
			// waiter's TTL.
			holding := 0
			for _, c := range nodes {
				if c.Get(ctx, l.Key("h")).Val() == second.Holder() {
					holding++
					if ttl := c.PTTL(ctx, l.Key("h")).Val(); ttl > 30*time.Second || ttl < 20*time.Second {
						t.Fatalf("TTL %v, want the waiter's 30s", ttl)
					}
				}
			}
			if holding < l.Quorum() {
				t.Fatalf("the handed-over grant holds %d nodes, want a majority", holding)
			}
			if h := second.Holder(); len(h) < 7 || h[:7] != "second:" {
				t.Fatalf("holder %q, want the waiter's owner", h)
			}
			if err := second.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if announced != nil {
				// Only the last Release (no waiter) freed the key.
				redistest.WaitFor(t, 5*time.Second, "the last release announced", func() bool { return announced() >= 1 })
				time.Sleep(50 * time.Millisecond)
				if n := announced(); n != 1 {
					t.Fatalf("%d releases announced, want 1 (the handoff frees nothing)", n)
				}
			}
		})
	}
}

// A lock handed to a waiter that had left is not leaked: it is released,
// so the name is free again.
func TestHandoffToDepartedWaiterIsReleased(t *testing.T) {
	ctx := t.Context()
	l := newLocker(t, oneBackend.nodes(t))
	first, err := l.Acquire(ctx, "d", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Acquire(wctx, "d", TTL(time.Minute))
		errc <- err
	}()
	waitQueuedN(t, l, "d", 1)
	// Claim the head as Release would, let the waiter leave, then deliver.
	w := l.claimHead("d")
	if w == nil {
		t.Fatal("no head to hand to")
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter = %v", err)
	}
	first.end(ErrReleased)
	next, _, err := l.try(ctx, "d", w.o, first.value)
	if err != nil {
		t.Fatal(err)
	}
	if l.deliver(w, next) {
		t.Fatal("a departed waiter took the lock")
	}
	// The same path Release takes for such a lock.
	if err := next.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryAcquire(ctx, "d"); err != nil {
		t.Fatalf("the name stayed taken: %v", err)
	}

	// A lock already delivered to a waiter that then leaves is released
	// by dequeue.
	w2, _ := l.enqueue("e", &acquireOptions{ttl: time.Minute})
	lk, err := l.TryAcquire(ctx, "e", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	w2.handed <- lk
	l.dequeue("e", w2, time.Time{})
	redistest.WaitFor(t, 5*time.Second, "the undelivered lock released", func() bool { return lk.Err() != nil })
	redistest.WaitFor(t, 5*time.Second, "the name free again", func() bool {
		lk2, err := l.TryAcquire(ctx, "e")
		if err == nil {
			lk2.Release(ctx)
		}
		return err == nil
	})
}

// Handoffs in a row stop after maxChain: then the key is freed and the
// release announced, so that waiters elsewhere get a chance.
func TestHandoffChainIsBounded(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	announced := released(t, l, nodes[0], "c")
	const rounds = 3 * maxChain
	var wg stdsync.WaitGroup
	var mu stdsync.Mutex
	var tokens []uint64
	for range 2 {
		wg.Go(func() {
			for {
				lk, err := l.Acquire(ctx, "c", TTL(time.Minute), MaxWait(10*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				tokens = append(tokens, lk.Token())
				n := len(tokens)
				mu.Unlock()
				if n <= rounds {
					// Hold until the other goroutine queues, so that
					// every Release finds a waiter.
					if n < rounds {
						waitQueuedN(t, l, "c", 1)
					}
				}
				if err := lk.Release(ctx); err != nil {
					t.Error(err)
				}
				if n >= rounds {
					return
				}
			}
		})
	}
	wg.Wait()
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("tokens not increasing: %v", tokens)
		}
	}
	redistest.WaitFor(t, 5*time.Second, "chain-ending releases announced", func() bool { return announced() >= rounds/maxChain-1 })
	time.Sleep(50 * time.Millisecond)
	// Every maxChain+1-th release frees the key; so do the final ones.
	if n := announced(); n > rounds/maxChain+3 {
		t.Fatalf("%d of %d releases announced: handoffs did not happen", n, len(tokens))
	}
}

// A Release whose context has already ended sends nothing, and a waiter
// of the same Locker is not left waiting for a TTL: the lock it needs is
// freed by a later Release, or by the expiry.
func TestReleaseWithEndedContextDoesNotStallWaiter(t *testing.T) {
	ctx := t.Context()
	l := newLocker(t, oneBackend.nodes(t))
	lk, err := l.Acquire(ctx, "r", TTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		w, err := l.Acquire(ctx, "r", TTL(5*time.Second), MaxWait(10*time.Second))
		if err != nil {
			t.Error(err)
			got <- time.Time{}
			return
		}
		got <- time.Now()
		w.Release(ctx)
	}()
	waitQueuedN(t, l, "r", 1)
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if err := lk.Release(ended); err == nil {
		t.Fatal("Release with an ended context reported success")
	}
	// The lock is still held (nothing was sent); a retry releases it and
	// the waiter gets it at once, not after the 5s TTL.
	start := time.Now()
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("retried Release = %v", err)
	}
	if at := <-got; at.IsZero() || at.Sub(start) > time.Second {
		t.Fatalf("the waiter got the lock %v after the retried Release", at.Sub(start))
	}
}

// Releases the library makes on its own (a lock handed to a waiter that
// had left) do not count as the caller's: no OnRelease.
func TestInternalReleaseIsNotHooked(t *testing.T) {
	ctx := t.Context()
	var releases atomic.Int32
	l := newLocker(t, oneBackend.nodes(t), WithHooks(Hooks{OnRelease: func(string, error) { releases.Add(1) }}))
	w, _ := l.enqueue("e", &acquireOptions{ttl: time.Minute})
	lk, err := l.TryAcquire(ctx, "e", TTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	w.handed <- lk
	l.dequeue("e", w, time.Time{}) // releases lk in the background
	redistest.WaitFor(t, 5*time.Second, "the undelivered lock released", func() bool { return lk.Err() != nil })
	redistest.WaitFor(t, 5*time.Second, "the name free", func() bool {
		lk2, err := l.TryAcquire(ctx, "e")
		if err == nil {
			lk2.Release(ctx)
		}
		return err == nil
	})
	if n := releases.Load(); n != 1 { // the test's own Release of lk2
		t.Fatalf("OnRelease fired %d times, want 1", n)
	}
}

// A lock whose deadline passed before Release ran (the process was paused
// and the expiry timer has not fired yet) ends as lost, every time: Err,
// the context's cause and OnLost say so, and Release says it had expired.
func TestReleaseAfterDeadlineEndsLost(t *testing.T) {
	ctx := t.Context()
	var lost atomic.Int32
	l := newLocker(t, oneBackend.nodes(t), WithHooks(Hooks{OnLost: func(string, uint64) { lost.Add(1) }}))
	lk, err := l.Acquire(ctx, "p", TTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	lctx := lk.Context()
	lk.mu.Lock()
	lk.expiry.Stop() // as if paused: the timer has not run yet
	lk.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if err := lk.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Release after the deadline = %v, want ErrNotHeld", err)
	}
	if err := lk.Err(); !errors.Is(err, ErrLost) {
		t.Fatalf("Err = %v, want ErrLost", err)
	}
	if c := context.Cause(lctx); !errors.Is(c, ErrLost) {
		t.Fatalf("context cause = %v, want ErrLost", c)
	}
	if lost.Load() != 1 {
		t.Fatalf("OnLost fired %d times, want 1", lost.Load())
	}
}

// A waiter does not spin: while the holder keeps the lock it retries when
// notified or when the holder's TTL runs out, a handful of attempts, not
// one per round trip.
func TestWaiterDoesNotSpin(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	l := newLocker(t, nodes)
	if _, err := l.Acquire(ctx, "s", TTL(400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	admin := redistest.Admin(t, nodes[0])
	calls := func() int64 {
		for _, line := range strings.Split(admin.Info(ctx, "commandstats").Val(), "\n") {
			if strings.HasPrefix(line, "cmdstat_evalsha:calls=") {
				n, _ := strconv.ParseInt(strings.TrimPrefix(strings.SplitN(line, ",", 2)[0], "cmdstat_evalsha:calls="), 10, 64)
				return n
			}
		}
		return 0
	}
	before := calls()
	w, err := l.Acquire(ctx, "s", TTL(time.Second), MaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.Release(ctx)
	if n := calls() - before; n > 20 {
		t.Fatalf("%d script calls while waiting ~400ms for an expiry: the waiter spins", n)
	}
}
