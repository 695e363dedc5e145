package event

import (
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { redistest.Main(m, nil) }

type backend struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
}

var (
	miniBackend = backend{"miniredis", func(t *testing.T) redis.UniversalClient {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { c.Close() })
		return c
	}}
	oneBackend = backend{"redis", func(t *testing.T) redis.UniversalClient {
		c := redistest.Standalone(t).Client()
		t.Cleanup(func() { c.Close() })
		return c
	}}
	clusterBackend = backend{"cluster", func(t *testing.T) redis.UniversalClient { return sharedCluster(t) }}
	allBackends    = []backend{miniBackend, oneBackend, clusterBackend}
	realBackends   = []backend{oneBackend, clusterBackend}
)

func sharedCluster(t *testing.T) *redis.ClusterClient { return redistest.SharedCluster(t) }

// prefix returns a key prefix unique to the test (and to the run), the
// same on every call within the test.
func prefix(t *testing.T) string { return redistest.Prefix(t) }

func newClient(t *testing.T, rdb redis.UniversalClient, opts ...Option) *Client {
	t.Helper()
	c, err := New(rdb, append([]Option{WithPrefix(prefix(t)), WithBlock(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTopic(t *testing.T, c *Client, name string, partitions int) *Topic {
	t.Helper()
	tp, err := c.CreateTopic(t.Context(), name, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// run runs c until stop is called or the test ends, and checks Run's result.
func run(t *testing.T, c *Consumer) (stop func()) {
	t.Helper()
	return redistest.Run(t, c.Run)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	redistest.WaitFor(t, d, what, cond)
}

// keyed returns n events over k keys, payload "<key>:<seq>", seq counted
// per key from start[key].
func keyed(n, k int, seq map[string]int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		key := fmt.Sprintf("k%d", i%k)
		seq[key]++
		evs[i] = Event{Key: key, Payload: fmt.Appendf(nil, "%s:%d", key, seq[key])}
	}
	return evs
}
