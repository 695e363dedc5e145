package redisleader

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { redistest.Main(m, nil) }

type backend struct {
	name  string
	nodes func(t *testing.T) []redis.UniversalClient
}

var (
	miniBackend = backend{"miniredis", func(t *testing.T) []redis.UniversalClient {
		m := miniredis.RunT(t)
		m.ClockTTL(true)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { c.Close() })
		return []redis.UniversalClient{c}
	}}
	oneBackend = backend{"1-node", func(t *testing.T) []redis.UniversalClient {
		return []redis.UniversalClient{redistest.Standalone(t).Client()}
	}}
	threeBackend = backend{"3-nodes", func(t *testing.T) []redis.UniversalClient {
		return redistest.Clients(redistest.Independent(t, 3))
	}}
	clusterBackend = backend{"cluster", func(t *testing.T) []redis.UniversalClient {
		return []redis.UniversalClient{sharedCluster(t)}
	}}
	allBackends = []backend{miniBackend, oneBackend, threeBackend, clusterBackend}
)

func sharedCluster(t *testing.T) *redis.ClusterClient { return redistest.SharedCluster(t) }

// fast timings for tests: lease 600ms, renew deadline 400ms, retry 100ms.
var fast = []Option{WithLeaseDuration(600 * time.Millisecond), WithRenewDeadline(400 * time.Millisecond), WithRetryPeriod(100 * time.Millisecond)}

func newElector(t *testing.T, nodes []redis.UniversalClient, group string, opts ...Option) *Elector {
	t.Helper()
	opts = append([]Option{WithPrefix(redistest.Prefix(t))}, opts...)
	e, err := New(nodes, group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// next reads one Info from ch within d.
func next(t *testing.T, ch <-chan Info, d time.Duration) Info {
	t.Helper()
	select {
	case in, ok := <-ch:
		if !ok {
			t.Fatal("observer channel closed")
		}
		return in
	case <-time.After(d):
		t.Fatalf("no leader change observed within %v", d)
	}
	return Info{}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
