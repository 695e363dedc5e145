package sync

import (
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

func TestSeedLeader(t *testing.T) {
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	l := s.Leader(Group("jobs"))
	follow := l.Follow()

	a, err := l.Elect("a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Id() != "a" || a.Term() == 0 {
		t.Fatalf("elected %q term %d", a.Id(), a.Term())
	}
	if id := recvString(t, follow); id != "a" {
		t.Fatalf("Follow said %q, want a", id)
	}
	// A second candidate blocks, bounded by ElectTimeout.
	if _, err := s.Leader(Group("jobs")).Elect("b", ElectTimeout(200*time.Millisecond)); err == nil {
		t.Fatal("second candidate elected while a leads")
	}
	got := make(chan Elected, 1)
	go func() {
		b, err := s.Leader(Group("jobs")).Elect("b", ElectTimeout(10*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	time.Sleep(100 * time.Millisecond)
	revoked := a.Revoked()
	if err := a.Resign(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	case <-time.After(5 * time.Second):
		t.Fatal("Revoked did not fire after Resign")
	}
	b := <-got
	if b == nil {
		t.FailNow()
	}
	if b.Term() <= a.Term() {
		t.Fatalf("term %d after %d", b.Term(), a.Term())
	}
	if id := recvString(t, follow); id != "b" {
		t.Fatalf("Follow said %q, want b", id)
	}

	// The seed's etcd Revoked never fired on a lost lease: ours does, and
	// Reelect campaigns again.
	c.Set(t.Context(), redistest.Prefix(t)+":leader:{jobs}", "intruder:1", 3*time.Second) // taken over (for a while)
	select {
	case <-b.Revoked():
	case <-time.After(10 * time.Second):
		t.Fatal("Revoked did not fire after the lease was lost")
	}
	if err := b.Reelect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Revoked():
		t.Fatal("a fresh leadership is already revoked")
	default:
	}
	if err := b.Resign(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := l.Elect("c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Elect after Close = %v", err)
	}
	for range follow {
	} // closed by Close
}

func recvString(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received")
	}
	return ""
}
