package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Option changes the Config of the servers a helper starts.
type Option func(*Config)

// WithAOF turns on the append-only file with the given appendfsync policy
// ("always", "everysec" or "no").
func WithAOF(fsync string) Option {
	return func(c *Config) { c.AOF, c.Fsync = true, fsync }
}

// WithACL gives the server the restricted ACL user and makes Client log in
// as it, as GO_SYNC_ACL=1 does for every server (see ACLEnv).
func WithACL() Option { return func(c *Config) { c.ACL = true } }

// WithTLS makes the server speak TLS only (see TLS).
func WithTLS(t *TLS) Option { return func(c *Config) { c.TLS = t } }

// WithArgs adds redis-server arguments.
func WithArgs(args ...string) Option {
	return func(c *Config) { c.Args = append(c.Args, args...) }
}

// Require skips the test when redis-server is missing, or fails it when
// REDIS_REQUIRED=1.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("REDIS_REQUIRED") == "1" {
			t.Fatalf("REDIS_REQUIRED=1 but %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

func startForTest(t testing.TB, cfg Config) *Node {
	t.Helper()
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = dir
	n, err := StartServer(cfg)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkACL(t, []*Node{n})
		failed := t.Failed()
		if failed {
			t.Logf("redis-server %s (dir %s kept), last log lines:\n%s", n.Addr, n.Dir, n.LogTail(30))
		}
		n.Stop(failed)
	})
	return n
}

// Standalone starts one redis-server for the test.
func Standalone(t testing.TB, opts ...Option) *Node {
	t.Helper()
	Require(t)
	var cfg Config
	for _, o := range opts {
		o(&cfg)
	}
	return startForTest(t, cfg)
}

// Independent starts n unrelated masters, as Redlock wants.
func Independent(t testing.TB, n int, opts ...Option) []*Node {
	t.Helper()
	Require(t)
	var cfg Config
	for _, o := range opts {
		o(&cfg)
	}
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = startForTest(t, cfg)
	}
	return nodes
}

// Clients returns one client per node, closed when the test ends.
func Clients(nodes []*Node) []redis.UniversalClient {
	cs := make([]redis.UniversalClient, len(nodes))
	for i, n := range nodes {
		cs[i] = n.Client()
	}
	return cs
}

// RedisCluster is a running Redis Cluster.
type RedisCluster struct {
	Nodes []*Node
}

// Cluster starts masters*(1+replicasPerMaster) cluster-enabled servers and
// joins them with `redis-cli --cluster create`. masters must be at least 3.
// It returns once every node reports cluster_state:ok and every replica is
// in sync. The cluster is stopped when the test ends.
func Cluster(t testing.TB, masters, replicasPerMaster int, opts ...Option) *RedisCluster {
	t.Helper()
	Require(t)
	rc, err := StartCluster(masters, replicasPerMaster, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkACL(t, rc.Nodes)
		failed := t.Failed()
		if failed {
			for _, n := range rc.Nodes {
				t.Logf("cluster node %s (dir %s kept), last log lines:\n%s", n.Addr, n.Dir, n.LogTail(15))
			}
		}
		rc.Stop(failed)
	})
	return rc
}

// StartCluster is Cluster for callers without a testing.TB (benchmarks, a
// package's TestMain); the caller must call Stop.
func StartCluster(masters, replicasPerMaster int, opts ...Option) (*RedisCluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("redistest: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	cfg := Config{Cluster: true}
	for _, o := range opts {
		o(&cfg)
	}
	total := masters * (1 + replicasPerMaster)
	rc := &RedisCluster{}
	args := []string{"--cluster", "create"}
	for range total {
		c := cfg
		n, err := StartServer(c)
		if err != nil {
			rc.Stop(false)
			return nil, err
		}
		rc.Nodes = append(rc.Nodes, n)
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		return nil, rc.failed(fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out))
	}
	if err := rc.WaitHealthy(30 * time.Second); err != nil {
		return nil, rc.failed(err)
	}
	return rc, nil
}

// failed stops the nodes of a cluster that could not be formed, keeping
// their directories, and adds the log tails to err.
func (rc *RedisCluster) failed(err error) error {
	var b strings.Builder
	b.WriteString(err.Error())
	for _, n := range rc.Nodes {
		fmt.Fprintf(&b, "\n--- %s (dir %s kept):\n%s", n.Addr, n.Dir, n.LogTail(10))
	}
	rc.Stop(true)
	return errors.New(b.String())
}

// Stop kills every node; their directories are kept if keepDirs is set.
func (rc *RedisCluster) Stop(keepDirs bool) {
	for _, n := range rc.Nodes {
		n.Stop(keepDirs)
	}
}

// Client returns a new cluster client; the caller closes it. It logs in
// as the restricted ACL user when the nodes have one (see ACLEnv).
func (rc *RedisCluster) Client() *redis.ClusterClient {
	o := rc.options()
	if len(rc.Nodes) > 0 && rc.Nodes[0].cfg.ACL {
		o.Username, o.Password = ACLUser, ACLPassword
	}
	return redis.NewClusterClient(o)
}

// AdminClient returns a new cluster client as the default user, which may
// do anything; the caller closes it.
func (rc *RedisCluster) AdminClient() *redis.ClusterClient {
	return redis.NewClusterClient(rc.options())
}

func (rc *RedisCluster) options() *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:       rc.Addrs(),
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	}
}

// Addrs returns the addresses of all nodes.
func (rc *RedisCluster) Addrs() []string {
	a := make([]string, len(rc.Nodes))
	for i, n := range rc.Nodes {
		a[i] = n.Addr
	}
	return a
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all 16384 slots assigned, and every replica's link to its master is up
// (a replica that never synced cannot take over from a failed master).
func (rc *RedisCluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for {
		var bad string
		for _, n := range rc.Nodes {
			if !n.Running() || n.Paused() {
				continue
			}
			v, err := n.Do(ctx, "CLUSTER", "INFO")
			if err != nil {
				bad = fmt.Sprintf("%s: %v", n.Addr, err)
				break
			}
			info, _ := v.(string)
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") {
				bad = fmt.Sprintf("%s: %s", n.Addr, firstLines(info, 3))
				break
			}
			v, err = n.Do(ctx, "INFO", "replication")
			if err != nil {
				bad = fmt.Sprintf("%s: %v", n.Addr, err)
				break
			}
			repl, _ := v.(string)
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				bad = fmt.Sprintf("%s: replica not in sync", n.Addr)
				break
			}
		}
		if bad == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: cluster not healthy after %v: %s", timeout, bad)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Masters returns the nodes that currently are masters.
func (rc *RedisCluster) Masters(ctx context.Context) ([]*Node, error) {
	var ms []*Node
	for _, n := range rc.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		v, err := n.Do(ctx, "ROLE")
		if err != nil {
			return nil, err
		}
		if role, ok := v.([]any); ok && len(role) > 0 && role[0] == "master" {
			ms = append(ms, n)
		}
	}
	return ms, nil
}

// NodeFor returns the master node that serves key's slot.
func (rc *RedisCluster) NodeFor(ctx context.Context, key string) (*Node, error) {
	ms, err := rc.Masters(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range ms {
		slotV, err := n.Do(ctx, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			return nil, err
		}
		slot := slotV.(int64)
		shards, err := n.Do(ctx, "CLUSTER", "SLOTS")
		if err != nil {
			return nil, err
		}
		for _, s := range shards.([]any) {
			r := s.([]any)
			lo, hi := r[0].(int64), r[1].(int64)
			if slot < lo || slot > hi {
				continue
			}
			master := r[2].([]any)
			port := master[1].(int64)
			for _, m := range rc.Nodes {
				if int64(m.Port) == port {
					return m, nil
				}
			}
		}
		break
	}
	return nil, fmt.Errorf("redistest: no master found for key %q", key)
}

func firstLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[:n]
	}
	return strings.ReplaceAll(strings.Join(l, "; "), "\r", "")
}
