package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	bsmlock "github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// lockTTL is the lease of every lock the lock benchmarks take: redsync's
// default expiry, so that the two libraries' drift allowances are equal.
const lockTTL = 8 * time.Second

// hold is how long a contending goroutine holds the lock, spinning:
// time.Sleep(100µs) sleeps about 1 ms on Linux (the netpoller waits in
// whole milliseconds), which would cap both libraries near 900 handoffs/s.
func hold(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

// op is one named loop body.
type op struct {
	name string
	f    func() error
}

// interleaved measures the throughput of every op for d in total each,
// running them in alternating rounds so that a drift of the machine's speed
// during the run affects all of them alike; the ratios are what matter.
func interleaved(d time.Duration, ops []op) ([]result, error) {
	// Short alternating slices: bursts of machine noise hit every op alike.
	const rounds = 20
	for _, o := range ops { // warm-up: connections, script caches
		warm := time.Now().Add(d / 10)
		for time.Now().Before(warm) {
			if err := o.f(); err != nil {
				return nil, fmt.Errorf("%s: %w", o.name, err)
			}
		}
	}
	calls := make([]int, len(ops))
	spent := make([]time.Duration, len(ops))
	for r := range rounds {
		for k := range ops {
			i := (k + r) % len(ops) // rotate the order each round
			start := time.Now()
			for time.Since(start) < d/rounds {
				if err := ops[i].f(); err != nil {
					return nil, fmt.Errorf("%s: %w", ops[i].name, err)
				}
				calls[i]++
			}
			spent[i] += time.Since(start)
		}
	}
	res := make([]result, len(ops))
	for i := range ops {
		v := float64(calls[i]) / spent[i].Seconds()
		res[i] = result{value: v, unit: "ops/s", extra: fmt.Sprintf("%.0f µs/op", 1e6/v)}
	}
	return res, nil
}

// allocsPer returns the heap allocations and bytes per call of f, from
// runtime.MemStats deltas over n calls (background goroutines included:
// timers and goroutines that the call starts count too).
func allocsPer(n int, f func() error) (allocs, bytes float64, err error) {
	for range 100 {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	runtime.GC()
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range n {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / float64(n), float64(b.TotalAlloc-a.TotalAlloc) / float64(n), nil
}

func clients(nodes []*redistest.Node) []redis.UniversalClient {
	cs := make([]redis.UniversalClient, len(nodes))
	for i, n := range nodes {
		cs[i] = n.Client()
	}
	return cs
}

func pools(cs []redis.UniversalClient) *redsync.Redsync {
	ps := make([]redsyncredis.Pool, len(cs))
	for i, c := range cs {
		ps[i] = goredis.NewPool(c)
	}
	return redsync.New(ps...)
}

// oursOp is one uncontended Acquire, Token read and Release on l.
func oursOp(ctx context.Context, l *redislock.Locker, name string) func() error {
	return func() error {
		lk, err := l.Acquire(ctx, name, redislock.TTL(lockTTL))
		if err != nil {
			return err
		}
		if lk.Token() == 0 {
			return errors.New("zero fencing token")
		}
		return lk.Release(ctx)
	}
}

func redsyncOp(ctx context.Context, rs *redsync.Redsync, name string) func() error {
	m := rs.NewMutex(name, redsync.WithExpiry(lockTTL))
	return func() error {
		if err := m.LockContext(ctx); err != nil {
			return err
		}
		ok, err := m.UnlockContext(ctx)
		if err == nil && !ok {
			err = errors.New("redsync unlock: not held")
		}
		return err
	}
}

func lockUncontended1(e *env) ([]comparison, error) {
	ctx := e.ctx
	c := e.one.Client()
	l, err := redislock.New([]redis.UniversalClient{c})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rs := pools([]redis.UniversalClient{c})
	bsm := bsmlock.New(c)
	i := 0
	ops := []op{
		{"ours", oursOp(ctx, l, "bench:u1")},
		{"redsync", redsyncOp(ctx, rs, "bench:u1:redsync")},
		{"bsm/redislock", func() error {
			lk, err := bsm.Obtain(ctx, "bench:u1:bsm", lockTTL, nil)
			if err != nil {
				return err
			}
			return lk.Release(ctx)
		}},
		{"raw", func() error {
			i++
			v := strconv.Itoa(i)
			ok, err := c.SetNX(ctx, "bench:u1:raw", v, lockTTL).Result()
			if err != nil || !ok {
				return fmt.Errorf("SET NX: %v %v", ok, err)
			}
			return rawRelease.Run(ctx, c, []string{"bench:u1:raw"}, v).Err()
		}},
	}
	res, err := interleaved(e.d, ops)
	if err != nil {
		return nil, err
	}
	out := []comparison{
		{name: "lock 1 node uncontended acquire+release: vs redsync", ours: res[0], peer: res[1], target: ">= 1.0x"},
		{name: "lock 1 node uncontended acq+rel: vs bsm/redislock", ours: res[0], peer: res[2], target: ">= 1.0x"},
		{name: "lock 1 node uncontended acq+rel: vs raw SET NX+script", ours: res[0], peer: res[3], target: ">= 0.95x"},
	}

	const n = 2000
	allocs := make([]float64, len(ops))
	bytes := make([]float64, len(ops))
	for k, o := range ops {
		if allocs[k], bytes[k], err = allocsPer(n, o.f); err != nil {
			return out, fmt.Errorf("%s: %w", o.name, err)
		}
	}
	ar := func(k int) result {
		return result{value: allocs[k], unit: "allocs/op", extra: fmt.Sprintf("%.0f B/op", bytes[k])}
	}
	out = append(out,
		comparison{name: "lock 1 node allocs per acquire+release: vs redsync", ours: ar(0), peer: ar(1)},
		comparison{name: "lock 1 node allocs per acquire+release: vs raw", ours: ar(0), peer: ar(3)},
	)
	return out, nil
}

func lockUncontended3(e *env) ([]comparison, error) {
	ctx := e.ctx
	cs := clients(e.three)
	l, err := redislock.New(cs)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	rs := pools(cs)
	res, err := interleaved(e.d, []op{
		{"ours", oursOp(ctx, l, "bench:u3")},
		{"redsync", redsyncOp(ctx, rs, "bench:u3:redsync")},
	})
	if err != nil {
		return nil, err
	}
	// Every lock was released: no node should still hold the key. A node
	// that does holds a grant whose acquire reached it after the release
	// (Acquire returns on a quorum; the last node's reply may be late).
	left := 0
	for _, c := range cs {
		n, err := c.Exists(ctx, l.Key("bench:u3")).Result()
		if err != nil {
			return nil, err
		}
		left += int(n)
	}
	return []comparison{
		{name: "lock 3 nodes uncontended acquire+release: vs redsync", ours: res[0], peer: res[1], target: ">= 0.9x"},
		{name: "lock 3 nodes: nodes holding the key after the last Release", ours: result{value: float64(left), unit: "nodes", extra: "of 3"}, target: "0"},
	}, nil
}

// contention is what one run of contending goroutines measured.
type contention struct {
	waits    []time.Duration // every acquire's wait, including retried failures
	per      []float64       // acquisitions per goroutine
	handoffs float64         // acquisitions per second
	failures int64           // acquires that gave up and were retried
	censored int             // waits cut short by the end of the run (included)
}

// contend runs g goroutines that acquire (blocking), hold (spinning) for
// holdFor and release, for d. acquire returns a release function; it must
// return an error once ctx is done. A wait still running when the run ends
// counts as a sample of the time waited so far, so a goroutine starved for
// the whole run shows in the percentiles.
func contend(d, holdFor time.Duration, g int, acquire func(ctx context.Context, id int) (func() error, error)) (contention, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu       stdsync.Mutex
		res      = contention{per: make([]float64, g)}
		failures atomic.Int64
		firstErr error
		wg       stdsync.WaitGroup
		holders  atomic.Int32
	)
	start := time.Now()
	for id := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var waits []time.Duration
			n := 0
			defer func() {
				mu.Lock()
				res.waits = append(res.waits, waits...)
				res.per[id] = float64(n)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				t0 := time.Now()
				var release func() error
				var err error
				for {
					release, err = acquire(ctx, id)
					if err == nil || ctx.Err() != nil {
						break
					}
					failures.Add(1) // gave up: retry, the wait goes on
				}
				if err != nil { // the run ended while waiting
					waits = append(waits, time.Since(t0))
					mu.Lock()
					res.censored++
					mu.Unlock()
					return
				}
				waits = append(waits, time.Since(t0))
				if holders.Add(1) != 1 {
					mu.Lock()
					firstErr = errors.New("mutual exclusion violated: two holders at once")
					mu.Unlock()
				}
				n++
				hold(holdFor)
				holders.Add(-1)
				if err := release(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("release: %w", err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total float64
	for _, x := range res.per {
		total += x
	}
	res.handoffs = total / elapsed.Seconds()
	res.failures = failures.Load()
	return res, firstErr
}

// lockContended runs 8 goroutines on one key over the three nodes, each
// holding the lock for 100µs, and again (a shorter run, p99 only) for 1 ms:
// redsync's waits are bimodal (the releasing goroutine re-acquires at once,
// the others sleep 50-250 ms), so its p99 depends on how often a sleeper
// gets in, which depends on the hold time.
func lockContended(e *env) ([]comparison, error) {
	out, err := lockContendedHold(e, e.d, 100*time.Microsecond, true)
	if err != nil {
		return out, err
	}
	more, err := lockContendedHold(e, e.d/2, time.Millisecond, false)
	return append(out, more...), err
}

func lockContendedHold(e *env, d, holdFor time.Duration, full bool) ([]comparison, error) {
	const g = 8
	key := fmt.Sprintf("bench:c3:%v", holdFor)
	cs := clients(e.three)
	l, err := redislock.New(cs)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	ours, err := contend(d, holdFor, g, func(ctx context.Context, _ int) (func() error, error) {
		lk, err := l.Acquire(ctx, key, redislock.TTL(lockTTL))
		if err != nil {
			return nil, err
		}
		return func() error { return lk.Release(context.Background()) }, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ours: %w", err)
	}

	rs := pools(cs)
	mutexes := make([]*redsync.Mutex, g)
	for i := range mutexes {
		mutexes[i] = rs.NewMutex(key+":redsync", redsync.WithExpiry(lockTTL))
	}
	peer, err := contend(d, holdFor, g, func(ctx context.Context, id int) (func() error, error) {
		m := mutexes[id]
		if err := m.LockContext(ctx); err != nil {
			return nil, err
		}
		return func() error {
			ok, err := m.UnlockContext(context.Background())
			if err == nil && !ok {
				err = errors.New("not held")
			}
			return err
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("redsync: %w", err)
	}

	p99 := func(c contention) result {
		return result{
			value: float64(percentile(c.waits, 99).Microseconds()) / 1000, unit: "ms",
			extra: fmt.Sprintf("p50 %.3g ms, max %.3g ms, %d gave up", msOf(percentile(c.waits, 50)), msOf(percentile(c.waits, 100)), c.failures),
		}
	}
	hand := func(c contention) result {
		return result{value: c.handoffs, unit: "handoffs/s", extra: fmt.Sprintf("%d acquires", len(c.waits)-c.censored)}
	}
	fair := func(c contention) result {
		return result{value: jain(c.per), unit: "Jain", extra: fmt.Sprintf("min %.0f max %.0f", minOf(c.per), maxOf(c.per))}
	}
	// Jain's index is higher-better without a "/s" unit, so the harness
	// would invert its ratio: each library gets a line of its own.
	fo, fp := fair(ours), fair(peer)
	if !full {
		r := p99(ours)
		r.extra += fmt.Sprintf("; %.0f handoffs/s vs %.0f", ours.handoffs, peer.handoffs)
		return []comparison{
			{name: "lock 3 nodes 8 goroutines 1 key, 1 ms hold: wait p99", ours: r, peer: p99(peer), target: "(hold-time check)"},
		}, nil
	}
	return []comparison{
		{name: "lock 3 nodes 8 goroutines 1 key: wait p99 vs redsync", ours: p99(ours), peer: p99(peer), target: ">= 10x (ours <= 1/10)"},
		{name: "lock 3 nodes 8 goroutines 1 key: handoffs vs redsync", ours: hand(ours), peer: hand(peer), target: ">= 1.0x"},
		{name: "lock 3 nodes 8 goroutines 1 key: Jain fairness, ours", ours: fo, target: "ours >= 0.95"},
		{name: "lock 3 nodes 8 goroutines 1 key: Jain fairness, redsync", ours: fp},
	}, nil
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// pubsubConns counts the server's pub/sub connections in CLIENT LIST.
func pubsubConns(ctx context.Context, c *redis.Client) (int, error) {
	list, err := c.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if (f["sub"] != "" && f["sub"] != "0") || (f["ssub"] != "" && f["ssub"] != "0") ||
			(f["psub"] != "" && f["psub"] != "0") || strings.Contains(f["flags"], "P") {
			n++
		}
	}
	return n, nil
}

// lockWaitMemory parks 10,000 Acquire calls on 1,000 held names through one
// Locker, measures the heap and the pub/sub connections while they wait,
// then releases the names one after the other and checks every waiter gets
// its turn.
func lockWaitMemory(e *env) ([]comparison, error) {
	const names, perName = 1000, 10
	ctx := e.ctx
	admin := e.one.Client()
	holderLocker, err := redislock.New([]redis.UniversalClient{e.one.Client()})
	if err != nil {
		return nil, err
	}
	defer holderLocker.Close()
	name := func(i int) string { return "bench:wait:" + strconv.Itoa(i) }
	held := make([]*redislock.Lock, names)
	for i := range held {
		if held[i], err = holderLocker.TryAcquire(ctx, name(i), redislock.TTL(5*time.Minute)); err != nil {
			return nil, err
		}
	}
	if n, err := pubsubConns(ctx, admin); err != nil || n != 0 {
		return nil, fmt.Errorf("pub/sub connections before the waiters: %d %v", n, err)
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	l, err := redislock.New([]redis.UniversalClient{e.one.Client()})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a bound for a broken library
	defer cancel()
	var (
		wg       stdsync.WaitGroup
		done     atomic.Int64
		errMu    stdsync.Mutex
		firstErr error
	)
	_, _, ch0 := l.Keys(name(0))
	pattern := ch0[:strings.Index(ch0, "{")] + "*" // every release channel
	setupStart := time.Now()
	for i := range names * perName {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lk, err := l.Acquire(wctx, name(i%names), redislock.TTL(lockTTL))
			if err == nil {
				err = lk.Release(ctx)
			}
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				return
			}
			done.Add(1)
		}()
	}
	// Wait until every waiter is parked: all names' channels subscribed and
	// the server idle (every waiter has made its one attempt).
	var last int64 = -1
	for {
		if time.Since(setupStart) > time.Minute {
			return nil, errors.New("waiters did not settle within a minute")
		}
		time.Sleep(100 * time.Millisecond)
		errMu.Lock()
		ferr := firstErr
		errMu.Unlock()
		if n := done.Load(); n > 0 || ferr != nil {
			return nil, fmt.Errorf("%d waiters returned while every name was held (first error %v)", n, ferr)
		}
		nch, err := admin.PubSubChannels(ctx, pattern).Result()
		if err != nil {
			return nil, err
		}
		info, err := admin.Info(ctx, "stats").Result()
		if err != nil {
			return nil, err
		}
		cmds := infoInt(info, "total_commands_processed")
		if len(nch) == names && cmds-last <= 10 {
			break
		}
		last = cmds
	}
	setup := time.Since(setupStart)

	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	goroutines := runtime.NumGoroutine() - g0
	subs, err := pubsubConns(ctx, admin)
	if err != nil {
		return nil, err
	}

	drainStart := time.Now()
	for _, lk := range held {
		if err := lk.Release(ctx); err != nil {
			return nil, err
		}
	}
	released := time.Since(drainStart)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("only %d of %d waiters completed a minute after the release", done.Load(), names*perName)
	}
	drain := time.Since(drainStart)
	if firstErr != nil {
		return nil, fmt.Errorf("%d of %d waiters completed; first error: %w", done.Load(), names*perName, firstErr)
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	subsAfter, err := pubsubConns(ctx, admin)
	if err != nil {
		return nil, err
	}

	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	heap := result{
		value: mib(during.HeapInuse), unit: "MiB",
		extra: fmt.Sprintf("+%.1f MiB for the waiters, stacks %.1f MiB, %d goroutines", mib(during.HeapInuse-min(during.HeapInuse, before.HeapInuse)), mib(during.StackInuse), goroutines),
	}
	return []comparison{
		{name: "lock 1 node 10k waiters/1k names, 1 Locker: heap", ours: heap, target: "< 64 MiB"},
		{name: "lock 1 node 10k waiters/1k names: pub/sub conns", ours: result{value: float64(subs), unit: "conns", extra: fmt.Sprintf("%d after Close", subsAfter)}, target: "exactly 1"},
		{name: "lock 1 node 10k waiters/1k names: served after release", ours: result{
			value: float64(done.Load()), unit: "served",
			extra: fmt.Sprintf("parked in %.1fs; releases %.2fs, drained in %.2fs", setup.Seconds(), released.Seconds(), drain.Seconds()),
		}, target: "10000"},
	}, nil
}

func infoInt(info, field string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
