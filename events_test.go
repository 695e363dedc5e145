package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/ntptime"
)

func TestFacadeEventsAndRedisClock(t *testing.T) {
	ctx := t.Context()
	c := redistest.Standalone(t).Client()
	s := New(c, WithPrefix(redistest.Prefix(t)))
	ev, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ev.CreateTopic(ctx, "orders", 4)
	if err != nil {
		t.Fatal(err)
	}
	r, err := topic.Publish(ctx, event.Event{Key: "order-1", Payload: []byte("created")})
	if err != nil || r.Partition != topic.PartitionFor("order-1") {
		t.Fatalf("Publish = %+v, %v", r, err)
	}
	if n, _ := redistest.Admin(t, c).Exists(ctx, topic.StreamKey(r.Partition)).Result(); n != 1 {
		t.Fatalf("stream %s missing: keys are not under the facade's prefix", topic.StreamKey(r.Partition))
	}
	clock, err := s.RedisClock()
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := clock.WaitSynchronized(wctx); err != nil {
		t.Fatal(err)
	}
	if rd := clock.Now(); rd.Status != ntptime.Synchronized || rd.Latest.Sub(rd.Earliest) <= 0 {
		t.Fatalf("reading %+v", rd)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Events after Close = %v", err)
	}
}
