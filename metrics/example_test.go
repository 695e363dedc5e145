package metrics_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/metrics"
	"github.com/go-sync/sync/redistask"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Metrics plug into every primitive of a Sync through gosync.WithHooks.
// Serve the registry with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
func Example() {
	mr, _ := miniredis.Run() // any Redis; an embedded one for the example
	defer mr.Close()
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer client.Close()

	m := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	s := gosync.New(client, gosync.WithHooks(m.Hooks()))
	defer s.Close()

	ctx := context.Background()
	locker, _ := s.Locker()
	lk, err := locker.Acquire(ctx, "invoice-42")
	if err != nil {
		panic(err)
	}
	lk.Release(ctx)

	// Queue gauges are read from Redis on each scrape.
	inspector, _ := s.Inspector()
	m.WatchQueues(inspector, "emails")
	producer, _ := s.Producer()
	producer.Push(ctx, "emails", redistask.Task{Name: "welcome"})

	families, _ := reg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "gosync_lock_acquisitions_total", "gosync_lock_releases_total":
			fmt.Println(f.GetName(), f.GetMetric()[0].GetCounter().GetValue())
		case "gosync_task_queue_lag":
			fmt.Println(f.GetName(), f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	// Output:
	// gosync_lock_acquisitions_total 1
	// gosync_lock_releases_total 1
	// gosync_task_queue_lag 1
}
