// Package redistest starts real redis-server processes for tests and
// benchmarks: standalone servers, sets of independent masters (for Redlock)
// and a real Redis Cluster. Every server listens on a free loopback port
// (never 6379), runs in a directory of its own, and is killed when the test
// ends; its log is printed when the test failed.
//
// Nodes can be killed (SIGKILL), paused (SIGSTOP) and resumed (SIGCONT), and
// restarted on the same port and directory, with AOF on or off, so tests can
// inject the faults a coordination library must survive.
//
// When redis-server is not installed, tests that ask for a server are
// skipped, unless REDIS_REQUIRED=1 (set by `make test`), in which case they
// fail and say what to install.
//
// With GO_SYNC_ACL=1 (see ACLEnv) every server carries a Redis ACL user
// granted only what the README's least-privilege section lists, clients
// the harness hands out log in as it, and a test fails if Redis refused
// that user anything. WithTLS and NewTLS start a TLS-only server.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/go-sync/sync/internal/proc"
	"github.com/redis/go-redis/v9"
)

// InstallHint says what to install when redis-server is missing.
const InstallHint = "install Debian's redis-server and redis-tools (apt-get install -y redis-server redis-tools), or run `make test`, which installs them"

// ErrNoServer reports that redis-server (or redis-cli) is not on PATH.
var ErrNoServer = errors.New("redistest: redis-server not found on PATH; " + InstallHint)

// Config describes one server.
type Config struct {
	// AOF turns on the append-only file. Fsync is the appendfsync policy:
	// "always", "everysec" (default) or "no".
	AOF   bool
	Fsync string
	// Cluster starts the node with cluster-enabled yes.
	Cluster bool
	// Args are extra redis-server arguments, e.g. {"--maxmemory", "10mb"}.
	Args []string
	// Dir is the node's working directory; a fresh temporary one if empty.
	Dir string
	// Port to listen on; a free one if zero.
	Port int
	// ACL creates the restricted user (see ACLEnv) at every start and makes
	// Client log in as it. StartServer sets it when ACL() holds.
	ACL bool
	// TLS, when set, makes the server speak TLS only, on Port.
	TLS *TLS
}

// TLS is a TLS-only server's certificate files and the client side the
// harness and Client use; NewTLS makes a throwaway set. Clients need no
// certificate of their own (tls-auth-clients no).
type TLS struct {
	CertFile, KeyFile string         // the server's certificate and key (PEM)
	CAFile            string         // the CA that signed it (PEM)
	CA                *x509.CertPool // that CA
	Client            *tls.Config    // trusts CA
}

// Node is one redis-server process. Its methods are safe for concurrent use.
type Node struct {
	cfg  Config
	Addr string // 127.0.0.1:port
	Port int
	Dir  string

	proc    proc.Proc // the redis-server process; Restart starts a new one
	mu      stdsync.Mutex
	clients []*redis.Client
}

// Available reports whether redis-server and redis-cli are on PATH.
func Available() error {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return ErrNoServer
		}
	}
	return nil
}

// StartServer starts a redis-server with cfg and waits until it answers
// PING. The caller must call Stop. Tests should use Standalone instead.
func StartServer(cfg Config) (*Node, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	cfg.ACL = cfg.ACL || ACL()
	madeDir := false
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			return nil, err
		}
		cfg.Dir, madeDir = dir, true
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := cfg.Port
		if port == 0 {
			p, err := FreePort(cfg.Cluster)
			if err != nil {
				return nil, err
			}
			port = p
		}
		n := &Node{cfg: cfg, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: cfg.Dir}
		if err := n.start(); err != nil {
			lastErr = err
			if cfg.Port != 0 {
				break // the caller wants this port; do not pick another
			}
			continue // someone took the port between probe and bind: try another
		}
		return n, nil
	}
	if madeDir {
		os.RemoveAll(cfg.Dir)
	}
	return nil, lastErr
}

// FreePort returns a free loopback TCP port other than 6379. With cluster
// set, port+10000 (the cluster bus) is free too.
func FreePort(cluster bool) (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port == 6379 || port == 16379 {
			continue
		}
		if cluster {
			if port+10000 > 65535 {
				continue
			}
			b, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
			if err != nil {
				continue
			}
			b.Close()
		}
		return port, nil
	}
	return 0, errors.New("redistest: no free port")
}

func (n *Node) args() []string {
	a := []string{"--port", strconv.Itoa(n.Port)}
	if t := n.cfg.TLS; t != nil {
		a = []string{"--port", "0", "--tls-port", strconv.Itoa(n.Port),
			"--tls-cert-file", t.CertFile, "--tls-key-file", t.KeyFile, "--tls-ca-cert-file", t.CAFile,
			"--tls-auth-clients", "no"}
	}
	a = append(a,
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--dir", n.Dir,
		"--logfile", "redis.log",
		"--daemonize", "no",
		"--save", "",
		"--databases", "1",
	)
	if n.cfg.AOF {
		fsync := n.cfg.Fsync
		if fsync == "" {
			fsync = "everysec"
		}
		a = append(a, "--appendonly", "yes", "--appendfsync", fsync)
	} else {
		a = append(a, "--appendonly", "no")
	}
	if n.cfg.Cluster {
		a = append(a, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no",
			"--repl-diskless-sync-delay", "0")
	}
	return append(a, n.cfg.Args...)
}

func (n *Node) start() error {
	cmd := exec.Command("redis-server", n.args()...)
	cmd.Dir = n.Dir
	if err := n.proc.Start(cmd); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := n.proc.Exited()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redistest: redis-server on port %d exited at start: %s", n.Port, n.LogTail(20))
		default:
		}
		if err := n.ping(200 * time.Millisecond); err == nil {
			// Something answers on the port: make sure it is our process and
			// not a server someone else started there.
			if err := n.checkOwn(cmd.Process.Pid); err != nil {
				n.Kill()
				return err
			}
			if n.cfg.ACL {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := n.setupACL(ctx); err != nil {
					n.Kill()
					return err
				}
			}
			return nil
		}
		if time.Now().After(deadline) {
			n.Kill()
			return fmt.Errorf("redistest: redis-server on port %d not ready after 10s: %s", n.Port, n.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dial connects to the node, over TLS for a TLS server.
func (n *Node) dial(timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if n.cfg.TLS != nil {
		return tls.DialWithDialer(d, "tcp", n.Addr, n.cfg.TLS.Client)
	}
	return d.Dial("tcp", n.Addr)
}

// ping sends a raw PING, so readiness does not depend on go-redis.
func (n *Node) ping(timeout time.Duration) error {
	c, err := n.dial(timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redistest: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// checkOwn verifies that the server answering on the port has pid.
func (n *Node) checkOwn(pid int) error {
	c, err := n.dial(time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return err
	}
	rd := bufio.NewReader(c)
	head, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return fmt.Errorf("redistest: INFO server answered %q (%v)", head, err)
	}
	size, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return err
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(rd, body); err != nil {
		return err
	}
	want := fmt.Sprintf("process_id:%d\r\n", pid)
	if !strings.Contains(string(body), want) {
		return fmt.Errorf("redistest: port %d is served by a redis-server this harness did not start", n.Port)
	}
	return nil
}

// Ping reports whether the node answers PING within timeout.
func (n *Node) Ping(timeout time.Duration) error { return n.ping(timeout) }

// Client returns a new go-redis client for the node, closed by Stop. It
// logs in as the restricted ACL user when the node has one (see ACLEnv):
// use it for what the library does, and AdminClient for a test's own
// inspection and fault injection.
func (n *Node) Client(opts ...func(*redis.Options)) *redis.Client {
	o := n.adminOptions()
	if n.cfg.ACL {
		o.Username, o.Password = ACLUser, ACLPassword
	}
	return n.newClient(o, opts)
}

// AdminClient returns a new go-redis client for the node as the default
// user, which may do anything, closed by Stop.
func (n *Node) AdminClient(opts ...func(*redis.Options)) *redis.Client {
	return n.newClient(n.adminOptions(), opts)
}

// adminOptions are the default user's client options for the node.
func (n *Node) adminOptions() *redis.Options {
	o := &redis.Options{Addr: n.Addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	if n.cfg.TLS != nil {
		o.TLSConfig = n.cfg.TLS.Client.Clone()
	}
	return o
}

func (n *Node) newClient(o *redis.Options, opts []func(*redis.Options)) *redis.Client {
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	n.mu.Lock()
	n.clients = append(n.clients, c)
	n.mu.Unlock()
	return c
}

// Pid returns the server's process id, or 0 when it is not running.
func (n *Node) Pid() int { return n.proc.Pid() }

// Kill sends SIGKILL and waits for the process to exit. No-op if not running.
func (n *Node) Kill() { n.proc.Kill() }

// Pause stops the server with SIGSTOP: connections stay open but nothing is
// answered, as with a long GC pause or a frozen VM.
func (n *Node) Pause() error { return n.notRunning(n.proc.Pause()) }

// Resume continues a paused server with SIGCONT.
func (n *Node) Resume() error { return n.notRunning(n.proc.Resume()) }

func (n *Node) notRunning(err error) error {
	if errors.Is(err, proc.ErrNotRunning) {
		return fmt.Errorf("redistest: node %s is not running", n.Addr)
	}
	return err
}

// Restart kills the server if it runs and starts it again on the same port
// and directory, so with AOF on its data survives.
func (n *Node) Restart() error {
	n.Kill()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = n.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	return err
}

// Paused reports whether the node was paused with Pause and not resumed.
func (n *Node) Paused() bool { return n.proc.Paused() }

// Running reports whether the process is alive (paused counts as alive).
func (n *Node) Running() bool { return n.proc.Running() }

// Stop kills the server, closes the clients made by Client and removes its
// directory unless keepDir is set.
func (n *Node) Stop(keepDir bool) {
	n.Kill()
	n.mu.Lock()
	clients := n.clients
	n.clients = nil
	n.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	if !keepDir {
		os.RemoveAll(n.Dir)
	}
}

// LogTail returns the last lines of the server's log.
func (n *Node) LogTail(lines int) string { return proc.Tail(filepath.Join(n.Dir, "redis.log"), lines) }

// Do runs one command on the node with a fresh short-lived connection,
// giving up after two seconds (a paused node never answers).
func (n *Node) Do(ctx context.Context, args ...any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	o := n.adminOptions()
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	return c.Do(ctx, args...).Result()
}
