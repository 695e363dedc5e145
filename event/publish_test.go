package event

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/redis/go-redis/v9"
)

func TestArgumentErrors(t *testing.T) {
	rdb := miniBackend.client(t)
	c := newClient(t, rdb, WithMaxPayload(8))
	ctx := t.Context()
	tp := newTopic(t, c, "orders", 4)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil client", func() error { _, err := New(nil); return err }(), ErrBadOption},
		{"bad prefix", func() error { _, err := New(rdb, WithPrefix("a{b")); return err }(), ErrBadOption},
		{"zero payload limit", func() error { _, err := New(rdb, WithMaxPayload(0)); return err }(), ErrBadOption},
		{"negative replicas", func() error { _, err := New(rdb, WithReplicas(-1, time.Second)); return err }(), ErrBadOption},
		{"replicas without timeout", func() error { _, err := New(rdb, WithReplicas(1, 0)); return err }(), ErrBadOption},
		{"empty topic", func() error { _, err := c.CreateTopic(ctx, "", 1); return err }(), ErrInvalidTopic},
		{"topic with slash", func() error { _, err := c.CreateTopic(ctx, "a/b", 1); return err }(), ErrInvalidTopic},
		{"topic with brace", func() error { _, err := c.CreateTopic(ctx, "a}", 1); return err }(), ErrInvalidTopic},
		{"zero partitions", func() error { _, err := c.CreateTopic(ctx, "x", 0); return err }(), ErrInvalidPartitions},
		{"negative partitions", func() error { _, err := c.CreateTopic(ctx, "x", -3); return err }(), ErrInvalidPartitions},
		{"too many partitions", func() error { _, err := c.CreateTopic(ctx, "x", MaxPartitions+1); return err }(), ErrInvalidPartitions},
		{"partition mismatch", func() error { _, err := c.CreateTopic(ctx, "orders", 5); return err }(), ErrPartitionMismatch},
		{"unknown topic", func() error { _, err := c.OpenTopic(ctx, "nope"); return err }(), ErrTopicNotFound},
		{"oversized payload", func() error { _, err := tp.Publish(ctx, Event{Key: "k", Payload: make([]byte, 9)}); return err }(), ErrPayloadTooLarge},
		{"oversized in batch", func() error {
			_, err := tp.PublishBatch(ctx, []Event{{Key: "a"}, {Key: "k", Payload: make([]byte, 9)}})
			return err
		}(), ErrPayloadTooLarge},
		{"empty group", func() error {
			_, err := tp.Consumer("", func(_ context.Context, ev *Event) error { return nil })
			return err
		}(), ErrInvalidGroup},
		{"group with colon", func() error {
			_, err := tp.Consumer("a:b", func(_ context.Context, ev *Event) error { return nil })
			return err
		}(), ErrInvalidGroup},
		{"nil handler", func() error { _, err := tp.Consumer("g", nil); return err }(), ErrBadOption},
		{"short lease", func() error {
			_, err := tp.Consumer("g", func(_ context.Context, ev *Event) error { return nil }, WithLease(time.Millisecond))
			return err
		}(), ErrBadOption},
		{"dead letter to itself", func() error {
			_, err := tp.Consumer("g", func(_ context.Context, ev *Event) error { return nil }, WithDeadLetter(tp, 3))
			return err
		}(), ErrBadOption},
		{"fence without token", func() error { _, err := tp.Publish(ctx, Event{Key: "k", Fence: Fence{Name: "w"}}); return err }(), ErrBadOption},
		{"fence token without name", func() error { _, err := tp.Publish(ctx, Event{Key: "k", Fence: Fence{Token: 3}}); return err }(), ErrBadOption},
		{"negative retention", func() error { _, err := tp.Trim(ctx, Retention{MaxLen: -1}); return err }(), ErrBadOption},
		{"bad offset", func() error { _, err := ParseOffset("12"); return err }(), ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("err = %v, want %v", tt.err, tt.want)
			}
			if !strings.HasPrefix(tt.err.Error(), "event: ") {
				t.Fatalf("error %q lacks the package prefix", tt.err)
			}
		})
	}
	// Nothing was published by the failed calls.
	for p := range tp.Partitions() {
		if n := rdb.XLen(ctx, tp.StreamKey(p)).Val(); n != 0 {
			t.Fatalf("partition %d holds %d events", p, n)
		}
	}
	// A key holding another type is reported as ErrWrongType.
	rdb.Set(ctx, tp.StreamKey(tp.PartitionFor("w")), "x", 0)
	if _, err := tp.Publish(ctx, Event{Key: "w"}); !errors.Is(err, ErrWrongType) {
		t.Fatalf("publish onto a string: %v", err)
	}
}

func TestPartitionKeysSpreadOverSlots(t *testing.T) {
	c := newClient(t, miniBackend.client(t))
	tp := newTopic(t, c, "orders", 16)
	slots := map[int]bool{}
	for p := range 16 {
		k := tp.StreamKey(p)
		// Every per-partition key shares the stream's slot.
		for _, other := range []string{tp.dedupeKey(p, "id{x}"), tp.offsetsKey(p), tp.tokensKey(p), tp.fencesKey(p)} {
			if keys.Slot(other) != keys.Slot(k) {
				t.Fatalf("%s and %s in different slots", other, k)
			}
		}
		slots[keys.Slot(k)] = true
		if want := fmt.Sprintf("%s:event:{orders/%d}", prefix(t), p); k != want {
			t.Fatalf("key %q, want %q", k, want)
		}
	}
	if len(slots) < 14 {
		t.Fatalf("16 partitions on only %d slots", len(slots))
	}
	// The three masters of a default 3-master cluster all get partitions.
	ranges := map[int]bool{}
	for s := range slots {
		ranges[s*3/keys.SlotCount] = true
	}
	if len(ranges) != 3 {
		t.Fatalf("partitions cover %d of 3 slot ranges", len(ranges))
	}
}

func TestPartitionForIsFNV1a(t *testing.T) {
	c := newClient(t, miniBackend.client(t))
	tp := newTopic(t, c, "t", 1000)
	// FNV-1a 32 of "a" is 0xe40c292c = 3826002220.
	if got := tp.PartitionFor("a"); got != 3826002220%1000 {
		t.Fatalf("PartitionFor(a) = %d", got)
	}
}

func TestPublishBatchOrder(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb), "orders", 6)
			seq := map[string]int{}
			evs := keyed(300, 7, seq)
			evs[5].ID, evs[6].ID = "id-5", "id-6" // mixed with idempotent ones
			rs, err := tp.PublishBatch(ctx, evs)
			if err != nil {
				t.Fatal(err)
			}
			last := map[string]Offset{}
			for i, r := range rs {
				if r.Partition != tp.PartitionFor(evs[i].Key) || r.Offset == (Offset{}) || r.Duplicate {
					t.Fatalf("receipt %d = %+v", i, r)
				}
				if !last[evs[i].Key].Less(r.Offset) {
					t.Fatalf("key %s: offset %v not after %v", evs[i].Key, r.Offset, last[evs[i].Key])
				}
				last[evs[i].Key] = r.Offset
			}
			// What is stored is what was published.
			r := rs[5]
			got, err := rdb.XRange(ctx, tp.StreamKey(r.Partition), r.Offset.String(), r.Offset.String()).Result()
			if err != nil || len(got) != 1 || got[0].Values["v"] != string(evs[5].Payload) || got[0].Values["i"] != "id-5" {
				t.Fatalf("stored %v, %v", got, err)
			}
		})
	}
}

func TestIdempotentPublishUnderRetries(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			rdb := b.client(t)
			tp := newTopic(t, newClient(t, rdb, WithDedupeWindow(time.Minute)), "pay", 4)
			// A producer retries every publish 3 times (as after timeouts),
			// singly and in batches, concurrently.
			const n = 50
			errc := make(chan error, 8)
			for w := range 4 {
				go func() {
					for i := range n {
						ev := Event{Key: fmt.Sprintf("acct%d", i%5), Payload: []byte{byte(i)}, ID: fmt.Sprintf("producer-1/%d", i)}
						var err error
						if w%2 == 0 {
							_, err = tp.Publish(ctx, ev)
						} else {
							_, err = tp.PublishBatch(ctx, []Event{ev, ev})
						}
						if err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
			}
			for range 4 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			total := int64(0)
			for p := range tp.Partitions() {
				total += rdb.XLen(ctx, tp.StreamKey(p)).Val()
			}
			if total != n {
				t.Fatalf("%d events stored, want %d", total, n)
			}
			first, err := tp.Publish(ctx, Event{Key: "acct0", ID: "producer-1/0"})
			if err != nil || !first.Duplicate {
				t.Fatalf("republish = %+v, %v", first, err)
			}
		})
	}
}

func TestDedupeWindowExpires(t *testing.T) {
	rdb := oneBackend.client(t)
	ctx := t.Context()
	tp := newTopic(t, newClient(t, rdb, WithDedupeWindow(50*time.Millisecond)), "pay", 2)
	a, err := tp.Publish(ctx, Event{Key: "x", ID: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	b, err := tp.Publish(ctx, Event{Key: "x", ID: "m1"})
	if err != nil || b.Duplicate || b.Offset == a.Offset {
		t.Fatalf("after the window: %+v, %v", b, err)
	}
}

func TestReplicasWait(t *testing.T) {
	t.Run("standalone without replicas", func(t *testing.T) {
		rdb := oneBackend.client(t)
		tp := newTopic(t, newClient(t, rdb, WithReplicas(1, 20*time.Millisecond)), "d", 2)
		r, err := tp.Publish(t.Context(), Event{Key: "k", Payload: []byte("v")})
		if !errors.Is(err, ErrNotReplicated) || r.Offset == (Offset{}) {
			t.Fatalf("Publish = %+v, %v; want a receipt and ErrNotReplicated", r, err)
		}
	})
	t.Run("cluster with a replica per master", func(t *testing.T) {
		rdb := clusterBackend.client(t)
		tp := newTopic(t, newClient(t, rdb, WithReplicas(1, 2*time.Second)), "d", 6)
		seq := map[string]int{}
		rs, err := tp.PublishBatch(t.Context(), keyed(60, 12, seq))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			if r.Offset == (Offset{}) {
				t.Fatalf("receipt %d empty", i)
			}
		}
	})
	t.Run("needs a concrete client", func(t *testing.T) {
		ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
		defer ring.Close()
		if _, err := New(ring, WithReplicas(1, time.Second)); !errors.Is(err, ErrBadOption) {
			t.Fatalf("New(ring) = %v", err)
		}
	})
}
