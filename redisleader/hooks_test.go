package redisleader

import (
	"errors"
	"fmt"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

// hookLog records what Hooks report, as lines.
type hookLog struct {
	mu    stdsync.Mutex
	lines []string
}

func (h *hookLog) add(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, fmt.Sprintf(format, args...))
}

func (h *hookLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		OnElected: func(group, id string, term uint64) { h.add("elected %s %s %d", group, id, term) },
		OnEnded: func(group, id string, term uint64, err error) {
			switch {
			case errors.Is(err, ErrResigned):
				h.add("resigned %s %s %d", group, id, term)
			case errors.Is(err, ErrLost):
				h.add("lost %s %s %d", group, id, term)
			default:
				h.add("ended %s %s %d %v", group, id, term, err)
			}
		},
	}
}

func TestHooks(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			var rec, obs hookLog
			e := newElector(t, nodes, "g", append(fast, WithHooks(rec.hooks()))...)
			watcher := newElector(t, nodes, "g", append(fast, WithHooks(Hooks{
				OnObserve: func(group string, in Info) { obs.add("%s %s %d", group, in.ID, in.Term) },
			}))...)
			ch := watcher.Observe(ctx)

			a, err := e.Campaign(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			next(t, ch, 5*time.Second)
			if err := a.Resign(ctx); err != nil {
				t.Fatal(err)
			}
			bl, err := e.Campaign(ctx, "b")
			if err != nil {
				t.Fatal(err)
			}
			next(t, ch, 5*time.Second)
			// Delete the lease behind the leader's back: its next renewal
			// finds it gone and the leadership is lost.
			if err := nodes[0].Del(ctx, e.lease).Err(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-bl.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("leadership not lost after its lease was deleted")
			}
			want := []string{
				fmt.Sprintf("elected g a %d", a.Term()),
				fmt.Sprintf("resigned g a %d", a.Term()),
				fmt.Sprintf("elected g b %d", bl.Term()),
				fmt.Sprintf("lost g b %d", bl.Term()),
			}
			// OnEnded runs just after Done closes.
			redistest.WaitFor(t, 5*time.Second, "the loss reported", func() bool { return len(rec.get()) == len(want) })
			if got := rec.get(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("hooks reported %q, want %q", got, want)
			}
			wantObs := []string{fmt.Sprintf("g a %d", a.Term()), fmt.Sprintf("g b %d", bl.Term())}
			if got := obs.get(); fmt.Sprint(got) != fmt.Sprint(wantObs) {
				t.Fatalf("OnObserve reported %q, want %q", got, wantObs)
			}
		})
	}
}
