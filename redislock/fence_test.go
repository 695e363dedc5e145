package redislock

import (
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

func TestFencedStore(t *testing.T) {
	for _, b := range []backend{miniBackend, oneBackend, clusterBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			c := b.nodes(t)[0]
			f, err := NewFencedStore(c, redistest.Prefix(t))
			if err != nil {
				t.Fatal(err)
			}
			if v, tok, err := f.Read(ctx, "acct"); err != nil || v != "" || tok != 0 {
				t.Fatalf("unwritten resource reads %q %d %v", v, tok, err)
			}
			for _, w := range []struct {
				token uint64
				value string
				stale bool
			}{
				{5, "a", false},
				{5, "b", false}, // the same holder writes again
				{7, "c", false},
				{6, "stale", true},
				{1, "stale", true},
				{8, "d", false},
			} {
				err := f.Write(ctx, "acct", w.token, w.value)
				if w.stale != errors.Is(err, ErrStaleToken) || (!w.stale && err != nil) {
					t.Fatalf("Write(token %d) = %v, stale expected %v", w.token, err, w.stale)
				}
			}
			if v, tok, err := f.Read(ctx, "acct"); err != nil || v != "d" || tok != 8 {
				t.Fatalf("Read = %q %d %v, want d 8", v, tok, err)
			}
			if err := f.Write(ctx, "", 1, "x"); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("empty resource = %v", err)
			}
			c.Set(ctx, f.keys.FenceKey("str"), "x", 0)
			if err := f.Write(ctx, "str", 1, "x"); !errors.Is(err, ErrWrongType) {
				t.Fatalf("write to a string key = %v, want ErrWrongType", err)
			}
			if _, _, err := f.Read(ctx, "str"); !errors.Is(err, ErrWrongType) {
				t.Fatalf("read of a string key = %v, want ErrWrongType", err)
			}
		})
	}
}

// A holder paused past its TTL writes with its old token after the next
// holder wrote: the store rejects it.
func TestFencingRejectsStaleHolder(t *testing.T) {
	ctx := t.Context()
	nodes := threeBackend.nodes(t)
	l := newLocker(t, nodes)
	f, err := NewFencedStore(nodes[0], redistest.Prefix(t))
	if err != nil {
		t.Fatal(err)
	}
	old, err := l.Acquire(ctx, "res", TTL(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // "paused" past the TTL
	if old.Valid() {
		t.Fatal("lock valid after its TTL")
	}
	cur, err := newLocker(t, nodes).Acquire(ctx, "res", MaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, "res", cur.Token(), "new"); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(ctx, "res", old.Token(), "old"); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("stale holder's write = %v, want ErrStaleToken", err)
	}
	if v, _, _ := f.Read(ctx, "res"); v != "new" {
		t.Fatalf("register holds %q", v)
	}
}

func TestNewFencedStoreErrors(t *testing.T) {
	if _, err := NewFencedStore(nil, ""); !errors.Is(err, ErrBadOption) {
		t.Fatalf("nil client = %v", err)
	}
	c := miniBackend.nodes(t)[0]
	if _, err := NewFencedStore(c, "a b"); !errors.Is(err, ErrBadOption) {
		t.Fatalf("bad prefix = %v", err)
	}
}
