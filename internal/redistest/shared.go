package redistest

import (
	"fmt"
	"os"
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
	t.Cleanup(func() {
		c.Close()
		checkACL(t, sharedCluster.Nodes)
	})
	return c
}

// SharedClusterNodes returns the shared cluster's nodes (nil if none was started).
func SharedClusterNodes() *RedisCluster { return sharedCluster }

// stopShared stops the shared cluster, reporting on stderr, and returning
// false, if its nodes refused the restricted ACL user anything.
func stopShared() bool {
	ok := true
	if sharedCluster != nil {
		var r stderrReporter
		checkACL(&r, sharedCluster.Nodes)
		ok = !r.failed
		sharedCluster.Stop(false)
		sharedCluster = nil
	}
	return ok
}

type stderrReporter struct{ failed bool }

func (*stderrReporter) Helper() {}
func (r *stderrReporter) Errorf(format string, args ...any) {
	r.failed = true
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
