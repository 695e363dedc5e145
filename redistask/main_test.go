package redistask

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/keys"
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
		return redistest.Standalone(t).Client()
	}}
	clusterBackend = backend{"cluster", func(t *testing.T) redis.UniversalClient { return sharedCluster(t) }}
	allBackends    = []backend{miniBackend, oneBackend, clusterBackend}
)

func sharedCluster(t *testing.T) *redis.ClusterClient { return redistest.SharedCluster(t) }

func prefix(t *testing.T) string { return redistest.Prefix(t) }

func newProducer(t *testing.T, c redis.UniversalClient, opts ...ProducerOption) *Producer {
	t.Helper()
	p, err := NewProducer(c, append([]ProducerOption{WithProducerPrefix(prefix(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newWorker(t *testing.T, c redis.UniversalClient, queue string, opts ...WorkerOption) *Worker {
	t.Helper()
	w, err := NewWorker(c, queue, append([]WorkerOption{WithWorkerPrefix(prefix(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// runWorker runs w until the test ends (or stop is called) and checks Run's result.
func runWorker(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	return redistest.Run(t, w.Run)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	redistest.WaitFor(t, d, what, cond)
}

func keysFor(t *testing.T) keys.Space { return keys.Must(prefix(t)) }
