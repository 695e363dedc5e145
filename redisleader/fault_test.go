package redisleader

// Fault tests against real redis-servers: a leader that crashes (kill -9)
// or is paused (SIGSTOP) in a separate OS process, nodes that are paused,
// killed and restarted under several competing candidates, and observers
// whose node dies. The safety of the recorded leaderships is judged by
// checkTenures, a plain function tested on its own below.
//
// With GO_SYNC_SOAK=1 the tests repeat their faults for minutes. They also
// check liveness properties that once-known defects broke (see
// knownDefects).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

// Timings of the leaders in child processes and of their rivals.
const (
	faultLease    = time.Second
	faultRenew    = 600 * time.Millisecond
	faultRetry    = 200 * time.Millisecond
	faultGroup    = "g"
	faultResource = "register"

	roleCrashLeader  = "redisleader-crash-leader"
	rolePausedLeader = "redisleader-paused-leader"

	envFaultNodes  = "GO_SYNC_LEADER_NODES"
	envFaultPrefix = "GO_SYNC_LEADER_PREFIX"
	envFaultID     = "GO_SYNC_LEADER_ID"
)

var faultTimings = []Option{WithLeaseDuration(faultLease), WithRenewDeadline(faultRenew), WithRetryPeriod(faultRetry)}

func soak() bool { return os.Getenv("GO_SYNC_SOAK") == "1" }

// knownDefects turns on the checks of defects not fixed yet.
// knownDefects reports whether the checks of once-known defects (slow
// campaigns while a node hangs, observers skipping leaders while moving
// between nodes, ties stalled by a dead node) are enforced. They are, now
// that those are fixed; GO_SYNC_LENIENT=1 only logs them.
func knownDefects() bool { return os.Getenv("GO_SYNC_LENIENT") != "1" }

// TestFaultHelper is not a test: the TestFault tests run it in a child
// process, a leader they can kill -9 or SIGSTOP. It campaigns, prints
// "elected <term> <deadline unix ns>", then plays its role.
func TestFaultHelper(t *testing.T) {
	role := redistest.HelperRole()
	if role != roleCrashLeader && role != rolePausedLeader {
		t.Skip("helper process of the TestFault tests only")
	}
	prefix := os.Getenv(envFaultPrefix)
	var nodes []redis.UniversalClient
	for _, a := range strings.Split(os.Getenv(envFaultNodes), ",") {
		c := redis.NewClient(redistest.Options(a)) // the restricted ACL user under GO_SYNC_ACL=1
		defer c.Close()
		nodes = append(nodes, c)
	}
	e, err := New(nodes, faultGroup, append([]Option{WithPrefix(prefix)}, faultTimings...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // the parent kills us long before
	defer cancel()
	ld, err := e.Campaign(ctx, os.Getenv(envFaultID))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("elected %d %d\n", ld.Term(), ld.Deadline().UnixNano())
	switch role {
	case roleCrashLeader:
		crashLeader(ctx, ld)
	case rolePausedLeader:
		store, err := redislock.NewFencedStore(nodes[0], prefix)
		if err != nil {
			t.Fatal(err)
		}
		pausedLeader(ctx, ld, store)
	}
}

// crashLeader leads until it is killed, printing "deadline <unix ns>"
// whenever a renewal moved its step-down deadline.
func crashLeader(ctx context.Context, ld *Leadership) {
	last := ld.Deadline()
	for sleepCtx(ctx, 5*time.Millisecond) {
		if err := ld.Err(); err != nil {
			fmt.Println("lost", err)
			return
		}
		if d := ld.Deadline(); !d.Equal(last) {
			last = d
			fmt.Println("deadline", d.UnixNano())
		}
	}
}

// pausedReport is what the paused leader saw at its first check after it
// was resumed.
type pausedReport struct {
	Term       uint64        `json:"term"`
	Gap        time.Duration `json:"gap"`         // the pause, as a gap between two 20ms sleeps
	DoneBefore bool          `json:"done_before"` // Done was already closed (a timer got there first)
	CtxErr     string        `json:"ctx_err"`     // ld.Context().Err(): the first check
	Cause      string        `json:"cause"`
	Valid      bool          `json:"valid"`
	Write      string        `json:"write"` // the fenced write attempted anyway
	Stale      bool          `json:"stale"` // errors.Is(write error, redislock.ErrStaleToken)
}

// pausedLeader writes once with its term ("wrote <term>"), then sleeps in
// 20ms steps until a step takes longer than the lease: it was paused.
// At once it checks its leadership, writes with its term anyway, and
// prints "resumed <json pausedReport>".
func pausedLeader(ctx context.Context, ld *Leadership, store *redislock.FencedStore) {
	if err := store.Write(ctx, faultResource, ld.Term(), "a"); err != nil {
		fmt.Println("write-failed", err)
		return
	}
	fmt.Println("wrote", ld.Term())
	lctx := ld.Context()
	prev := time.Now()
	for sleepCtx(ctx, 20*time.Millisecond) {
		now := time.Now()
		gap := now.Sub(prev)
		prev = now
		if gap <= faultLease {
			continue
		}
		r := pausedReport{Term: ld.Term(), Gap: gap}
		select {
		case <-ld.Done():
			r.DoneBefore = true
		default:
		}
		r.CtxErr = errText(lctx.Err())
		r.Cause = errText(context.Cause(lctx))
		r.Valid = ld.Valid()
		err := store.Write(ctx, faultResource, ld.Term(), "a-after-pause")
		r.Write, r.Stale = errText(err), errors.Is(err, redislock.ErrStaleToken)
		b, _ := json.Marshal(r)
		fmt.Println("resumed", string(b))
		return
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// helperOut collects the stdout lines of a helper process.
type helperOut struct {
	mu     stdsync.Mutex
	lines  [][]string    // fields of each line
	notify chan struct{} // closed and replaced when a line arrives
	done   chan struct{} // closed when the helper's stdout ended
}

func watchHelper(p *redistest.Process) *helperOut {
	h := &helperOut{notify: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for l := range p.Lines() {
			h.mu.Lock()
			h.lines = append(h.lines, strings.Fields(l))
			close(h.notify)
			h.notify = make(chan struct{})
			h.mu.Unlock()
		}
	}()
	return h
}

// all returns the fields of every line so far whose first field is word.
func (h *helperOut) all(word string) [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]string
	for _, f := range h.lines {
		if len(f) > 0 && f[0] == word {
			out = append(out, f)
		}
	}
	return out
}

// await returns the first line whose first field is word, waiting up to
// timeout for it.
func (h *helperOut) await(t *testing.T, p *redistest.Process, word string, timeout time.Duration) []string {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		notify := h.notify
		h.mu.Unlock()
		if got := h.all(word); len(got) > 0 {
			return got[0]
		}
		select {
		case <-notify:
		case <-h.done:
			if got := h.all(word); len(got) > 0 {
				return got[0]
			}
			t.Fatalf("helper exited without a %q line; stderr:\n%s", word, p.Output())
		case <-timer.C:
			t.Fatalf("no %q line from the helper within %v; stderr:\n%s", word, timeout, p.Output())
		}
	}
}

func parseUint(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("helper line field %q: %v", s, err)
	}
	return v
}

func addrs(nodes []*redistest.Node) string {
	a := make([]string, len(nodes))
	for i, n := range nodes {
		a[i] = n.Addr
	}
	return strings.Join(a, ",")
}

// startLeader runs candidate id in a helper process and waits until it
// is elected; it returns the process, its output and its term.
func startLeader(t *testing.T, role string, nodes []*redistest.Node, prefix, id string) (*redistest.Process, *helperOut, uint64) {
	t.Helper()
	p := redistest.StartProcess(t, "TestFaultHelper", role,
		envFaultNodes+"="+addrs(nodes), envFaultPrefix+"="+prefix, envFaultID+"="+id)
	out := watchHelper(p)
	f := out.await(t, p, "elected", 20*time.Second)
	if len(f) != 3 {
		t.Fatalf("helper said %q", f)
	}
	return p, out, parseUint(t, f[1])
}

type campaignResult struct {
	ld  *Leadership
	at  time.Time
	err error
}

// campaignAsync campaigns as id in the background.
func campaignAsync(ctx context.Context, e *Elector, id string) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		ld, err := e.Campaign(ctx, id)
		ch <- campaignResult{ld, time.Now(), err}
	}()
	return ch
}

// A leader killed with SIGKILL never resigns: the waiting candidate is
// elected once the lease runs out, with a larger term, and not before the
// lease the dead leader last renewed could have expired.
func TestFaultCrashFailover(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	rounds := 1
	if soak() {
		rounds = 10
	}
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) {
			ctx := t.Context()
			nodes := redistest.Independent(t, n)
			prefix := redistest.Prefix(t)
			eb := newElector(t, redistest.Clients(nodes), faultGroup, faultTimings...)
			for round := range rounds {
				a, out, aTerm := startLeader(t, roleCrashLeader, nodes, prefix, fmt.Sprintf("a%d", round))
				got := campaignAsync(withTimeout(t, 30*time.Second), eb, "b")
				// Let b queue and a renew a few times, at a random phase
				// of its renewal period.
				time.Sleep(2*faultRetry + rand.N(faultRetry))
				select {
				case r := <-got:
					t.Fatalf("b elected (term %d, err %v) while a was alive", termOf(r.ld), r.err)
				default:
				}
				killed := time.Now()
				a.Kill()
				r := <-got
				if r.err != nil {
					t.Fatalf("b's campaign after a's crash: %v", r.err)
				}
				failover := r.at.Sub(killed)
				bound := faultLease + faultRetry + time.Second // generous scheduling slack
				t.Logf("round %d: a (term %d) killed; b elected at term %d after %v", round, aTerm, r.ld.Term(), failover)
				if failover > bound {
					t.Errorf("failover took %v, more than lease + retry period + slack = %v", failover, bound)
				}
				if r.ld.Term() <= aTerm {
					t.Errorf("b's term %d is not larger than the dead leader's %d", r.ld.Term(), aTerm)
				}
				// a's last deadline we saw: the lease it renewed then cannot
				// expire before deadline + (lease - renew deadline).
				var lastDeadline uint64
				for _, f := range append(out.all("elected"), out.all("deadline")...) {
					lastDeadline = max(lastDeadline, parseUint(t, f[len(f)-1]))
				}
				expiry := time.Unix(0, int64(lastDeadline)).Add(faultLease - faultRenew)
				if !r.at.After(expiry) {
					t.Errorf("b elected at %v, before a's lease could expire (%v): two leaders", r.at, expiry)
				}
				if lost := out.all("lost"); len(lost) > 0 {
					t.Errorf("a lost its leadership before the crash: %q", lost)
				}
				in, err := eb.Leader(ctx)
				if err != nil || in.ID != "b" || in.Term != r.ld.Term() {
					t.Errorf("Leader after failover = %+v, %v; want b at term %d", in, err, r.ld.Term())
				}
				if err := r.ld.Resign(ctx); err != nil {
					t.Fatalf("Resign: %v", err)
				}
			}
		})
	}
}

func termOf(ld *Leadership) uint64 {
	if ld == nil {
		return 0
	}
	return ld.Term()
}

// A leader paused with SIGSTOP past its lease is replaced; when it
// resumes, its first check already says it no longer leads (the deadline
// is on the monotonic clock), and the write it makes anyway with its old
// term is rejected by the fenced store, which has the new leader's.
func TestFaultPausedLeader(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	rounds := 1
	if soak() {
		rounds = 5
	}
	ctx := t.Context()
	node := redistest.Standalone(t)
	nodes := []*redistest.Node{node}
	prefix := redistest.Prefix(t)
	clients := redistest.Clients(nodes)
	eb := newElector(t, clients, faultGroup, faultTimings...)
	store, err := redislock.NewFencedStore(clients[0], prefix)
	if err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		a, out, aTerm := startLeader(t, rolePausedLeader, nodes, prefix, fmt.Sprintf("a%d", round))
		if f := out.await(t, a, "wrote", 10*time.Second); parseUint(t, f[1]) != aTerm {
			t.Fatalf("helper wrote with term %s, elected with %d", f[1], aTerm)
		}
		got := campaignAsync(withTimeout(t, 30*time.Second), eb, "b")
		time.Sleep(rand.N(faultRetry)) // pause a at a random phase of its renewals
		if err := a.Pause(); err != nil {
			t.Fatal(err)
		}
		paused := time.Now()
		r := <-got
		if r.err != nil {
			a.Resume()
			t.Fatalf("b's campaign while a is paused: %v", r.err)
		}
		if r.ld.Term() <= aTerm {
			t.Errorf("b's term %d is not larger than the paused leader's %d", r.ld.Term(), aTerm)
		}
		if err := store.Write(ctx, faultResource, r.ld.Term(), "b"); err != nil {
			a.Resume()
			t.Fatalf("b's fenced write: %v", err)
		}
		// Keep a stopped well past its lease, then let it run.
		time.Sleep(time.Until(paused.Add(faultLease + 300*time.Millisecond)))
		if err := a.Resume(); err != nil {
			t.Fatal(err)
		}
		f := out.await(t, a, "resumed", 10*time.Second)
		var rep pausedReport
		if err := json.Unmarshal([]byte(strings.Join(f[1:], " ")), &rep); err != nil {
			t.Fatalf("helper report %q: %v", f, err)
		}
		t.Logf("round %d: b elected at term %d %v after a (term %d) was paused; a resumed after %v: %+v",
			round, r.ld.Term(), r.at.Sub(paused), aTerm, rep.Gap, rep)
		if rep.CtxErr == "" || rep.Valid {
			t.Errorf("after the pause, a's first check says it still leads: Context().Err() %q, Valid %v", rep.CtxErr, rep.Valid)
		}
		if rep.Cause != ErrLost.Error() {
			t.Errorf("cause of a's end = %q, want %q", rep.Cause, ErrLost)
		}
		if !rep.Stale {
			t.Errorf("a's write with its old term %d after b's term %d: %q, want ErrStaleToken", aTerm, r.ld.Term(), rep.Write)
		}
		v, tok, err := store.Read(ctx, faultResource)
		if err != nil || v != "b" || tok != r.ld.Term() {
			t.Errorf("store holds %q at token %d (%v), want b's write at %d", v, tok, err, r.ld.Term())
		}
		a.Kill()
		if err := r.ld.Resign(ctx); err != nil {
			t.Fatalf("Resign: %v", err)
		}
	}
}

// tenure is one leadership as its holder saw it, on one process's
// monotonic clock: from the return of Campaign to the moment it stopped
// leading (before calling Resign, or the step-down deadline when Done
// fired first).
type tenure struct {
	term       uint64
	id         string
	start, end time.Time
}

func (x tenure) String() string {
	return fmt.Sprintf("term %d by %s", x.term, x.id)
}

// checkTenures returns every safety violation in h:
//
//	one leader per term: no term appears twice;
//	terms increase: in order of start, each term is larger than the last;
//	one leader at a time: no two [start, end) intervals overlap by more
//	  than tolerance.
//
// Empty tenures (end <= start: Campaign returned a leadership already
// lost) count for the first rule only: they never led.
func checkTenures(h []tenure, tolerance time.Duration) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	if len(h) == 0 {
		return nil
	}
	byStart := slices.SortedStableFunc(slices.Values(h), func(a, b tenure) int { return a.start.Compare(b.start) })
	origin := byStart[0].start
	at := func(x time.Time) string {
		return fmt.Sprintf("%.1fms", float64(x.Sub(origin))/float64(time.Millisecond))
	}

	seen := map[uint64]tenure{}
	for _, x := range h {
		if o, ok := seen[x.term]; ok {
			bad("term %d held twice: by %s from %s and by %s from %s", x.term, o.id, at(o.start), x.id, at(x.start))
		}
		seen[x.term] = x
	}
	var prev *tenure
	for i := range byStart {
		x := &byStart[i]
		if !x.end.After(x.start) {
			continue
		}
		if prev != nil && x.term <= prev.term {
			bad("terms do not increase: %v started at %s after %v started at %s", *x, at(x.start), *prev, at(prev.start))
		}
		prev = x
	}
	var last *tenure // the interval ending last so far
	for i := range byStart {
		x := &byStart[i]
		if !x.end.After(x.start) {
			continue
		}
		if last != nil && x.start.Before(last.end.Add(-tolerance)) {
			bad("two leaders at once: %v led %s..%s, %v led from %s (overlap %v)",
				*last, at(last.start), at(last.end), *x, at(x.start), last.end.Sub(x.start))
		}
		if last == nil || x.end.After(last.end) {
			last = x
		}
	}
	return v
}

func TestFaultCheckerCatchesViolations(t *testing.T) {
	t0 := time.Now()
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ok := []tenure{
		{1, "a", ms(0), ms(10)},
		{2, "b", ms(10), ms(20)},
		{4, "a", ms(30), ms(25)}, // empty: lost before Campaign returned
		{5, "c", ms(31), ms(50)},
	}
	cases := []struct {
		name string
		h    []tenure
		want string // "" for no violation
	}{
		{"valid", ok, ""},
		{"empty", nil, ""},
		{"overlap", []tenure{{1, "a", ms(0), ms(10)}, {2, "b", ms(5), ms(15)}}, "two leaders at once"},
		{"overlap behind a short tenure", []tenure{{1, "a", ms(0), ms(100)}, {2, "b", ms(10), ms(20)}, {3, "c", ms(50), ms(60)}}, "two leaders at once"},
		{"overlap within tolerance", []tenure{{1, "a", ms(0), ms(10)}, {2, "b", ms(9), ms(15)}}, ""},
		{"term twice", []tenure{{1, "a", ms(0), ms(10)}, {1, "b", ms(20), ms(30)}}, "term 1 held twice"},
		{"term decreases", []tenure{{2, "a", ms(0), ms(10)}, {1, "b", ms(20), ms(30)}}, "terms do not increase"},
		{"term repeats in order", []tenure{{3, "a", ms(0), ms(10)}, {3, "a", ms(20), ms(30)}}, "terms do not increase"},
		{"unsorted input is sorted", []tenure{{2, "b", ms(20), ms(30)}, {1, "a", ms(0), ms(10)}}, ""},
		{"empty tenure out of order", []tenure{{2, "b", ms(0), ms(10)}, {1, "a", ms(5), ms(4)}, {3, "c", ms(10), ms(20)}}, ""},
		{"empty tenure reuses a term", []tenure{{2, "b", ms(0), ms(10)}, {2, "a", ms(5), ms(4)}}, "term 2 held twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := checkTenures(c.h, 2*time.Millisecond)
			switch {
			case c.want == "" && len(v) > 0:
				t.Fatalf("violations in a valid history: %q", v)
			case c.want != "" && !slices.ContainsFunc(v, func(s string) bool { return strings.Contains(s, c.want) }):
				t.Fatalf("violations %q, want one saying %q", v, c.want)
			}
		})
	}
}

// tenureLog records the tenures of concurrent candidates.
type tenureLog struct {
	mu stdsync.Mutex
	ts []tenure
}

func (l *tenureLog) add(x tenure) {
	l.mu.Lock()
	l.ts = append(l.ts, x)
	l.mu.Unlock()
}

// startedIn counts the tenures, empty ones aside, that started in
// [from, to).
func (l *tenureLog) startedIn(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, x := range l.ts {
		if x.end.After(x.start) && !x.start.Before(from) && x.start.Before(to) {
			n++
		}
	}
	return n
}

func (l *tenureLog) snapshot() []tenure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ts)
}

// candidate campaigns as id until run ends, holding each leadership for a
// random short time (or until it ends by itself), then resigning.
func candidate(run context.Context, e *Elector, id string, seed uint64, hist *tenureLog) {
	rng := rand.New(rand.NewPCG(seed, 2))
	for run.Err() == nil {
		ld, err := e.Campaign(run, id)
		if err != nil {
			return // run ended (Campaign waits through node errors)
		}
		start := time.Now()
		stillborn := ld.Err() != nil // lost before Campaign returned: it never led
		hold := time.NewTimer(time.Duration(5+rng.IntN(60)) * time.Millisecond)
		select {
		case <-hold.C:
		case <-ld.Done():
		case <-run.Done():
		}
		hold.Stop()
		end := time.Now()
		if d := ld.Deadline(); d.Before(end) {
			end = d // it stopped leading at its deadline
		}
		if stillborn {
			end = start
		}
		hist.add(tenure{term: ld.Term(), id: id, start: start, end: end})
		ctx, cancel := context.WithTimeout(context.WithoutCancel(run), 500*time.Millisecond)
		ld.Resign(ctx)
		cancel()
	}
}

// Three candidates on three independent AOF nodes elect and resign in a
// loop while nodes are paused, killed and restarted, and a majority is
// lost for a while. The recorded tenures must satisfy checkTenures, and
// leaders must be elected after every fault.
func TestFaultRedisNodeFaults(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	ctx := t.Context()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	nodes := redistest.Independent(t, 3, redistest.WithAOF("always"))
	hist := &tenureLog{}
	run, stop := context.WithCancel(ctx)
	var wg stdsync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for i := range 3 {
		e := newElector(t, redistest.Clients(nodes), faultGroup, fast...)
		id := fmt.Sprintf("c%d", i)
		wg.Go(func() { candidate(run, e, id, seed+uint64(i), hist) })
	}

	const recovery = 15 * time.Second
	fault := func(name string, during bool, inject func()) {
		t.Helper()
		began := time.Now()
		inject()
		ended := time.Now()
		in := hist.startedIn(began, ended)
		t.Logf("%s: %v, %d leaders elected meanwhile", name, ended.Sub(began).Round(time.Millisecond), in)
		if during && in == 0 {
			// Liveness during a fault depends on timing (a leader whose
			// grant sat on the killed node steps down first; backoff after
			// unreachable nodes): logged, not judged. Safety is judged by
			// checkTenures; recovery after the fault is judged below.
			t.Logf("%s: no leader elected while a majority was up", name)
		}
		for hist.startedIn(ended, time.Now()) == 0 {
			if time.Since(ended) > recovery {
				t.Fatalf("%s: no leader elected within %v after the fault ended", name, recovery)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: next leader %v after", name, time.Since(ended).Round(time.Millisecond))
	}
	pause := func(i int, d time.Duration) func() {
		return func() {
			if err := nodes[i].Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(d)
			if err := nodes[i].Resume(); err != nil {
				t.Fatal(err)
			}
		}
	}
	killRestart := func(i int, d time.Duration) func() {
		return func() {
			nodes[i].Kill()
			time.Sleep(d)
			if err := nodes[i].Restart(); err != nil {
				t.Fatal(err)
			}
		}
	}
	noQuorum := func(d time.Duration) func() {
		return func() {
			if err := nodes[2].Pause(); err != nil {
				t.Fatal(err)
			}
			nodes[0].Kill()
			time.Sleep(d)
			if err := nodes[0].Restart(); err != nil {
				t.Fatal(err)
			}
			if err := nodes[2].Resume(); err != nil {
				t.Fatal(err)
			}
		}
	}

	fault("warm-up", true, func() { time.Sleep(500 * time.Millisecond) })
	fault("pause node 0 past the lease", true, pause(0, time.Second))
	fault("kill -9 node 1, restart", true, killRestart(1, time.Second))
	fault("no majority: pause node 2, kill node 0", false, noQuorum(time.Second))
	if soak() {
		end := time.Now().Add(2 * time.Minute)
		for time.Now().Before(end) {
			i, d := rng.IntN(3), time.Duration(100+rng.IntN(1500))*time.Millisecond
			switch rng.IntN(3) {
			case 0:
				fault(fmt.Sprintf("pause node %d for %v", i, d), d > 500*time.Millisecond, pause(i, d))
			case 1:
				fault(fmt.Sprintf("kill -9 node %d for %v", i, d), d > 500*time.Millisecond, killRestart(i, d))
			case 2:
				fault(fmt.Sprintf("no majority for %v", d), false, noQuorum(d))
			}
		}
	}
	fault("cool-down", true, func() { time.Sleep(500 * time.Millisecond) })
	stop()
	wg.Wait()

	h := hist.snapshot()
	// Every time comes from this process's monotonic clock and a leader
	// steps down lease - renew deadline (200ms) before its lease can
	// expire: no tolerance is needed.
	for _, v := range checkTenures(h, 0) {
		t.Error(v)
	}
	if len(h) < 10 {
		t.Errorf("only %d leaderships recorded", len(h))
	}
	empty := 0
	for _, x := range h {
		if !x.end.After(x.start) {
			empty++
		}
	}
	t.Logf("%d leaderships checked; %d of them already lost when Campaign returned", len(h), empty)
}

// An observer sees every leader in term order while it is connected; when
// the node it reads dies (kill -9, then restart) it moves to another and
// converges: it delivers the latest leader, with strictly increasing
// terms, and from its first delivery after the reconnect on it again sees
// every leader that every node's history holds. Leaders skipped while it
// reconnects, and leaders its node was never told of, are logged (errors
// with GO_SYNC_KNOWN_DEFECTS=1).
func TestFaultObserversConverge(t *testing.T) {
	if redistest.HelperRole() != "" {
		t.Skip("not in a helper")
	}
	ctx := t.Context()
	nodes := redistest.Independent(t, 3, redistest.WithAOF("always"))
	cand := newElector(t, redistest.Clients(nodes), faultGroup, fast...)
	watcher := newElector(t, redistest.Clients(nodes), faultGroup, fast...)

	octx, cancel := context.WithCancel(ctx)
	var (
		mu        stdsync.Mutex
		delivered []Info
		collector stdsync.WaitGroup
	)
	ch := watcher.Observe(octx)
	collector.Go(func() {
		for in := range ch {
			mu.Lock()
			delivered = append(delivered, in)
			mu.Unlock()
		}
	})
	defer func() { cancel(); collector.Wait() }()
	lastDelivered := func() (Info, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(delivered) == 0 {
			return Info{}, 0
		}
		return delivered[len(delivered)-1], len(delivered)
	}

	elected := map[uint64]string{}
	var terms []uint64
	var final *Leadership
	stillborn := 0
	round := func(keep bool) {
		var ld *Leadership
		for ld == nil {
			l, err := cand.Campaign(withTimeout(t, 10*time.Second), "c"+strconv.Itoa(len(terms)))
			if err != nil {
				t.Fatal(err)
			}
			if l.Err() != nil {
				// Lost before Campaign returned (a known defect: the
				// announcement waits for the dead node): it never led.
				stillborn++
				l.Resign(ctx)
				continue
			}
			ld = l
		}
		elected[ld.Term()] = ld.ID()
		terms = append(terms, ld.Term())
		if keep {
			final = ld
			return
		}
		time.Sleep(time.Duration(rand.N(10)) * time.Millisecond)
		// With a node down Resign waits for it as long as ctx allows; the
		// majority has released by then.
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := ld.Resign(rctx)
		cancel()
		if err != nil && !errors.Is(err, redislock.ErrQuorum) && !errors.Is(ld.Err(), ErrLost) {
			t.Fatalf("Resign term %d: %v", ld.Term(), err)
		}
	}
	rounds := func(n int) {
		for range n {
			round(false)
		}
	}
	// caughtUp waits until the observer delivered the latest term.
	caughtUp := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if in, _ := lastDelivered(); in.Term == terms[len(terms)-1] {
				return
			}
			if time.Now().After(deadline) {
				in, _ := lastDelivered()
				t.Fatalf("observer stuck at %+v; latest term %d", in, terms[len(terms)-1])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// historyTerms reads each node's announcement history.
	historyTerms := func() []map[uint64]bool {
		held := make([]map[uint64]bool, len(nodes))
		for i, n := range nodes {
			held[i] = map[uint64]bool{}
			v, err := n.Do(ctx, "XRANGE", watcher.history, "-", "+")
			if err != nil {
				t.Fatalf("XRANGE on node %d: %v", i, err)
			}
			entries, _ := v.([]any)
			for _, e := range entries {
				fields, _ := e.([]any)
				if len(fields) < 2 {
					continue
				}
				kv, _ := fields[1].([]any)
				for j := 0; j+1 < len(kv); j += 2 {
					if kv[j] == "term" {
						term, _ := strconv.ParseUint(fmt.Sprint(kv[j+1]), 10, 64)
						held[i][term] = true
					}
				}
			}
		}
		return held
	}
	// judge checks the terms elected since the last call, once the
	// observer has caught up: each was delivered, or falls in the window
	// of a reconnect, or was missing from the history of a node.
	var reconnecting, notOnEveryNode []uint64
	checked := 0
	judge := func(window func(uint64) bool) {
		mu.Lock()
		got := map[uint64]bool{}
		for _, in := range delivered {
			got[in.Term] = true
		}
		mu.Unlock()
		var missing, skipped []uint64
		for _, term := range terms[checked:] {
			switch {
			case got[term]:
			case window != nil && window(term):
				skipped = append(skipped, term)
			default:
				missing = append(missing, term)
			}
		}
		checked = len(terms)
		if len(missing)+len(skipped) == 0 {
			return
		}
		held := historyTerms() // the stream keeps 64 entries: more than a check spans
		holders := func(term uint64) []int {
			var hs []int
			for i := range held {
				if held[i][term] {
					hs = append(hs, i)
				}
			}
			return hs
		}
		for _, term := range skipped {
			t.Logf("observer skipped term %d while moving to another node; nodes %v have it in their history", term, holders(term))
		}
		reconnecting = append(reconnecting, skipped...)
		for _, term := range missing {
			hs := holders(term)
			if len(hs) == len(nodes) {
				t.Errorf("observer missed term %d while connected, although every node's history has it", term)
				continue
			}
			notOnEveryNode = append(notOnEveryNode, term)
			t.Logf("observer missed term %d while connected; only nodes %v have it in their history", term, hs)
		}
	}
	type outage struct{ killedAt, firstAfter uint64 }
	var outages []outage
	// kill kills the node the observer reads (it starts on node 0 and
	// moves to the next one on an error) while leaders keep changing, then
	// restarts it.
	kill := func(i int) {
		caughtUp()
		judge(nil)
		o := outage{killedAt: terms[len(terms)-1]}
		_, n := lastDelivered()
		nodes[i].Kill()
		rounds(6)
		if err := nodes[i].Restart(); err != nil {
			t.Fatal(err)
		}
		rounds(3)
		caughtUp()
		mu.Lock()
		for _, in := range delivered[n:] {
			if in.Term > o.killedAt {
				o.firstAfter = in.Term
				break
			}
		}
		mu.Unlock()
		outages = append(outages, o)
		judge(func(term uint64) bool { return term > o.killedAt && term < o.firstAfter })
	}

	cycles := 1
	if soak() {
		cycles = 20
	}
	// Observe positions itself in the background: hold the first leader
	// until it was delivered, so that every later one must be.
	round(true)
	caughtUp()
	if err := final.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	rounds(4)
	for c := range cycles {
		kill((2 * c) % 3)
		rounds(5)
		kill((2*c + 1) % 3)
		rounds(5)
	}
	round(true)
	caughtUp()
	judge(nil)
	cancel()
	collector.Wait()
	defer final.Resign(ctx)

	in, n := lastDelivered()
	if in.ID != final.ID() || in.Term != final.Term() {
		t.Fatalf("observer ended at %+v, want %s at term %d", in, final.ID(), final.Term())
	}
	for i, in := range delivered {
		if i > 0 && in.Term <= delivered[i-1].Term {
			t.Errorf("delivered term %d after %d", in.Term, delivered[i-1].Term)
		}
		if id, ok := elected[in.Term]; !ok || id != in.ID {
			t.Errorf("delivered %+v: no such leadership (term %d was %q)", in, in.Term, id)
		}
	}
	t.Logf("%d leaders (%d more lost before Campaign returned), %d delivered; skipped while reconnecting: %v; outages (term at kill, first delivered after): %v; missed as absent from a node's history: %v",
		len(terms), stillborn, n, reconnecting, outages, notOnEveryNode)
	if knownDefects() {
		// Known defects: the reconciling read after a switch of node
		// delivers the latest leader before the new node's history; and an
		// observer reads one node, whose announcements are best effort.
		if len(reconnecting) > 0 {
			t.Errorf("observer skipped terms %v when it moved to another node, whose history has them", reconnecting)
		}
		if len(notOnEveryNode) > 0 {
			t.Errorf("observer missed terms %v that its node was never told of", notOnEveryNode)
		}
	}
}

// TestFaultKnownDefects reproduces defects found by the fault tests and
// not fixed yet: with one of three nodes paused (SIGSTOP: connections
// open, nothing answered), waits meant to be bounded by RetryPeriod last
// the go-redis socket timeout instead (ReadTimeout, or BLOCK + 10s for
// XREAD), because go-redis ignores context deadlines unless
// ContextTimeoutEnabled is set and never interrupts a read on
// cancellation. Run with GO_SYNC_KNOWN_DEFECTS=1; each subtest passes once
// its defect is fixed. The same variable makes TestFaultRedisNodeFaults
// require elections while a majority is up, and TestFaultObserversConverge
// require every leader to be delivered across a switch of node.
func TestFaultKnownDefects(t *testing.T) {
	if !knownDefects() {
		t.Skip("GO_SYNC_LENIENT=1: once-known defects are not checked")
	}
	const slack = 300 * time.Millisecond
	t.Run("campaign and resign with a paused node", func(t *testing.T) {
		ctx := t.Context()
		nodes := redistest.Independent(t, 3)
		e := newElector(t, redistest.Clients(nodes), faultGroup, fast...)
		if err := nodes[0].Pause(); err != nil {
			t.Fatal(err)
		}
		defer nodes[0].Resume()
		began := time.Now()
		ld, err := e.Campaign(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		// announce waits for every node, bounded by RetryPeriod.
		if d := time.Since(began); d > 100*time.Millisecond+slack {
			t.Errorf("Campaign took %v with a majority up: the announcement waits for the paused node", d)
		}
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		began = time.Now()
		ld.Resign(rctx)
		if d := time.Since(began); d > 100*time.Millisecond+slack {
			t.Errorf("Resign with a 100ms context took %v", d)
		}
	})
	t.Run("observer on a paused node", func(t *testing.T) {
		ctx := t.Context()
		nodes := redistest.Independent(t, 3)
		cand := newElector(t, redistest.Clients(nodes), faultGroup, fast...)
		watcher := newElector(t, redistest.Clients(nodes), faultGroup, fast...)
		obs := watcher.Observe(ctx)
		a, err := cand.Campaign(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if in := next(t, obs, 5*time.Second); in.Term != a.Term() {
			t.Fatalf("observed %+v, want term %d", in, a.Term())
		}
		if err := nodes[0].Pause(); err != nil { // the node the observer reads
			t.Fatal(err)
		}
		defer nodes[0].Resume()
		resign := func(ld *Leadership) { // node 0 hangs: do not wait for it
			rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			ld.Resign(rctx)
		}
		resign(a)
		b, err := cand.Campaign(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		resign(b)
		c, err := cand.Campaign(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Resign(ctx)
		// Nodes 1 and 2 have b and c in their histories: the observer should
		// see both, within a few RetryPeriods.
		for _, want := range []*Leadership{b, c} {
			select {
			case in := <-obs:
				if in.Term != want.Term() {
					t.Errorf("observed %+v, want %s at term %d (the one before was skipped)", in, want.ID(), want.Term())
				}
			case <-time.After(3*100*time.Millisecond + slack):
				t.Fatalf("observer delivered nothing within 3 RetryPeriods; want %s at term %d", want.ID(), want.Term())
			}
		}
	})
}
