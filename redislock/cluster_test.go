package redislock

import (
	"testing"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// sharedCluster returns a client of the test binary's one Redis Cluster
// (started on first use, stopped by redistest.Main).
func sharedCluster(t *testing.T) *redis.ClusterClient { return redistest.SharedCluster(t) }
