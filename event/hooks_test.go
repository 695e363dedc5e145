package event

import (
	"context"
	"errors"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHooksPublishConsumeAndLag(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			var (
				mu        stdsync.Mutex
				published = map[int]int{} // partition -> events
				consumed  = map[string]int{}
				failed    atomic.Int64
				assigned  atomic.Int64 // client-level OnAssign
				own       atomic.Int64 // the consumer's own OnAssign
			)
			c := newClient(t, b.client(t), WithClientHooks(Hooks{
				OnPublish: func(topic string, r Receipt, err error) {
					if topic != "orders" || err != nil || r.Offset == (Offset{}) {
						t.Errorf("OnPublish(%q, %+v, %v)", topic, r, err)
					}
					mu.Lock()
					published[r.Partition]++
					mu.Unlock()
				},
				OnConsume: func(group string, ev *Event, d time.Duration, err error) {
					if err != nil {
						failed.Add(1)
						return
					}
					mu.Lock()
					consumed[group+"/"+ev.Key]++
					mu.Unlock()
				},
				OnAssign: func(int, uint64, Offset) { assigned.Add(1) },
			}))
			tp := newTopic(t, c, "orders", 2)
			if _, err := tp.PublishBatch(ctx, []Event{{Key: "a"}, {Key: "b"}, {Key: "a"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := tp.Publish(ctx, Event{Key: "b", ID: "x"}); err != nil {
				t.Fatal(err)
			}
			if _, err := tp.Publish(ctx, Event{Key: "a", Payload: make([]byte, DefaultMaxPayload+1)}); !errors.Is(err, ErrPayloadTooLarge) {
				t.Fatalf("oversized Publish = %v", err)
			}
			mu.Lock()
			if pa, pb := tp.PartitionFor("a"), tp.PartitionFor("b"); pa == pb || published[pa] != 2 || published[pb] != 2 {
				t.Fatalf("OnPublish per partition %v, want 2 in a's (%d) and 2 in b's (%d)", published, pa, pb)
			}
			mu.Unlock()
			if lag, err := tp.Lag(ctx, "g"); err != nil || len(lag) != 0 {
				t.Fatalf("Lag of a group that never consumed = %+v, %v", lag, err)
			}

			failOnce := atomic.Bool{}
			cons, err := tp.Consumer("g", func(ctx context.Context, ev *Event) error {
				if ev.Key == "b" && failOnce.CompareAndSwap(false, true) {
					return errors.New("once")
				}
				return nil
			}, WithLease(300*time.Millisecond), WithBackoff(func(int, error) time.Duration { return time.Millisecond }),
				WithHooks(Hooks{OnAssign: func(int, uint64, Offset) { own.Add(1) }}))
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, cons)
			waitFor(t, 10*time.Second, "4 events consumed", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return consumed["g/a"] == 2 && consumed["g/b"] == 2
			})
			waitFor(t, 10*time.Second, "offsets committed", func() bool {
				lag, err := tp.Lag(ctx, "g")
				if err != nil || len(lag) != 2 {
					return false
				}
				for _, l := range lag {
					if l.Committed != l.Last || l.Next != (Offset{}) || l.Behind != 0 {
						return false
					}
				}
				return true
			})
			stop()
			if failed.Load() != 1 {
				t.Fatalf("OnConsume reported %d failures, want 1", failed.Load())
			}
			if assigned.Load() != 2 || own.Load() != 2 {
				t.Fatalf("OnAssign: client hooks %d, consumer hooks %d, want 2 and 2", assigned.Load(), own.Load())
			}

			// The group stopped; new events put it behind.
			r, err := tp.Publish(ctx, Event{Key: "a"})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(30 * time.Millisecond)
			tp.Publish(ctx, Event{Key: "a"})
			lag, err := tp.Lag(ctx, "g")
			if err != nil || len(lag) != 2 {
				t.Fatalf("Lag = %+v, %v", lag, err)
			}
			for _, l := range lag {
				if l.Partition != r.Partition {
					if l.Behind != 0 || l.Next != (Offset{}) {
						t.Errorf("idle partition %+v", l)
					}
					continue
				}
				if l.Next != r.Offset || !l.Committed.Less(l.Next) || !r.Offset.Less(l.Last) || l.Behind < 25*time.Millisecond || l.Behind > 10*time.Second {
					t.Errorf("partition behind: %+v; first new event at %v", l, r.Offset)
				}
			}
			if _, err := tp.Lag(ctx, ""); !errors.Is(err, ErrInvalidGroup) {
				t.Fatalf("Lag with an empty group = %v", err)
			}
		})
	}
}
