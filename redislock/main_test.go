package redislock

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { redistest.Main(m, nil) }

// backend is a node set a test runs against.
type backend struct {
	name  string
	nodes func(t *testing.T) []redis.UniversalClient
}

var (
	miniBackend = backend{"miniredis", func(t *testing.T) []redis.UniversalClient {
		m := miniredis.RunT(t)
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
	realBackends = []backend{oneBackend, threeBackend, clusterBackend}
	allBackends  = []backend{miniBackend, oneBackend, threeBackend, clusterBackend}
)

func newLocker(t *testing.T, nodes []redis.UniversalClient, opts ...Option) *Locker {
	t.Helper()
	opts = append([]Option{WithPrefix(redistest.Prefix(t))}, opts...)
	l, err := New(nodes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
