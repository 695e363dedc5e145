package event

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// streamValues returns the payloads of partition p, in order.
func streamValues(t *testing.T, rdb redis.UniversalClient, tp *Topic, p int) []string {
	t.Helper()
	msgs, err := rdb.XRange(t.Context(), tp.StreamKey(p), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, m := range msgs {
		vs = append(vs, fmt.Sprint(m.Values["v"]))
	}
	return vs
}

func TestFencedPublish(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb, WithDedupeWindow(time.Minute)), "fenced", 4)
			p := tp.PartitionFor("acct")
			pub := func(v string, f Fence, id string) (Receipt, error) {
				return tp.Publish(ctx, Event{Key: "acct", Payload: []byte(v), Fence: f, ID: id})
			}
			w := func(tok uint64) Fence { return Fence{Name: "writer", Token: tok} }
			for _, step := range []struct {
				v     string
				f     Fence
				id    string
				stale bool
			}{
				{"a5", w(5), "", false},
				{"b5", w(5), "", false},     // the same holder again
				{"c3", w(3), "", true},      // an older holder
				{"d7", w(7), "id-d", false}, // a newer one, with an ID
				{"e5", w(5), "", true},
				{"f1", Fence{Name: "other", Token: 1}, "", false}, // another fence
				{"g-", Fence{}, "", false},                        // unfenced
				{"h10", w(10), "", false},
			} {
				r, err := pub(step.v, step.f, step.id)
				if step.stale {
					if !errors.Is(err, ErrStaleToken) || r.Offset != (Offset{}) {
						t.Fatalf("publish %s with a stale token = %+v, %v; want ErrStaleToken and no offset", step.v, r, err)
					}
					continue
				}
				if err != nil || r.Offset == (Offset{}) || r.Partition != p {
					t.Fatalf("publish %s = %+v, %v", step.v, r, err)
				}
			}
			// A retry of an accepted publish is a duplicate, even with a
			// token that is stale by now.
			if r, err := pub("d7", w(7), "id-d"); err != nil || !r.Duplicate {
				t.Fatalf("retry of an accepted fenced publish = %+v, %v; want a duplicate", r, err)
			}
			want := []string{"a5", "b5", "d7", "f1", "g-", "h10"}
			if got := streamValues(t, rdb, tp, p); !slices.Equal(got, want) {
				t.Fatalf("partition holds %v, want %v", got, want)
			}
			// The fence is per partition: another partition has not seen
			// token 10.
			q := (p + 1) % tp.Partitions()
			key := keyFor(t, tp, q)
			if _, err := tp.Publish(ctx, Event{Key: key, Payload: []byte("x"), Fence: w(2)}); err != nil {
				t.Fatalf("publish on another partition = %v", err)
			}
			// In a batch, a stale event fails alone.
			rs, err := tp.PublishBatch(ctx, []Event{
				{Key: "acct", Payload: []byte("i10"), Fence: w(10)},
				{Key: "acct", Payload: []byte("j9"), Fence: w(9)},
				{Key: "acct", Payload: []byte("k11"), Fence: w(11)},
			})
			if !errors.Is(err, ErrStaleToken) || rs[0].Offset == (Offset{}) || rs[1].Offset != (Offset{}) || rs[2].Offset == (Offset{}) {
				t.Fatalf("batch with one stale event = %+v, %v", rs, err)
			}
			want = append(want, "i10", "k11")
			if got := streamValues(t, rdb, tp, p); !slices.Equal(got, want) {
				t.Fatalf("partition holds %v, want %v", got, want)
			}
			// A corrupt fence is reported, and nothing is appended.
			if err := redistest.Admin(t, rdb).HSet(ctx, tp.fencesKey(p), "writer", "garbage").Err(); err != nil {
				t.Fatal(err)
			}
			if _, err := pub("z", w(12), ""); !errors.Is(err, ErrWrongType) {
				t.Fatalf("publish with a corrupt fence = %v, want ErrWrongType", err)
			}
			if got := streamValues(t, rdb, tp, p); !slices.Equal(got, want) {
				t.Fatalf("partition holds %v after the corrupt fence, want %v", got, want)
			}
		})
	}
}

// keyFor returns a key that goes to partition p.
func keyFor(t *testing.T, tp *Topic, p int) string {
	for i := range 10000 {
		if k := fmt.Sprint("k", i); tp.PartitionFor(k) == p {
			return k
		}
	}
	t.Fatalf("no key for partition %d", p)
	return ""
}

// A lock holder paused past its lease publishes after its successor did:
// the fence rejects it, so consumers never see the deposed holder's event
// after the new holder's.
func TestFencedPublishDeposedHolder(t *testing.T) {
	ctx := t.Context()
	node := redistest.Standalone(t)
	rdb := node.Client()
	t.Cleanup(func() { rdb.Close() })
	tp := newTopic(t, newClient(t, rdb), "ledger", 2)
	locker, err := redislock.New([]redis.UniversalClient{rdb}, redislock.WithPrefix(prefix(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	publish := func(lk *redislock.Lock, v string) error {
		_, err := tp.Publish(ctx, Event{Key: "ledger", Payload: []byte(v), Fence: Fence{Name: "ledger-writer", Token: lk.Token()}})
		return err
	}
	old, err := locker.Acquire(ctx, "ledger", redislock.TTL(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := publish(old, "old-1"); err != nil {
		t.Fatal(err)
	}
	// The old holder stalls past its TTL (a GC pause, say): by the time it
	// goes on, a new holder has the lock and has published.
	newer, err := locker.Acquire(ctx, "ledger", redislock.TTL(time.Minute), redislock.MaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if old.Valid() || newer.Token() <= old.Token() {
		t.Fatalf("setup: old valid %v, tokens %d then %d", old.Valid(), old.Token(), newer.Token())
	}
	if err := publish(newer, "new-1"); err != nil {
		t.Fatal(err)
	}
	if err := publish(old, "old-2"); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("the deposed holder's publish = %v, want ErrStaleToken", err)
	}
	if got, want := streamValues(t, rdb, tp, tp.PartitionFor("ledger")), []string{"old-1", "new-1"}; !slices.Equal(got, want) {
		t.Fatalf("stream %v, want %v", got, want)
	}
}
