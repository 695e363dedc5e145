package redislock

import (
	"errors"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

// hookLog records what Hooks report.
type hookLog struct {
	mu       stdsync.Mutex
	acquires []error
	waits    []time.Duration
	attempts []time.Duration
	releases []error
	lost     []uint64
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		OnAcquire: func(name string, wait, attempt time.Duration, err error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.acquires = append(h.acquires, err)
			h.waits = append(h.waits, wait)
			h.attempts = append(h.attempts, attempt)
		},
		OnRelease: func(name string, err error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.releases = append(h.releases, err)
		},
		OnLost: func(name string, token uint64) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.lost = append(h.lost, token)
		},
	}
}

func (h *hookLog) snapshot() (acq, rel []error, lost []uint64, waits, attempts []time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.acquires...), append([]error(nil), h.releases...), append([]uint64(nil), h.lost...),
		append([]time.Duration(nil), h.waits...), append([]time.Duration(nil), h.attempts...)
}

func TestHooks(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			var rec hookLog
			l := newLocker(t, nodes, WithHooks(rec.hooks()))
			other := newLocker(t, nodes)

			lk, err := l.Acquire(ctx, "a", TTL(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.TryAcquire(ctx, "a"); !errors.Is(err, ErrTaken) {
				t.Fatalf("TryAcquire = %v, want ErrTaken", err)
			}
			if err := lk.Release(ctx); err != nil {
				t.Fatal(err)
			}
			// A waiter: Acquire's wait covers the time the holder kept it.
			held, err := other.Acquire(ctx, "w", TTL(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(100*time.Millisecond, func() { held.Release(t.Context()) })
			waited, err := l.Acquire(ctx, "w", TTL(5*time.Second), MaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			waited.Release(ctx)
			// A lock that runs out without renewal is lost, once.
			short, err := l.Acquire(ctx, "short", TTL(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			<-short.Done()
			// OnLost runs just after Done closes.
			redistest.WaitFor(t, 5*time.Second, "the loss reported", func() bool {
				_, _, lost, _, _ := rec.snapshot()
				return len(lost) == 1
			})
			if err := short.Release(ctx); !errors.Is(err, ErrNotHeld) {
				t.Fatalf("Release of a lost lock = %v, want ErrNotHeld", err)
			}

			acq, rel, lost, waits, attempts := rec.snapshot()
			if len(acq) != 4 || acq[0] != nil || !errors.Is(acq[1], ErrTaken) || acq[2] != nil || acq[3] != nil {
				t.Fatalf("OnAcquire errors = %v, want [nil ErrTaken nil nil]", acq)
			}
			for i := range attempts {
				if attempts[i] <= 0 || attempts[i] > waits[i] {
					t.Fatalf("call %d: attempt %v, wait %v", i, attempts[i], waits[i])
				}
			}
			if waits[2] < 90*time.Millisecond {
				t.Fatalf("wait of the queued Acquire = %v, want >= the holder's 100ms", waits[2])
			}
			if len(rel) != 3 || rel[0] != nil || rel[1] != nil || !errors.Is(rel[2], ErrNotHeld) {
				t.Fatalf("OnRelease errors = %v, want [nil nil ErrNotHeld]", rel)
			}
			if len(lost) != 1 || lost[0] != short.Token() {
				t.Fatalf("OnLost = %v, want [%d]", lost, short.Token())
			}
		})
	}
}

// No hook fires for a Locker without hooks, and the ones set are
// independent: a Hooks with only OnLost set works.
func TestHooksPartial(t *testing.T) {
	nodes := miniBackend.nodes(t)
	lost := make(chan uint64, 1)
	l := newLocker(t, nodes, WithHooks(Hooks{OnLost: func(_ string, tok uint64) { lost <- tok }}))
	lk, err := l.Acquire(t.Context(), "x", TTL(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case tok := <-lost:
		if tok != lk.Token() {
			t.Fatalf("OnLost token %d, want %d", tok, lk.Token())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnLost not called")
	}
}
