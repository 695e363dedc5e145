package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

// exercise proves one node's fault controls: kill, restart (with or without
// AOF), pause and resume.
func exercise(t *testing.T, n *Node, aof bool) {
	t.Helper()
	ctx := t.Context()
	if n.Port == 6379 {
		t.Fatalf("harness used the default port")
	}
	c := n.Client(func(o *redis.Options) { o.MaxRetries = -1 })
	k := Prefix(t) + ":k"
	if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Pause: the server stops answering but keeps its socket.
	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := n.Ping(300 * time.Millisecond); err == nil {
		t.Fatalf("paused server answered PING")
	}
	if !n.Running() {
		t.Fatalf("paused server reported as not running")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := n.Ping(2 * time.Second); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
	// Kill: nothing listens any more.
	n.Kill()
	if n.Running() {
		t.Fatalf("killed server still running")
	}
	if err := n.Ping(300 * time.Millisecond); err == nil {
		t.Fatalf("killed server answered PING")
	}
	// Restart on the same port.
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, k).Result()
	if aof {
		if err != nil || got != "v" {
			t.Fatalf("after restart with AOF: GET = %q, %v; want v", got, err)
		}
	} else if !errors.Is(err, redis.Nil) {
		t.Fatalf("after restart without AOF: GET = %q, %v; want nil", got, err)
	}
}

func TestStandalone(t *testing.T) {
	t.Run("aof", func(t *testing.T) { exercise(t, Standalone(t, WithAOF("always")), true) })
	t.Run("no-aof", func(t *testing.T) { exercise(t, Standalone(t), false) })
}

func TestIndependent(t *testing.T) {
	nodes := Independent(t, 3, WithAOF("always"))
	ctx := t.Context()
	ports := map[int]bool{}
	k := Prefix(t) + ":only-here"
	for i, n := range nodes {
		ports[n.Port] = true
		if err := n.Client().Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(ports) != 3 {
		t.Fatalf("nodes share ports: %v", ports)
	}
	for i, n := range nodes {
		v, err := n.Client().Get(ctx, k).Int()
		if err != nil || v != i {
			t.Fatalf("node %d holds %d, %v: nodes are not independent", i, v, err)
		}
	}
	exercise(t, nodes[1], true)
	// The others were untouched.
	for _, i := range []int{0, 2} {
		if err := nodes[i].Ping(time.Second); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() && os.Getenv("REDIS_REQUIRED") != "1" {
		t.Skip("cluster start takes seconds")
	}
	rc := Cluster(t, 3, 1)
	ctx := t.Context()
	if len(rc.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(rc.Nodes))
	}
	ms, err := rc.Masters(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("masters = %d, %v; want 3", len(ms), err)
	}
	c := rc.Client()
	defer c.Close()
	for i := range 50 {
		if err := c.Set(ctx, fmt.Sprintf("%s:key-%d", Prefix(t), i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Keys spread over all three masters.
	for _, m := range ms {
		v, err := m.Do(ctx, "DBSIZE")
		if err != nil || v.(int64) == 0 {
			t.Fatalf("master %s holds %v keys (%v)", m.Addr, v, err)
		}
	}
	// Pause and resume the master of one key: the cluster answers again.
	owner, err := rc.NodeFor(ctx, Prefix(t)+":key-7")
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if err := c.Get(short, Prefix(t)+":key-7").Err(); err == nil {
		t.Fatalf("GET answered while its master was paused")
	}
	cancel()
	if err := owner.Resume(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, Prefix(t)+":key-7").Int(); err != nil || v != 7 {
		t.Fatalf("after resume GET = %d, %v", v, err)
	}
	// Kill a master: its replica takes over (node timeout 2 s).
	owner.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := c.Get(ctx, Prefix(t)+":key-7").Int()
		if err == nil && v == 7 {
			break
		}
		if time.Now().After(deadline) {
			ms, _ := rc.Masters(ctx)
			t.Fatalf("no failover after killing %s: %v (%d masters)", owner.Addr, err, len(ms))
		}
		c.ReloadState(ctx) // go-redis learns the new layout lazily
		time.Sleep(100 * time.Millisecond)
	}
	// Restart the old master: it rejoins (as a replica).
	if err := owner.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := rc.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestProcess(t *testing.T) {
	if HelperRole() != "" {
		t.Skip("not in a helper")
	}
	p := StartProcess(t, "TestHelperProcess", "echo", "ECHO_WORD=hello")
	line, err := p.Expect(10*time.Second, func(l string) bool { return strings.HasPrefix(l, "ready") })
	if err != nil {
		t.Fatal(err)
	}
	if line != "ready hello" {
		t.Fatalf("helper said %q", line)
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if err := p.Wait(5 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("after kill -9, Wait = %v", err)
	}
}

// TestHelperProcess is not a test: TestProcess runs it in a child process.
func TestHelperProcess(t *testing.T) {
	switch HelperRole() {
	case "echo":
	case "chatty":
		for i := range 100000 {
			fmt.Println("line", i)
		}
		time.Sleep(time.Minute)
	default:
		t.Skip("helper process only")
	}
	fmt.Println("ready", os.Getenv("ECHO_WORD"))
	time.Sleep(time.Minute) // until killed
}

func TestRequireWithoutServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if err := Available(); !errors.Is(err, ErrNoServer) {
		t.Fatalf("Available() = %v, want ErrNoServer", err)
	}
	if !strings.Contains(ErrNoServer.Error(), "apt-get install") {
		t.Fatalf("error does not say what to install: %v", ErrNoServer)
	}
}

// The harness never adopts a server it did not start: asking for a port
// where another redis-server answers fails instead of reusing it.
func TestRefusesForeignServer(t *testing.T) {
	other := Standalone(t)
	n, err := StartServer(Config{Port: other.Port})
	if err == nil {
		n.Stop(false)
		t.Fatal("StartServer on an occupied port succeeded")
	}
	if err := other.Ping(time.Second); err != nil {
		t.Fatalf("the other server was harmed: %v", err)
	}
}

// Kill returns even when the helper wrote more lines than anyone read.
func TestProcessKillWithUnreadOutput(t *testing.T) {
	if HelperRole() != "" {
		t.Skip("not in a helper")
	}
	p := StartProcess(t, "TestHelperProcess", "chatty")
	time.Sleep(500 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Kill blocked on unread output")
	}
}
