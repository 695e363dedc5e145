package sync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }

func miniClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Fatalf("panic %v, want one mentioning %q", r, want)
		}
	}()
	f()
}

func TestNewRejectsProgrammerMistakes(t *testing.T) {
	c := miniClient(t)
	mustPanic(t, "nil redis client", func() { New(nil) })
	mustPanic(t, "invalid prefix", func() { New(c, WithPrefix("")) })
	mustPanic(t, "invalid prefix", func() { New(c, WithPrefix("a{b}")) })
	other := miniClient(t)
	mustPanic(t, "node 1 is nil", func() { New(c, WithNodes(other, nil)) })
	var typedNil *redis.Client
	mustPanic(t, "nil redis client", func() { New(typedNil) })
	mustPanic(t, "node 0 is nil", func() { New(c, WithNodes(typedNil)) })
	mustPanic(t, "same client", func() { New(c, WithNodes(c)) })
	mustPanic(t, "same client", func() { New(c, WithNodes(other, other)) })
	if s := New(c, nil); s.Prefix() != "sync" {
		t.Fatal("a nil option changed the prefix")
	}
}

func TestNewDefaults(t *testing.T) {
	c := miniClient(t)
	s := New(c)
	if s.Prefix() != "sync" {
		t.Errorf("Prefix = %q, want sync", s.Prefix())
	}
	if s.Client() != c || len(s.Nodes()) != 1 {
		t.Errorf("Nodes = %d, want the client alone", len(s.Nodes()))
	}
	if s.Logger() == nil {
		t.Errorf("nil default logger")
	}
	now, err := s.Time().Now()
	if err != nil || time.Since(now) > time.Minute || time.Since(now) < 0 {
		t.Errorf("Time().Now() = %v, %v", now, err)
	}
	other := miniClient(t)
	if s := New(c, WithNodes(other), WithPrefix("app")); len(s.Nodes()) != 2 || s.Nodes()[1] != other || s.Prefix() != "app" {
		t.Errorf("options not applied: %d nodes, prefix %q", len(s.Nodes()), s.Prefix())
	}
}

type fixedClock struct{ t time.Time }

func (f fixedClock) Now() (time.Time, error) { return f.t, nil }

func TestWithClock(t *testing.T) {
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New(miniClient(t), WithClock(fixedClock{at}))
	if got, _ := s.Time().Now(); !got.Equal(at) {
		t.Fatalf("Now = %v, want %v", got, at)
	}
}

func TestCloseRunsClosersInReverseOnce(t *testing.T) {
	s := New(miniClient(t))
	var order []int
	boom := errors.New("boom")
	for i := range 3 {
		if err := s.own(func() error {
			order = append(order, i)
			if i == 1 {
				return boom
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want boom", err)
	}
	if len(order) != 3 || order[0] != 2 || order[2] != 0 {
		t.Fatalf("closers ran in order %v, want [2 1 0]", order)
	}
	if err := s.Close(); err != nil || len(order) != 3 {
		t.Fatalf("second Close = %v, ran %v", err, order)
	}
	if err := s.own(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("own after Close = %v, want ErrClosed", err)
	}
}

func TestClientIsNeverClosed(t *testing.T) {
	c := miniClient(t)
	s := New(c)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("client unusable after Sync.Close: %v", err)
	}
}
