package redisleader

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

func TestElectResignHandover(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			// A 30 s lease: only the resign notification can hand over fast.
			slow := []Option{WithLeaseDuration(30 * time.Second), WithRenewDeadline(20 * time.Second), WithRetryPeriod(5 * time.Second)}
			ea := newElector(t, nodes, "g", slow...)
			eb := newElector(t, nodes, "g", slow...)
			watcher := newElector(t, nodes, "g", slow...)
			obs := watcher.Observe(ctx)

			a, err := ea.Campaign(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if a.Term() == 0 || a.ID() != "a" || !a.Valid() {
				t.Fatalf("leadership: term %d id %q valid %v", a.Term(), a.ID(), a.Valid())
			}
			if in := next(t, obs, 10*time.Second); in.ID != "a" || in.Term != a.Term() {
				t.Fatalf("observed %+v, want a at term %d", in, a.Term())
			}
			cur, err := eb.Leader(ctx)
			if err != nil || cur.ID != "a" || cur.Term != a.Term() {
				t.Fatalf("Leader = %+v, %v", cur, err)
			}
			got := make(chan *Leadership, 1)
			go func() {
				ld, err := eb.Campaign(withTimeout(t, 10*time.Second), "b")
				if err != nil {
					t.Error(err)
				}
				got <- ld
			}()
			time.Sleep(100 * time.Millisecond)
			before := time.Now()
			if err := a.Resign(ctx); err != nil {
				t.Fatalf("Resign = %v", err)
			}
			if d := a.Deadline(); d.Before(before) || d.After(time.Now()) {
				t.Fatalf("after Resign, Deadline() = %v from the call, want the moment it ended", d.Sub(before))
			}
			if !errors.Is(context.Cause(a.Context()), ErrResigned) || a.Valid() {
				t.Fatalf("after Resign: cause %v valid %v", context.Cause(a.Context()), a.Valid())
			}
			bl := <-got
			if bl == nil {
				t.FailNow()
			}
			if bl.Term() <= a.Term() {
				t.Fatalf("term went from %d to %d", a.Term(), bl.Term())
			}
			if in := next(t, obs, 10*time.Second); in.ID != "b" || in.Term != bl.Term() {
				t.Fatalf("observed %+v, want b at term %d", in, bl.Term())
			}
			bl.Resign(ctx)
			if _, err := watcher.Leader(ctx); !errors.Is(err, ErrNoLeader) {
				t.Fatalf("Leader after everyone resigned = %v, want ErrNoLeader", err)
			}
		})
	}
}

func TestOptionsValidated(t *testing.T) {
	nodes := miniBackend.nodes(t)
	for name, opts := range map[string][]Option{
		"renew >= lease": {WithLeaseDuration(time.Second), WithRenewDeadline(time.Second)},
		"renew in drift": {WithLeaseDuration(time.Second), WithRenewDeadline(995 * time.Millisecond)},
		"retry >= renew": {WithRenewDeadline(time.Second), WithRetryPeriod(time.Second)},
		"zero retry":     {WithRetryPeriod(0)},
		"tiny lease":     {WithLeaseDuration(time.Millisecond)},
		"bad prefix":     {WithPrefix("a{")},
		"negative renew": {WithRenewDeadline(-time.Second)},
	} {
		if _, err := New(nodes, "g", opts...); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: New = %v, want ErrBadOption", name, err)
		}
	}
	if _, err := New(nodes, ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty group = %v", err)
	}
	if _, err := New(nil, "g"); !errors.Is(err, ErrBadOption) {
		t.Errorf("no nodes = %v", err)
	}
	e := newElector(t, nodes, "g")
	if _, err := e.Campaign(t.Context(), ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty id = %v", err)
	}
	if err := e.Run(t.Context(), "x", Callbacks{}); !errors.Is(err, ErrBadOption) {
		t.Errorf("Run without OnStartedLeading = %v", err)
	}
}

func TestCampaignCancelled(t *testing.T) {
	nodes := oneBackend.nodes(t)
	e := newElector(t, nodes, "g", fast...)
	a, err := e.Campaign(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Resign(t.Context())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.Campaign(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign past its context = %v", err)
	}
}

// A renewal that finds the lease held by someone else ends the leadership
// with ErrLost.
func TestLostLeaseEndsLeadership(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	e := newElector(t, nodes, "g", fast...)
	ld, err := e.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].Set(ctx, e.lease, "intruder:1", time.Second) // taken over (for a second)
	select {
	case <-ld.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("leadership did not end after its lease vanished")
	}
	if !errors.Is(ld.Err(), ErrLost) || !errors.Is(context.Cause(ld.Context()), ErrLost) {
		t.Fatalf("Err %v", ld.Err())
	}
}

// With the only Redis paused, renewals fail: the leader steps down at
// its RenewDeadline, before the lease could expire on Redis.
func TestStepDownBeforeLeaseExpires(t *testing.T) {
	ctx := t.Context()
	node := redistest.Standalone(t)
	e := newElector(t, redistest.Clients([]*redistest.Node{node}), "g", fast...)
	ld, err := e.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond) // a couple of renewals
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	leaseDeadline := ld.lk.Deadline() // the lease cannot expire before this
	select {
	case <-ld.Done():
	case <-time.After(5 * time.Second):
		node.Resume()
		t.Fatal("leader never stepped down while Redis was paused")
	}
	stepped := time.Now()
	node.Resume()
	if !stepped.Before(leaseDeadline) {
		t.Fatalf("stepped down %v after the pause, not before the lease deadline", stepped.Sub(paused))
	}
	if !errors.Is(ld.Err(), ErrLost) {
		t.Fatalf("Err = %v", ld.Err())
	}
}

func TestRunCallbacks(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	e := newElector(t, nodes, "g", fast...)
	other := newElector(t, nodes, "g", fast...)

	t.Run("returns", func(t *testing.T) {
		var started, stopped bool
		var seen []string
		err := e.Run(ctx, "a", Callbacks{
			OnStartedLeading: func(lctx context.Context) { started = lctx.Err() == nil },
			OnStoppedLeading: func() { stopped = true },
			OnNewLeader:      func(in Info) { seen = append(seen, in.ID) },
		})
		if err != nil || !started || !stopped {
			t.Fatalf("Run = %v, started %v stopped %v", err, started, stopped)
		}
		// The leadership was resigned: another candidate is elected now.
		ld, err := other.Campaign(withTimeout(t, 2*time.Second), "b")
		if err != nil {
			t.Fatal(err)
		}
		ld.Resign(ctx)
	})
	t.Run("panics", func(t *testing.T) {
		err := e.Run(ctx, "a", Callbacks{OnStartedLeading: func(context.Context) { panic("boom") }})
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" {
			t.Fatalf("Run = %v, want *PanicError", err)
		}
		ld, err := other.Campaign(withTimeout(t, 2*time.Second), "b")
		if err != nil {
			t.Fatalf("after a panicking leader: %v", err)
		}
		ld.Resign(ctx)
	})
	t.Run("lost", func(t *testing.T) {
		err := e.Run(ctx, "a", Callbacks{OnStartedLeading: func(lctx context.Context) {
			nodes[0].Set(ctx, e.lease, "intruder:1", time.Second) // taken over (for a second)
			<-lctx.Done()
		}})
		if !errors.Is(err, ErrLost) {
			t.Fatalf("Run = %v, want ErrLost", err)
		}
	})
}

// Observers read one node's history; when that node dies they move on
// and still see every later leader.
func TestObserverSurvivesNodeLoss(t *testing.T) {
	ctx := t.Context()
	nodes := redistest.Independent(t, 3)
	clients := redistest.Clients(nodes)
	e := newElector(t, clients, "g", fast...)
	obs := newElector(t, clients, "g", fast...).Observe(ctx)
	var terms []uint64
	for i := range 4 {
		if i == 2 {
			nodes[0].Kill() // the node the observer reads
		}
		ld, err := e.Campaign(withTimeout(t, 10*time.Second), "c")
		if err != nil {
			t.Fatal(err)
		}
		in := next(t, obs, 10*time.Second)
		if in.Term != ld.Term() {
			t.Fatalf("round %d: observed term %d, want %d", i, in.Term, ld.Term())
		}
		terms = append(terms, in.Term)
		ld.Resign(ctx)
	}
	for i := 1; i < len(terms); i++ {
		if terms[i] <= terms[i-1] {
			t.Fatalf("observed terms %v not increasing", terms)
		}
	}
}

func TestCloseResignsAndStops(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	e, err := New(nodes, "g", append([]Option{WithPrefix(redistest.Prefix(t))}, fast...)...)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := e.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	obs := e.Observe(ctx)
	e.Close()
	if !errors.Is(ld.Err(), ErrResigned) {
		t.Fatalf("leadership after Close: %v", ld.Err())
	}
	for range obs {
	} // closed
	if _, err := e.Campaign(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Campaign after Close = %v", err)
	}
	// Same prefix: the next candidate is elected at once (lease 600ms,
	// but resigned), not after the lease.
	other, err := New(nodes, "g", append([]Option{WithPrefix(redistest.Prefix(t))}, fast...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ld2, err := other.Campaign(withTimeout(t, 2*time.Second), "b")
	if err != nil {
		t.Fatalf("lease not released by Close: %v", err)
	}
	if ld2.Term() <= ld.Term() {
		t.Fatalf("term %d after %d", ld2.Term(), ld.Term())
	}
}

// Close with a second candidate of the same Elector campaigning: Close
// resigns the leader, which hands the lease to that candidate; the
// candidate must get ErrClosed (not a leadership already lost), no
// OnElected fires for it, and the lease is free for another Elector.
func TestCloseEndsWaitingCandidate(t *testing.T) {
	ctx := t.Context()
	nodes := oneBackend.nodes(t)
	for i := range 10 {
		var elected atomic.Int32
		e, err := New(nodes, "g", append([]Option{WithPrefix(redistest.Prefix(t)), WithHooks(Hooks{
			OnElected: func(string, string, uint64) { elected.Add(1) },
		})}, fast...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Campaign(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		got := make(chan error, 1)
		go func() {
			ld, err := e.Campaign(ctx, "w")
			if err == nil {
				err = fmt.Errorf("elected (term %d, Err %v)", ld.Term(), ld.Err())
			}
			got <- err
		}()
		time.Sleep(20 * time.Millisecond) // w queues behind a
		e.Close()
		if err := <-got; !errors.Is(err, ErrClosed) {
			t.Fatalf("round %d: waiting Campaign after Close = %v, want ErrClosed", i, err)
		}
		if n := elected.Load(); n != 1 {
			t.Fatalf("round %d: OnElected fired %d times, want once (for a)", i, n)
		}
		other, err := New(nodes, "g", append([]Option{WithPrefix(redistest.Prefix(t))}, fast...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Campaign(withTimeout(t, 300*time.Millisecond), "b"); err != nil {
			t.Fatalf("round %d: lease not free after Close: %v", i, err)
		}
		other.Close()
	}
}
