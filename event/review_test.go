package event

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// Tests for defects found by a review; each failed before its fix.

// An event with an ID and no key is deduplicated: the ID picks the
// partition, so a retry lands where the first publish did.
func TestIDWithoutKeyIsDeduplicated(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, oneBackend.client(t))
	tp := newTopic(t, c, "orders", 4)
	first, err := tp.Publish(ctx, Event{ID: "order-42", Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r, err := tp.Publish(ctx, Event{ID: "order-42", Payload: []byte("x")})
		if err != nil || !r.Duplicate || r.Partition != first.Partition || r.Offset != first.Offset {
			t.Fatalf("retry = %+v, %v; want the first receipt %+v as a duplicate", r, err, first)
		}
	}
	rs, err := tp.PublishBatch(ctx, []Event{{ID: "b-1"}, {ID: "b-1"}})
	if err != nil || !rs[1].Duplicate {
		t.Fatalf("batch with one ID twice = %+v, %v", rs, err)
	}
}

// A consumer whose run ends stops at once: no handler call after the
// context ended, and nothing past the last handled event is committed.
func TestConsumerStopsMidBatch(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, oneBackend.client(t))
	tp := newTopic(t, c, "t", 1)
	var evs []Event
	for i := range 50 {
		evs = append(evs, Event{Key: "k", Payload: fmt.Appendf(nil, "%d", i)})
	}
	if _, err := tp.PublishBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	var afterCancel, handled atomic.Int32
	rctx, cancel := context.WithCancel(ctx)
	cons, err := tp.Consumer("g", func(hctx context.Context, ev *Event) error {
		if hctx.Err() != nil {
			afterCancel.Add(1)
		}
		if handled.Add(1) == 5 {
			cancel()
		}
		time.Sleep(5 * time.Millisecond)
		return nil
	}, WithBatch(50))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(rctx) }()
	<-done
	if n := afterCancel.Load(); n > 1 {
		t.Fatalf("%d handler calls after the run's context ended", n)
	}
	if handled.Load() > 6 {
		t.Fatalf("handled %d events after cancelling at the 5th", handled.Load())
	}
}

func TestReviewArgumentErrors(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, miniBackend.client(t))
	tp := newTopic(t, c, "t", 2)
	if err := tp.Subscribe(ctx, Beginning(), nil); !errors.Is(err, ErrBadOption) {
		t.Errorf("Subscribe with a nil handler = %v", err)
	}
	h := func(context.Context, *Event) error { return nil }
	if _, err := tp.Consumer("g", h, WithDeadLetter(nil, 2)); !errors.Is(err, ErrBadOption) {
		t.Errorf("WithDeadLetter(nil) = %v", err)
	}
	if _, err := tp.Consumer("g", h, WithStart(FromOffsets(map[int]Offset{99: {}}))); !errors.Is(err, ErrBadOption) {
		t.Errorf("FromOffsets with partition 99 of 2 = %v", err)
	}
	if err := tp.Subscribe(ctx, FromOffsets(map[int]Offset{-1: {}}), h); !errors.Is(err, ErrBadOption) {
		t.Errorf("Subscribe FromOffsets(-1) = %v", err)
	}
}

// A start time beyond what milliseconds since 1970 hold in an int64 means
// "after every event", not "from the beginning".
func TestFromFarFutureTime(t *testing.T) {
	ctx := t.Context()
	c := newClient(t, miniBackend.client(t))
	tp := newTopic(t, c, "t", 1)
	tp.Publish(ctx, Event{Key: "k", Payload: []byte("old")})
	cur, err := tp.resolve(ctx, 0, FromTime(time.Unix(1<<62, 0)))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := tp.read(ctx, 0, cur, 10, time.Millisecond)
	if err != nil || len(evs) != 0 {
		t.Fatalf("read from a far-future time = %d events, %v", len(evs), err)
	}
}
