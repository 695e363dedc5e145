package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEventMetrics(t *testing.T) {
	ctx := t.Context()
	c := startRedis(t)
	m := New()
	reg := registry(t, m)
	ec, err := event.New(c, event.WithPrefix("eventmetrics"), event.WithBlock(50*time.Millisecond), event.WithClientHooks(m.EventHooks()))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ec.CreateTopic(ctx, "orders", 2)
	if err != nil {
		t.Fatal(err)
	}
	m.WatchTopic(topic, "billing")
	published := func(result string) float64 {
		return testutil.ToFloat64(m.eventPublished.WithLabelValues("orders", result))
	}
	if _, err := topic.PublishBatch(ctx, []event.Event{{Key: "a"}, {Key: "b"}, {Key: "a"}}); err != nil {
		t.Fatal(err)
	}
	topic.Publish(ctx, event.Event{Key: "b", ID: "b-1"})
	topic.Publish(ctx, event.Event{Key: "b", ID: "b-1"})
	if published("ok") != 4 || published("duplicate") != 1 {
		t.Fatalf("published ok %v, duplicate %v; want 4 and 1", published("ok"), published("duplicate"))
	}
	fenced, err := ec.CreateTopic(ctx, "fenced", 1)
	if err != nil {
		t.Fatal(err)
	}
	fenced.Publish(ctx, event.Event{Key: "c", Fence: event.Fence{Name: "w", Token: 5}})
	if _, err := fenced.Publish(ctx, event.Event{Key: "c", Fence: event.Fence{Name: "w", Token: 3}}); !errors.Is(err, event.ErrStaleToken) {
		t.Fatalf("stale fenced publish = %v", err)
	}
	if ok, stale := testutil.ToFloat64(m.eventPublished.WithLabelValues("fenced", "ok")), testutil.ToFloat64(m.eventPublished.WithLabelValues("fenced", "stale")); ok != 1 || stale != 1 {
		t.Fatalf("fenced topic: published ok %v, stale %v; want 1 and 1", ok, stale)
	}
	// No member of billing has committed yet: no lag series.
	if n := testutil.CollectAndCount(m, "gosync_event_partition_lag_seconds"); n != 0 {
		t.Fatalf("%d lag series before the group consumed", n)
	}

	var failed atomic.Bool
	cons, err := topic.Consumer("billing", func(ctx context.Context, ev *event.Event) error {
		if ev.Key == "b" && failed.CompareAndSwap(false, true) {
			return errors.New("once")
		}
		return nil
	}, event.WithLease(300*time.Millisecond), event.WithBackoff(func(int, error) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(cctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stop()
	consumed := func() float64 { return testutil.ToFloat64(m.eventConsumed.WithLabelValues("orders", "billing")) }
	waitFor(t, 10*time.Second, "4 events consumed", func() bool { return consumed() == 4 })
	if got := testutil.ToFloat64(m.eventErrors.WithLabelValues("orders", "billing")); got != 1 {
		t.Fatalf("handler errors = %v, want 1", got)
	}
	labels := map[string]string{"topic": "orders", "group": "billing"}
	if n := samples(t, reg, "gosync_event_delivery_delay_seconds", labels); n != 4 {
		t.Fatalf("delivery delay holds %d samples, want 4 (first attempts)", n)
	}
	if n := samples(t, reg, "gosync_event_handler_seconds", labels); n != 5 {
		t.Fatalf("handler time holds %d samples, want 5 (every attempt)", n)
	}
	// Caught up: one lag series per partition, at zero.
	waitFor(t, 5*time.Second, "offsets committed", func() bool {
		return testutil.CollectAndCount(m, "gosync_event_partition_lag_seconds") == 2 &&
			find(t, reg, "gosync_event_partition_lag_seconds", map[string]string{"partition": "0"}).GetGauge().GetValue() == 0 &&
			find(t, reg, "gosync_event_partition_lag_seconds", map[string]string{"partition": "1"}).GetGauge().GetValue() == 0
	})
	stop()

	// With the group stopped, new events make its partition fall behind.
	r, err := topic.Publish(ctx, event.Event{Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p := map[string]string{"partition": strconv.Itoa(r.Partition)}
	if lag := find(t, reg, "gosync_event_partition_lag_seconds", p).GetGauge().GetValue(); lag < 0.09 || lag > 10 {
		t.Fatalf("lag of partition %d = %vs, want about 0.1s", r.Partition, lag)
	}
	if got := testutil.ToFloat64(m.scrapeErrors.WithLabelValues("topic")); got != 0 {
		t.Fatalf("scrape errors = %v", got)
	}
}
