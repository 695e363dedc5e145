package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redisleader"
	"github.com/redis/go-redis/v9"
)

var (
	leaderHandoverTrials = flag.Int("leader-handover-trials", 50, "trials of the leader handover after Resign")
	leaderFailoverTrials = flag.Int("leader-failover-trials", 20, "trials of the leader failover after kill -9 (each takes about the lease, 2s)")
)

const (
	leaderGroup  = "bench"
	leaderPrefix = "benchleader"

	// The handover runs with a long lease: only the release notification
	// can hand over fast.
	handoverLease = 10 * time.Second
	handoverRenew = 6 * time.Second
	handoverRetry = 2 * time.Second

	// The failover runs with a 2s lease in client-go's ratios.
	failoverLease = 2 * time.Second
	failoverRenew = 1300 * time.Millisecond
	failoverRetry = 250 * time.Millisecond

	// leaderChildEnv makes the bench binary a leader that campaigns,
	// prints "elected <term>" and leads until it is killed.
	leaderChildEnv      = "GO_SYNC_BENCH_LEADER_CHILD"
	leaderChildNodesEnv = "GO_SYNC_BENCH_LEADER_NODES"
)

func init() {
	if os.Getenv(leaderChildEnv) != "" {
		if err := leaderChild(); err != nil {
			fmt.Fprintln(os.Stderr, "leader child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// leaders measures how fast redisleader hands over leadership on three
// independent nodes: after a Resign, and after a crash (kill -9 of a
// leader in another process, whose lease is never released).
func leaders(e *env) ([]comparison, error) {
	var out []comparison
	for _, step := range []func(*env) (comparison, error){leaderHandover, leaderFailover} {
		c, err := step(e)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

func leaderClients(nodes []*redistest.Node) []redis.UniversalClient {
	cs := make([]redis.UniversalClient, len(nodes))
	for i, n := range nodes {
		cs[i] = n.Client()
	}
	return cs
}

func newBenchElector(nodes []*redistest.Node, lease, renew, retry time.Duration) (*redisleader.Elector, error) {
	return redisleader.New(leaderClients(nodes), leaderGroup, redisleader.WithPrefix(leaderPrefix),
		redisleader.WithLeaseDuration(lease), redisleader.WithRenewDeadline(renew), redisleader.WithRetryPeriod(retry))
}

type leaderElected struct {
	ld  *redisleader.Leadership
	at  time.Time
	err error
}

func campaignTimed(ctx context.Context, e *redisleader.Elector, id string) <-chan leaderElected {
	ch := make(chan leaderElected, 1)
	go func() {
		ld, err := e.Campaign(ctx, id)
		ch <- leaderElected{ld, time.Now(), err}
	}()
	return ch
}

// shortMs formats milliseconds: three significant digits, whole ones from 100 up.
func shortMs(ms float64) string {
	if ms >= 100 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strconv.FormatFloat(ms, 'g', 3, 64)
}

// latencyResult is p99 in ms, with p50 and max.
func latencyResult(ds []time.Duration) result {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return result{
		value: ms(percentile(ds, 99)), unit: "ms",
		extra: fmt.Sprintf("p50 %s max %s n=%d", shortMs(ms(percentile(ds, 50))), shortMs(ms(percentile(ds, 100))), len(ds)),
	}
}

// leaderHandover: two Electors (own connections, as two processes would
// have) take turns; each trial times from the holder's Resign call until
// the waiting candidate's Campaign returns.
func leaderHandover(e *env) (comparison, error) {
	ctx := e.ctx
	var es [2]*redisleader.Elector
	for i := range es {
		el, err := newBenchElector(e.three, handoverLease, handoverRenew, handoverRetry)
		if err != nil {
			return comparison{}, err
		}
		defer el.Close()
		es[i] = el
	}
	ld, err := es[0].Campaign(ctx, "c0")
	if err != nil {
		return comparison{}, err
	}
	var ds []time.Duration
	for i := range *leaderHandoverTrials {
		next := (i + 1) % 2
		wctx, cancel := context.WithTimeout(ctx, handoverLease/2) // a lease expiry would be a failure
		got := campaignTimed(wctx, es[next], "c"+strconv.Itoa(next))
		time.Sleep(50 * time.Millisecond) // the candidate queues and subscribes
		start := time.Now()
		if err := ld.Resign(ctx); err != nil {
			cancel()
			return comparison{}, fmt.Errorf("trial %d: Resign: %w", i, err)
		}
		r := <-got
		cancel()
		if r.err != nil {
			return comparison{}, fmt.Errorf("trial %d: the next candidate was not elected after Resign: %w", i, r.err)
		}
		if r.ld.Term() <= ld.Term() {
			return comparison{}, fmt.Errorf("trial %d: term %d after %d", i, r.ld.Term(), ld.Term())
		}
		ds = append(ds, r.at.Sub(start))
		ld = r.ld
	}
	if err := ld.Resign(ctx); err != nil {
		return comparison{}, err
	}
	return comparison{
		name:   "leader handover Resign->Campaign returns, 3 nodes: p99",
		ours:   latencyResult(ds),
		target: "p99 <= 50 ms",
	}, nil
}

// leaderFailover: a leader runs in a child process (this binary with
// leaderChildEnv set); the candidate campaigns here; the child is killed
// with SIGKILL at a random phase of its renewals, and each trial times
// from the kill until the candidate's Campaign returns.
func leaderFailover(e *env) (comparison, error) {
	ctx := e.ctx
	exe, err := os.Executable()
	if err != nil {
		return comparison{}, err
	}
	addrs := make([]string, len(e.three))
	for i, n := range e.three {
		addrs[i] = n.Addr
	}
	b, err := newBenchElector(e.three, failoverLease, failoverRenew, failoverRetry)
	if err != nil {
		return comparison{}, err
	}
	defer b.Close()
	var ds []time.Duration
	for i := range *leaderFailoverTrials {
		child, term, err := startLeaderChild(exe, strings.Join(addrs, ","))
		if err != nil {
			return comparison{}, fmt.Errorf("trial %d: %w", i, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 3*failoverLease)
		got := campaignTimed(wctx, b, "b")
		time.Sleep(2*failoverRetry + rand.N(failoverRetry)) // a random phase of the renewals
		select {
		case r := <-got:
			cancel()
			child.kill()
			return comparison{}, fmt.Errorf("trial %d: elected (%v) while the leader was alive", i, r.err)
		default:
		}
		start := time.Now()
		child.kill()
		r := <-got
		cancel()
		if r.err != nil {
			return comparison{}, fmt.Errorf("trial %d: not elected after the leader's crash: %w", i, r.err)
		}
		if r.ld.Term() <= term {
			return comparison{}, fmt.Errorf("trial %d: term %d after the crashed leader's %d", i, r.ld.Term(), term)
		}
		ds = append(ds, r.at.Sub(start))
		if err := r.ld.Resign(ctx); err != nil {
			return comparison{}, err
		}
	}
	return comparison{
		name:   fmt.Sprintf("leader failover kill -9->Campaign, lease %v, 3 nodes: p99", failoverLease),
		ours:   latencyResult(ds),
		target: fmt.Sprintf("p99 <= lease + 250 ms = %v", failoverLease+250*time.Millisecond),
	}, nil
}

type leaderProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// kill sends SIGKILL and waits for the child to exit.
func (p *leaderProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// startLeaderChild starts a leader child process and waits until it is
// elected.
func startLeaderChild(exe, addrs string) (*leaderProc, uint64, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), leaderChildEnv+"=1", leaderChildNodesEnv+"="+addrs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	p := &leaderProc{cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		cmd.Wait()
		close(lines)
		close(p.done)
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, 0, errors.New("leader child exited before it was elected")
			}
			if v, found := strings.CutPrefix(l, "elected "); found {
				term, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					p.kill()
					return nil, 0, fmt.Errorf("leader child said %q", l)
				}
				return p, term, nil
			}
		case <-timer.C:
			p.kill()
			return nil, 0, errors.New("leader child not elected within 30s")
		}
	}
}

// leaderChild is the body of the leader child process: it campaigns,
// prints "elected <term>", and leads (renewing) until it is killed.
func leaderChild() error {
	var nodes []redis.UniversalClient
	for _, a := range strings.Split(os.Getenv(leaderChildNodesEnv), ",") {
		nodes = append(nodes, redis.NewClient(&redis.Options{Addr: a}))
	}
	e, err := redisleader.New(nodes, leaderGroup, redisleader.WithPrefix(leaderPrefix),
		redisleader.WithLeaseDuration(failoverLease), redisleader.WithRenewDeadline(failoverRenew), redisleader.WithRetryPeriod(failoverRetry))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ld, err := e.Campaign(ctx, "crash")
	if err != nil {
		return err
	}
	fmt.Printf("elected %d\n", ld.Term())
	select {
	case <-ld.Done():
		return fmt.Errorf("leadership ended before the kill: %v", ld.Err())
	case <-time.After(5 * time.Minute): // the parent kills us long before
		return errors.New("not killed")
	}
}
