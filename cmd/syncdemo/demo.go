package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
)

// Names of the showcase's election group, queue, task, topic and group.
const (
	electionGroup = "scheduler"
	taskQueue     = "postings"
	taskName      = "post"
	topicName     = "ledger"
	auditGroup    = "audit"
)

// config is the showcase's timeline and sizes.
type config struct {
	prefix   string
	duration time.Duration // how long the leaders schedule tasks
	pauseAt  time.Duration // when a holder stalls past its lock's TTL
	killAt   time.Duration // when the leader is killed
	period   time.Duration // of the periodic tasks

	lease, renewDeadline, retryPeriod time.Duration // election; lease is also the consumer group's
	lockTTL, pauseTTL, visibility     time.Duration

	accounts, perAccount, pool, partitions int
	status, drainTimeout                   time.Duration
}

func newConfig(d time.Duration) (config, error) {
	if d < 3*time.Second || d > 45*time.Second {
		// At least an election, a stalled holder, a kill and a failover;
		// at most what the tick claims (kept a minute) let us count.
		return config{}, fmt.Errorf("-duration %v: want 3s to 45s", d)
	}
	return config{
		duration: d, pauseAt: d * 15 / 100, killAt: d * 40 / 100, period: 200 * time.Millisecond,
		lease: time.Second, renewDeadline: 600 * time.Millisecond, retryPeriod: 200 * time.Millisecond,
		lockTTL: time.Second, pauseTTL: 300 * time.Millisecond, visibility: time.Second,
		accounts: 4, perAccount: 2, pool: 4, partitions: 3,
		status: 500 * time.Millisecond, drainTimeout: 30 * time.Second,
	}, nil
}

func (c config) spec() string { return "@every " + c.period.String() }

// demo is the showcase's shared state: the nodes report to it, and it
// checks what they did, independently of the library (its own records,
// and Redis read through its own connection).
type demo struct {
	cfg config
	srv *server
	con *console

	obs       *gosync.Sync // the observer's facade, on the demo's own connection
	store     *redislock.FencedStore
	inspector *redistask.Inspector
	ticks     *tickLedger
	accounts  []string
	periodic  []string // names of the periodic tasks: "<account>/<n>"
	nodes     []*node

	schedCtx  context.Context // ends when scheduling stops
	schedStop context.CancelFunc
	schedWG   stdsync.WaitGroup // running schedulers

	runs, locks, rejected, published atomic.Int64

	mu        stdsync.Mutex
	err       error // first unexpected failure inside a node
	stopping  bool
	leader    *node
	term      uint64
	killed    *node
	killedAt  time.Time
	killTerm  uint64
	leaseLeft time.Duration // of the killed leader's lease, at the kill
	inFlight  int64         // tasks the killed node held
	reclaim   time.Duration
	next      *node // first leader after the kill
	nextTerm  uint64
	failover  time.Duration
	pause     struct{ claimed, done bool }
	done      map[string]time.Duration // tick -> latency (enqueue to done), first completion
	extra     int                      // completions of a tick already done (a task run twice)
	writes    map[string]int64         // account -> fenced writes accepted
	// the audit of the events
	pubs        map[string][]published // account -> its events, as published
	seen        map[string]bool
	order       map[string][]string // account -> event IDs, as first consumed
	lastOffset  map[string]event.Offset
	lastToken   map[string]uint64
	consumed    int
	redelivered int
	outOfOrder  int // consumed after an event of the same key with a higher offset
	stale       int // events with a token not above the last one of their key
	firstBad    string
	owner       map[int]string // partition -> current owner
	lastOwner   map[int]string
	takeovers   int
	groupShown  bool
}

// showcase runs the whole timeline and returns its report; the error says
// which check failed.
func showcase(ctx context.Context, srv *server, cfg config, out io.Writer) (rep *report, err error) {
	d := &demo{cfg: cfg, srv: srv, con: newConsole(out),
		done: map[string]time.Duration{}, writes: map[string]int64{}, seen: map[string]bool{},
		pubs: map[string][]published{}, order: map[string][]string{}, lastOffset: map[string]event.Offset{},
		lastToken: map[string]uint64{}, owner: map[int]string{}, lastOwner: map[int]string{}}
	d.schedCtx, d.schedStop = context.WithCancel(context.Background())
	defer d.schedStop()
	for i := range cfg.accounts {
		a := fmt.Sprintf("acct-%02d", i+1) // acct-01..04 spread over all 3 partitions
		d.accounts = append(d.accounts, a)
		for j := range cfg.perAccount {
			d.periodic = append(d.periodic, fmt.Sprintf("%s/%d", a, j+1))
		}
	}
	d.obs = gosync.New(srv.client, gosync.WithPrefix(cfg.prefix))
	defer d.obs.Close()
	if d.store, err = d.obs.FencedStore(); err != nil {
		return nil, err
	}
	if d.inspector, err = d.obs.Inspector(); err != nil {
		return nil, err
	}
	d.ticks = newTickLedger(keys.Must(cfg.prefix), d.periodic, cfg.period, time.Now())
	if err := d.header(ctx); err != nil {
		return nil, err
	}

	for _, id := range []string{"node-a", "node-b", "node-c"} {
		n, err := d.newNode(ctx, id)
		if err != nil {
			d.closeNodes()
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		d.nodes = append(d.nodes, n)
	}
	defer d.closeNodes()
	d.plan()
	for _, n := range d.nodes {
		n.start()
	}

	if err := d.timeline(ctx); err != nil {
		return nil, err
	}
	d.con.logf("scheduling stops; the queue drains and the consumers catch up")
	d.stopScheduling()
	if err := d.drain(ctx); err != nil {
		return nil, err
	}
	d.con.endStatus()
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	stop := time.Now()
	d.closeNodes()
	d.con.logf("the survivors shut down gracefully in %v: the leader resigned, workers finished, consumers left the group",
		time.Since(stop).Round(time.Millisecond))
	return d.finish(ctx)
}

// header prints where the run happens and a reading of the Redis clock.
func (d *demo) header(ctx context.Context) error {
	d.con.println(fmt.Sprintf("Go Sync showcase on %s (PING %v), keys under %q",
		d.srv.where, d.srv.ping.Round(time.Microsecond), d.cfg.prefix))
	clock, err := d.obs.RedisClock()
	if err != nil {
		return err
	}
	defer clock.Close()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := clock.WaitSynchronized(wctx); err != nil {
		return fmt.Errorf("redis clock: %w", err)
	}
	r := clock.Now()
	d.con.println(fmt.Sprintf("clock: Redis TIME through ntptime: %s ± %v (%s), %v from this machine's clock",
		r.Best.UTC().Format("15:04:05.000000"), r.Bound().Round(time.Microsecond), r.Status, time.Until(r.Best).Round(time.Microsecond)))
	return nil
}

// plan says what is about to happen.
func (d *demo) plan() {
	c := d.cfg
	var parts []string
	for _, a := range d.accounts {
		parts = append(parts, fmt.Sprintf("%s in %d", a, d.nodes[0].topic.PartitionFor(a)))
	}
	for _, s := range []string{
		"three nodes (node-a, node-b, node-c), each with its own connection and gosync.New facade, run:",
		fmt.Sprintf("  - a candidate for leader of %q (lease %v, renew deadline %v); the leader runs a Scheduler",
			electionGroup, c.lease, c.renewDeadline),
		fmt.Sprintf("    with %d periodic tasks %s (%d per account, %s..%s), only while it leads",
			len(d.periodic), c.spec(), c.perAccount, d.accounts[0], d.accounts[len(d.accounts)-1]),
		fmt.Sprintf("  - %d workers: a task locks its account (TTL %v), adds 1 to the balance through the FencedStore",
			c.pool, c.lockTTL),
		fmt.Sprintf("    with the lock's token, and publishes it to topic %q keyed by the account", topicName),
		fmt.Sprintf("    (%d partitions: %s)", c.partitions, strings.Join(parts, ", ")),
		fmt.Sprintf("  - a member of consumer group %q, which checks that each account's events arrive in publish order", auditGroup),
		fmt.Sprintf("timeline: a lock holder stalls at %v, the leader is killed at %v, scheduling stops at %v, then drain",
			c.pauseAt.Round(10*time.Millisecond), c.killAt.Round(10*time.Millisecond), c.duration),
		"",
	} {
		d.con.println(s)
	}
}

// timeline runs the nodes for the configured duration, killing the
// leader on the way, with a status line every cfg.status.
func (d *demo) timeline(ctx context.Context) error {
	status := time.NewTicker(d.cfg.status)
	defer status.Stop()
	end := time.NewTimer(d.cfg.duration - d.con.elapsed())
	defer end.Stop()
	kill := time.NewTimer(d.cfg.killAt - d.con.elapsed())
	defer kill.Stop()
	watch := time.NewTicker(50 * time.Millisecond) // for the reclaim after the kill
	defer watch.Stop()
	killed := false
	for {
		select {
		case <-ctx.Done():
			d.con.endStatus()
			return fmt.Errorf("interrupted: %w", ctx.Err())
		case <-end.C:
			if !killed {
				return errors.New("the leader was never killed: no leader was elected")
			}
			return nil
		case <-kill.C:
			if killed = d.kill(ctx); !killed {
				kill.Reset(50 * time.Millisecond) // no leader at the moment
			}
		case <-status.C:
			d.refresh(ctx)
		case <-watch.C:
			d.watchReclaim(ctx)
		}
	}
}

// kill crashes the current leader's node, if there is a leader.
func (d *demo) kill(ctx context.Context) bool {
	d.mu.Lock()
	victim := d.leader
	if victim == nil {
		d.mu.Unlock()
		return false
	}
	term := d.term
	d.mu.Unlock()
	// Kill it in the middle of a task, if it gets one soon, to show the
	// task reclaimed and the lock it held expiring.
	for wait := time.Now().Add(5 * d.cfg.period); victim.busy.Load() == 0 && time.Now().Before(wait); {
		time.Sleep(time.Millisecond)
	}
	// What the lease has left is how long the survivors will wait.
	left := d.srv.client.PTTL(ctx, keys.Must(d.cfg.prefix).Key("leader", electionGroup)).Val()
	d.mu.Lock()
	if d.leader != victim || d.term != term { // the leadership changed meanwhile
		d.mu.Unlock()
		return false
	}
	d.killed, d.killedAt, d.killTerm, d.leader, d.leaseLeft = victim, time.Now(), term, nil, left
	owned := d.ownedBy(victim.id)
	d.mu.Unlock()
	victim.kill()
	d.con.logf("KILL %s, the leader (term %d): its connection now fails every command; nothing is resigned or released.",
		victim.id, term)
	in := int64(0)
	if st, err := d.inspector.Stats(ctx, taskQueue); err == nil {
		in = st.InFlight[victim.id]
	}
	d.mu.Lock()
	d.inFlight = in
	d.mu.Unlock()
	c := d.cfg
	d.con.more("The survivors wait for its leader lease (%v left of %v), its locks (TTL %v), its partitions %v",
		left.Round(time.Millisecond), c.lease, c.lockTTL, owned)
	if in == 0 {
		d.con.more("(lease %v) to run out; it held no task at the moment.", c.lease)
	} else {
		d.con.more("(lease %v) and its %s (visibility timeout %v) to run out.", c.lease, plural(int(in), "in-flight task"), c.visibility)
	}
	return true
}

// refresh updates what is derived from Redis and shows the status line.
func (d *demo) refresh(ctx context.Context) {
	now := time.Now()
	d.ticks.advance(ctx, d.srv.client, now, now.Add(-time.Second))
	d.watchReclaim(ctx)
	d.mu.Lock()
	if !d.groupShown && d.killed == nil && len(d.owner) == d.cfg.partitions {
		var owners []string
		for _, n := range d.nodes {
			if ps := d.ownedBy(n.id); len(ps) > 0 {
				owners = append(owners, fmt.Sprintf("%s %v", n.id, ps))
			}
		}
		if len(owners) == min(len(d.nodes), d.cfg.partitions) {
			d.groupShown = true
			d.con.logf("consumer group %q balanced: %s (fenced partition leases, %v)", auditGroup, strings.Join(owners, ", "), d.cfg.lease)
		}
	}
	leader := "none"
	switch {
	case d.leader != nil:
		leader = fmt.Sprintf("%s (term %d)", d.leader.id, d.term)
	case d.killed != nil && d.next == nil:
		leader = "none (lease running out)"
	}
	line := fmt.Sprintf("leader %s | tasks %d pushed, %d done | locks %d | fenced rejections %d | events %d published, %d consumed",
		leader, d.ticks.count(), len(d.done), d.locks.Load(), d.rejected.Load(), d.published.Load(), d.consumed)
	d.mu.Unlock()
	d.con.setStatus(line)
}

// watchReclaim reports when the tasks the killed node held have been
// reclaimed by the survivors (its pending count in the group drops to 0).
func (d *demo) watchReclaim(ctx context.Context) {
	d.mu.Lock()
	killed, inFlight, reclaimed := d.killed, d.inFlight, d.reclaim != 0
	d.mu.Unlock()
	if killed == nil || reclaimed {
		return
	}
	st, err := d.inspector.Stats(ctx, taskQueue)
	if err != nil || st.InFlight[killed.id] > 0 {
		return
	}
	d.mu.Lock()
	d.reclaim = time.Since(d.killedAt)
	d.mu.Unlock()
	if inFlight > 0 {
		d.con.logf("the survivors reclaimed %s's %s, %v after the kill (visibility timeout %v)",
			killed.id, plural(int(inFlight), "in-flight task"), d.reclaim.Round(10*time.Millisecond), d.cfg.visibility)
	}
}

// ownedBy lists the partitions member owns. d.mu must be held.
func (d *demo) ownedBy(member string) []int {
	var ps []int
	for p, m := range d.owner {
		if m == member {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// schedulerStarted registers a scheduler about to run, unless scheduling
// has stopped.
func (d *demo) schedulerStarted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.schedCtx.Err() != nil {
		return false
	}
	d.schedWG.Add(1)
	return true
}

// stopScheduling ends every leader's Scheduler and waits for them.
func (d *demo) stopScheduling() {
	d.mu.Lock()
	d.schedStop()
	d.mu.Unlock()
	d.schedWG.Wait()
}

// drain waits until every enqueued task is done, every event consumed
// and the queue empty.
func (d *demo) drain(ctx context.Context) error {
	deadline := time.Now().Add(d.cfg.drainTimeout)
	lastStatus := time.Now()
	for {
		// The schedulers have stopped: every tick up to now is final.
		now := time.Now()
		err := d.ticks.advance(ctx, d.srv.client, now, now)
		missing, pending := d.missing(), d.published.Load()-int64(d.consumedCount())
		var st redistask.Stats
		if err == nil {
			st, err = d.inspector.Stats(ctx, taskQueue)
		}
		if err == nil && missing == 0 && pending == 0 && st.Length == 0 && st.Retry == 0 {
			d.refresh(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not drained after %v: %d enqueued tasks not done, %d events not consumed, queue %+v (%v)",
				d.cfg.drainTimeout, missing, pending, st, err)
		}
		if time.Since(lastStatus) >= d.cfg.status {
			d.refresh(ctx)
			lastStatus = time.Now()
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
}

// missing counts the enqueued ticks not done yet.
func (d *demo) missing() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ticks.count() - len(d.done)
}

func (d *demo) consumedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.consumed
}

// closeNodes shuts every node down (the killed one has already stopped)
// and waits for them.
func (d *demo) closeNodes() {
	for _, n := range d.nodes {
		n.stop()
	}
	for _, n := range d.nodes {
		n.close()
	}
	d.nodes = nil
}

// fail records an unexpected error inside a node; the run then fails.
func (d *demo) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = err
	}
}

// elected records a new leader.
func (d *demo) elected(n *node, ld *redisleader.Leadership) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leader, d.term = n, ld.Term()
	if d.stopping {
		return
	}
	what := fmt.Sprintf("starts its Scheduler (%d periodic tasks %s)", len(d.periodic), d.cfg.spec())
	if d.schedCtx.Err() != nil {
		what = "(scheduling has stopped)"
	}
	if d.killed != nil && d.next == nil {
		d.next, d.nextTerm, d.failover = n, ld.Term(), time.Since(d.killedAt)
		d.con.logf("%s elected leader with term %d (> %d), %v after the kill; %s",
			n.id, ld.Term(), d.killTerm, d.failover.Round(time.Millisecond), what)
		return
	}
	d.con.logf("%s elected leader, term %d; %s", n.id, ld.Term(), what)
}

// leaderGone records the end of a leadership that did not end in a crash.
func (d *demo) leaderGone(n *node, ld *redisleader.Leadership, how string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.leader == n {
		d.leader = nil
	}
	if !d.stopping {
		d.con.logf("%s %s (term %d)", n.id, how, ld.Term())
	}
}

// claimPause reports whether the caller is to play the stalled holder.
func (d *demo) claimPause() bool {
	if d.con.elapsed() < d.cfg.pauseAt {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pause.claimed || d.pause.done {
		return false
	}
	d.pause.claimed = true
	return true
}

// pauseDone ends a stalled holder's act; rejected says whether its write
// was rejected (otherwise a later task plays it again).
func (d *demo) pauseDone(rejected bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pause.claimed = false
	d.pause.done = d.pause.done || rejected
}

// wrote records a fenced write accepted for account.
func (d *demo) wrote(account string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes[account]++
}

// finished records a task done.
func (d *demo) finished(tick, node string, latency time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.done[tick]; ok {
		d.extra++
		return
	}
	d.done[tick] = latency
}

// plural says "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
