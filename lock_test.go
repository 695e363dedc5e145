package sync

import (
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redislock"
)

func TestSeedLock(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	a, b := s.Lock(), s.Lock()

	if err := a.Acquire("id"); err != nil {
		t.Fatal(err)
	}
	// The Wait option is honoured (the etcd seed ignored it).
	start := time.Now()
	err := b.Acquire("id", Wait(100*time.Millisecond))
	if !errors.Is(err, ErrLockTimeout) || !errors.Is(err, redislock.ErrWaitTimeout) {
		t.Fatalf("Acquire with Wait on a held id = %v, want ErrLockTimeout", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Wait(100ms) returned after %v", waited)
	}
	if err := b.Release("id"); !errors.Is(err, redislock.ErrNotHeld) {
		t.Fatalf("Release of an id b does not hold = %v", err)
	}
	// Without TTL the lock is kept alive: still held well past the
	// default TTL would not be checked here (10 s); see redislock tests.
	done := make(chan error, 1)
	go func() { done <- b.Acquire("id") }()
	time.Sleep(50 * time.Millisecond)
	if err := a.Release("id"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := b.Release("id"); err != nil {
		t.Fatal(err)
	}
}

// The memory seed's waiter timed its TTL from the time already held, not
// the time left: a lease taken after waiting expired early. Here a waiter
// that waited 600 ms for its lock still holds it for its whole TTL.
func TestSeedLockTTLCountsFromGrant(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	holder, waiter, probe := s.Lock(), s.Lock(), s.Lock()
	if err := holder.Acquire("job", TTL(600*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Acquire("job", TTL(2*time.Second), Wait(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	granted := time.Now()
	time.Sleep(1200 * time.Millisecond) // well inside the 2 s TTL counted from the grant
	if err := probe.Acquire("job", Wait(10*time.Millisecond)); !errors.Is(err, ErrLockTimeout) {
		t.Fatalf("lease ended %v after its grant, before its 2s TTL: %v", time.Since(granted), err)
	}
	// And it does expire: a later Acquire gets it without a Release.
	if err := probe.Acquire("job", Wait(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Release("job"); !errors.Is(err, redislock.ErrNotHeld) {
		t.Fatalf("releasing an expired lease = %v, want ErrNotHeld", err)
	}
	probe.Release("job")
}

func TestLockerFromFacade(t *testing.T) {
	nodes := redistest.Independent(t, 3)
	cs := redistest.Clients(nodes)
	s := New(cs[0], WithNodes(cs[1], cs[2]), WithPrefix(redistest.Prefix(t)))
	l, err := s.Locker()
	if err != nil {
		t.Fatal(err)
	}
	if l.Quorum() != 2 {
		t.Fatalf("quorum %d over 3 nodes", l.Quorum())
	}
	l2, _ := s.Locker()
	if l2 != l {
		t.Fatal("Locker is not shared")
	}
	ctx := t.Context()
	lk, err := l.Acquire(ctx, "x", redislock.AutoRenew())
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.FencedStore()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, "x", lk.Token(), "v"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if lk.Valid() {
		t.Fatal("lock still held after Sync.Close")
	}
	if _, err := s.Locker(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Locker after Close = %v", err)
	}
	if err := s.Lock().Acquire("y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("seed Acquire after Close = %v", err)
	}
}

// A seed Acquire blocked when the facade closes ends with the facade's
// ErrClosed.
func TestSeedLockAcquireCutByClose(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	if err := s.Lock().Acquire("busy", TTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- s.Lock().Acquire("busy") }()
	time.Sleep(50 * time.Millisecond) // it waits
	s.Close()
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("seed Acquire cut by Close = %v, want ErrClosed", err)
	}
}
