package redistest

import (
	stdsync "sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// One Redis Cluster (3 masters, 1 replica each) per test binary, started on
// first use: starting one takes seconds. Tests keep apart through unique key
// prefixes; Main stops it after the tests.
var (
	sharedOnce    stdsync.Once
	sharedCluster *RedisCluster
	sharedErr     error
)

// SharedCluster returns a client of the test binary's shared cluster,
// closed when the test ends.
func SharedCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	Require(t)
	sharedOnce.Do(func() { sharedCluster, sharedErr = StartCluster(3, 1) })
	if sharedErr != nil {
		t.Fatalf("cluster unavailable: %v", sharedErr)
	}
	c := sharedCluster.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

// SharedClusterNodes returns the shared cluster's nodes (nil if none was started).
func SharedClusterNodes() *RedisCluster { return sharedCluster }

func stopShared() {
	if sharedCluster != nil {
		sharedCluster.Stop(false)
		sharedCluster = nil
	}
}
