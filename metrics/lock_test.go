package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func TestLockMetrics(t *testing.T) {
	ctx := t.Context()
	c := startRedis(t)
	m := New()
	reg := registry(t, m)
	nodes := []redis.UniversalClient{c}
	l, err := redislock.New(nodes, redislock.WithPrefix("lockmetrics"), redislock.WithHooks(m.LockHooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other, err := redislock.New(nodes, redislock.WithPrefix("lockmetrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	if got := testutil.ToFloat64(m.lockAcquisitions); got != 0 {
		t.Fatalf("acquisitions before any = %v", got)
	}
	lk, err := l.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.lockAcquisitions); got != 1 {
		t.Fatalf("acquisitions = %v, want 1", got)
	}
	ok := map[string]string{"result": "ok"}
	if n := samples(t, reg, "gosync_lock_wait_seconds", ok); n != 1 {
		t.Fatalf("wait histogram (ok) holds %d samples, want 1", n)
	}
	if n := samples(t, reg, "gosync_lock_acquire_latency_seconds", nil); n != 1 {
		t.Fatalf("latency histogram holds %d samples, want 1", n)
	}
	lk.Release(ctx)

	// Held elsewhere: TryAcquire fails at once, Acquire waits out MaxWait.
	held, err := other.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.TryAcquire(ctx, "b"); err == nil {
		t.Fatal("TryAcquire of a held lock succeeded")
	}
	if _, err := l.Acquire(ctx, "b", redislock.MaxWait(100*time.Millisecond)); err == nil {
		t.Fatal("Acquire of a held lock succeeded")
	}
	held.Release(ctx)
	if got := testutil.ToFloat64(m.lockFailures.WithLabelValues("taken")); got != 1 {
		t.Fatalf("failures{taken} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.lockFailures.WithLabelValues("timeout")); got != 1 {
		t.Fatalf("failures{timeout} = %v, want 1", got)
	}
	failed := map[string]string{"result": "failed"}
	if n := samples(t, reg, "gosync_lock_wait_seconds", failed); n != 2 {
		t.Fatalf("wait histogram (failed) holds %d samples, want 2", n)
	}
	if m := find(t, reg, "gosync_lock_wait_seconds", failed); m.GetHistogram().GetSampleSum() < 0.09 {
		t.Fatalf("failed waits sum to %vs, want at least the 100ms MaxWait", m.GetHistogram().GetSampleSum())
	}

	// A lock that runs out is a loss; releasing it then is not_held.
	short, err := l.Acquire(ctx, "c", redislock.TTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	<-short.Done()
	waitFor(t, 5*time.Second, "the loss counted", func() bool { return testutil.ToFloat64(m.lockLosses) == 1 }) // OnLost runs just after Done
	short.Release(ctx)
	if err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP gosync_lock_acquisitions_total Locks acquired.
# TYPE gosync_lock_acquisitions_total counter
gosync_lock_acquisitions_total 2
# HELP gosync_lock_losses_total Held locks found lost (deadline passed without renewal, or taken over).
# TYPE gosync_lock_losses_total counter
gosync_lock_losses_total 1
# HELP gosync_lock_releases_total Release calls, by result: ok, not_held (the lock had expired or was taken over), error.
# TYPE gosync_lock_releases_total counter
gosync_lock_releases_total{result="not_held"} 1
gosync_lock_releases_total{result="ok"} 1
`), "gosync_lock_acquisitions_total", "gosync_lock_losses_total", "gosync_lock_releases_total"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
}

func TestLeaderMetrics(t *testing.T) {
	ctx := t.Context()
	c := startRedis(t)
	m := New(WithNamespace("app"))
	reg := registry(t, m)
	nodes := []redis.UniversalClient{c}
	fast := []redisleader.Option{redisleader.WithPrefix("leadermetrics"), redisleader.WithLeaseDuration(600 * time.Millisecond),
		redisleader.WithRenewDeadline(400 * time.Millisecond), redisleader.WithRetryPeriod(100 * time.Millisecond), redisleader.WithHooks(m.LeaderHooks())}
	e, err := redisleader.New(nodes, "scheduler", fast...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	watcher, err := redisleader.New(nodes, "scheduler", fast...)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	obs := watcher.Observe(ctx)

	gauge := func(name string) float64 {
		t.Helper()
		mt := find(t, reg, name, map[string]string{"group": "scheduler"})
		if mt == nil {
			return -1
		}
		return mt.GetGauge().GetValue()
	}
	transitions := func(what string) float64 {
		return testutil.ToFloat64(m.leaderTransitions.WithLabelValues("scheduler", what))
	}
	ld, err := e.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if gauge("app_leader_term") != float64(ld.Term()) || gauge("app_leader_leading") != 1 || transitions("elected") != 1 {
		t.Fatalf("after election: term %v (want %d), leading %v, elected %v", gauge("app_leader_term"), ld.Term(), gauge("app_leader_leading"), transitions("elected"))
	}
	<-obs
	if err := ld.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if gauge("app_leader_leading") != 0 || transitions("resigned") != 1 {
		t.Fatalf("after Resign: leading %v, resigned %v", gauge("app_leader_leading"), transitions("resigned"))
	}
	// The watcher takes over; then its lease is deleted and it is lost.
	ld2, err := watcher.Campaign(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	<-obs
	waitFor(t, 5*time.Second, "the observer to see b", func() bool {
		return testutil.ToFloat64(m.leaderObserved.WithLabelValues("scheduler")) == 2
	})
	if gauge("app_leader_term") != float64(ld2.Term()) || ld2.Term() <= ld.Term() {
		t.Fatalf("term gauge %v, want the new term %d", gauge("app_leader_term"), ld2.Term())
	}
	// Delete the lease (its key: README, Keys) behind the leader's back.
	if err := c.Del(ctx, "leadermetrics:leader:{scheduler}").Err(); err != nil {
		t.Fatal(err)
	}
	<-ld2.Done()
	waitFor(t, 5*time.Second, "the loss counted", func() bool { return transitions("lost") == 1 }) // OnEnded runs just after Done
	if transitions("lost") != 1 || transitions("elected") != 2 || gauge("app_leader_leading") != 0 {
		t.Fatalf("after a loss: lost %v, elected %v, leading %v", transitions("lost"), transitions("elected"), gauge("app_leader_leading"))
	}
}
