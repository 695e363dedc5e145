package metrics

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/redistask"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func TestTaskMetrics(t *testing.T) {
	ctx := t.Context()
	c := startRedis(t)
	m := New()
	reg := registry(t, m)
	p, err := redistask.NewProducer(c, redistask.WithProducerPrefix("taskmetrics"), redistask.WithProducerHooks(m.TaskHooks()))
	if err != nil {
		t.Fatal(err)
	}
	w, err := redistask.NewWorker(c, "emails", redistask.WithWorkerPrefix("taskmetrics"), redistask.WithWorkerHooks(m.TaskHooks()),
		redistask.WithBackoff(func(int, error) time.Duration { return 10 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("welcome", func(context.Context, *redistask.Task) error { return nil })
	w.Handle("flaky", func(context.Context, *redistask.Task) error { return errors.New("smtp down") })
	in, err := redistask.NewInspector(c, redistask.WithInspectorPrefix("taskmetrics"))
	if err != nil {
		t.Fatal(err)
	}
	m.WatchQueues(in, "emails", "reports")

	// Before any worker runs: the queue's lag is what was pushed.
	for range 3 {
		if _, err := p.Push(ctx, "emails", redistask.Task{Name: "welcome"}); err != nil {
			t.Fatal(err)
		}
	}
	p.Push(ctx, "emails", redistask.Task{Name: "flaky", MaxAttempts: 2})
	p.Push(ctx, "emails", redistask.Task{Name: "nobody"})
	p.Push(ctx, "reports", redistask.Task{Name: "daily", Delay: time.Hour})
	p.Push(ctx, "emails", redistask.Task{Name: "welcome", ID: "once"})
	p.Push(ctx, "emails", redistask.Task{Name: "welcome", ID: "once"})
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP gosync_task_queue_lag Ready tasks not yet delivered to any worker.
# TYPE gosync_task_queue_lag gauge
gosync_task_queue_lag{queue="emails"} 6
gosync_task_queue_lag{queue="reports"} 0
# HELP gosync_task_queue_delayed Tasks waiting for their run-at time.
# TYPE gosync_task_queue_delayed gauge
gosync_task_queue_delayed{queue="emails"} 0
gosync_task_queue_delayed{queue="reports"} 1
# HELP gosync_task_pushed_total Tasks pushed, by result: ok, duplicate, error.
# TYPE gosync_task_pushed_total counter
gosync_task_pushed_total{queue="emails",result="duplicate"} 1
gosync_task_pushed_total{queue="emails",result="ok"} 6
gosync_task_pushed_total{queue="reports",result="ok"} 1
`), "gosync_task_queue_lag", "gosync_task_queue_delayed", "gosync_task_pushed_total"); err != nil {
		t.Fatal(err)
	}

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, 10*time.Second, "the flaky task dead and the others processed", func() bool {
		return testutil.ToFloat64(m.taskDead.WithLabelValues("emails", "flaky", "failed")) == 1 &&
			testutil.ToFloat64(m.taskDead.WithLabelValues("emails", "", "unknown-name")) == 1 &&
			testutil.ToFloat64(m.taskProcessed.WithLabelValues("emails", "welcome")) == 4
	})
	for _, tc := range []struct {
		what string
		got  float64
		want float64
	}{
		{"processed flaky", testutil.ToFloat64(m.taskProcessed.WithLabelValues("emails", "flaky")), 2},
		{"failed flaky", testutil.ToFloat64(m.taskFailed.WithLabelValues("emails", "flaky")), 2},
		{"failed welcome", testutil.ToFloat64(m.taskFailed.WithLabelValues("emails", "welcome")), 0},
		{"retried flaky", testutil.ToFloat64(m.taskRetried.WithLabelValues("emails", "flaky")), 1},
		{"pickups", float64(samples(t, reg, "gosync_task_pickup_seconds", map[string]string{"queue": "emails"})), 6},
		{"welcome runs", float64(samples(t, reg, "gosync_task_run_seconds", map[string]string{"queue": "emails", "task": "welcome"})), 4},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	waitFor(t, 5*time.Second, "the queue drained", func() bool {
		lag := find(t, reg, "gosync_task_queue_lag", map[string]string{"queue": "emails"})
		dead := find(t, reg, "gosync_task_queue_dead", map[string]string{"queue": "emails"})
		return lag.GetGauge().GetValue() == 0 && dead.GetGauge().GetValue() == 2
	})
}

// A queue that cannot be read leaves its gauges out and counts a scrape
// error; the scrape timeout bounds a server that never answers (with a
// client that honours context deadlines).
func TestScrapeErrorsAndTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := make(chan struct{})
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		var conns []net.Conn
		for {
			cn, err := l.Accept()
			if err != nil {
				break
			}
			conns = append(conns, cn) // read nothing, answer nothing
		}
		<-silent
		for _, cn := range conns {
			cn.Close()
		}
	}()
	defer func() { l.Close(); close(silent); <-accepted }()
	c := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	in, err := redistask.NewInspector(c)
	if err != nil {
		t.Fatal(err)
	}
	m := New(WithScrapeTimeout(200 * time.Millisecond))
	m.WatchQueues(in, "q")
	start := time.Now()
	if n := testutil.CollectAndCount(m, "gosync_task_queue_lag"); n != 0 {
		t.Fatalf("%d queue_lag series from a silent server", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("scrape took %v with a 200ms scrape timeout", d)
	}
	if got := testutil.ToFloat64(m.scrapeErrors.WithLabelValues("queue")); got != 1 {
		t.Fatalf("scrape errors = %v, want 1", got)
	}
}
