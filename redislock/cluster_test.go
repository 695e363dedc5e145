package redislock

import (
	stdsync "sync"
	"testing"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// One Redis Cluster (3 masters, 1 replica each) serves every test of the
// package that asks for one: starting one takes seconds. Tests keep apart
// through unique prefixes; TestMain stops it.
var (
	clusterOnce stdsync.Once
	cluster     *redistest.RedisCluster
	clusterErr  error
)

func sharedCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	redistest.Require(t)
	clusterOnce.Do(func() { cluster, clusterErr = redistest.StartCluster(3, 1) })
	if clusterErr != nil {
		t.Fatalf("cluster unavailable: %v", clusterErr)
	}
	c := cluster.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

func stopSharedCluster() {
	if cluster != nil {
		cluster.Stop(false)
	}
}
