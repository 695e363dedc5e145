package redislock

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/lifecycle"
	"github.com/go-sync/sync/internal/script"
	"github.com/redis/go-redis/v9"
)

//go:embed scripts/*.lua
var scriptFS embed.FS

var (
	acquireScript     = script.Load(scriptFS, "scripts/acquire.lua")
	raiseScript       = script.Load(scriptFS, "scripts/raise.lua")
	extendScript      = script.Load(scriptFS, "scripts/extend.lua")
	releaseScript     = script.Load(scriptFS, "scripts/release.lua")
	fencedWriteScript = script.Load(scriptFS, "scripts/fenced_write.lua")
)

// ErrBadOption is returned by New for an unusable configuration.
var ErrBadOption = errors.New("redislock: invalid option")

type node struct {
	client  redis.UniversalClient
	addr    string
	sharded bool // a Redis Cluster client: notify with SPUBLISH
}

// Locker hands out locks over one Redis (a single-instance lock) or over N
// independent Redis masters (Redlock, quorum N/2+1). It is safe for
// concurrent use. Close stops its background goroutines (watchdogs,
// subscriptions) and releases the locks still held.
type Locker struct {
	nodes []node
	// silent[i] is set when node i left an attempt unanswered past its
	// bound, and cleared when it answers again: a split vote does not
	// wait for a node known to be silent.
	silent []atomic.Bool
	quorum int
	keys   keys.Space
	opts   options
	log    *slog.Logger

	// seen holds, per hash bucket of names, the highest fencing counter
	// this Locker has observed; proposals are seen+1. A collision only
	// makes a proposal larger, which is still correct.
	seen [1024]atomic.Uint64
	seed maphash.Seed
	id   string // random, 8 hex digits: marks this Locker's grant values

	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	// grace ends closeGrace after ctx: cleanup calls (releases) in
	// flight when the Locker closes get that long to land.
	grace    context.Context
	endGrace context.CancelFunc
	wg       lifecycle.Group // background goroutines; Add may race with Close's Wait

	mu     stdsync.Mutex
	closed bool
	queues map[string]*waitQueue
	held   map[*Lock]struct{}

	subMu stdsync.Mutex
	subs  map[string]*nodeSub // by lock-node index and master address
}

// New returns a Locker over nodes: one client for a single-instance lock,
// or several independent masters for Redlock. The caller owns the clients.
// It returns an error wrapping ErrBadOption when nodes is empty or holds
// nil, or an option is invalid.
func New(nodes []redis.UniversalClient, opts ...Option) (*Locker, error) {
	o := options{prefix: keys.DefaultPrefix, ttl: DefaultTTL, kind: "lock"}
	for _, opt := range opts {
		opt(&o)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no Redis nodes", ErrBadOption)
	}
	ks, err := keys.New(o.prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOption, err)
	}
	if o.ttl < MinTTL {
		return nil, fmt.Errorf("%w: TTL %v below the minimum %v", ErrBadOption, o.ttl, MinTTL)
	}
	if o.kind == "" || strings.ContainsAny(o.kind, "{}:*?[]\\ ") {
		return nil, fmt.Errorf("%w: key kind %q", ErrBadOption, o.kind)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.owner == "" {
		o.owner = defaultOwner()
	}
	l := &Locker{
		quorum: len(nodes)/2 + 1,
		silent: make([]atomic.Bool, len(nodes)),
		keys:   ks,
		opts:   o,
		log:    o.logger,
		seed:   maphash.MakeSeed(),
		queues: map[string]*waitQueue{},
		held:   map[*Lock]struct{}{},
		subs:   map[string]*nodeSub{},
	}
	seen := map[string]int{}
	for i, c := range nodes {
		if c == nil || (reflect.ValueOf(c).Kind() == reflect.Pointer && reflect.ValueOf(c).IsNil()) {
			return nil, fmt.Errorf("%w: node %d is nil", ErrBadOption, i)
		}
		n := node{client: c, addr: fmt.Sprintf("node %d", i)}
		id := fmt.Sprintf("%p", c)
		if cc, ok := c.(*redis.Client); ok {
			id = cc.Options().Network + "/" + cc.Options().Addr + "/" + strconv.Itoa(cc.Options().DB)
		}
		if j, dup := seen[id]; dup {
			return nil, fmt.Errorf("%w: nodes %d and %d are the same Redis; Redlock needs independent masters", ErrBadOption, j, i)
		}
		seen[id] = i
		switch cc := c.(type) {
		case *redis.Client:
			n.addr = cc.Options().Addr
		case *redis.ClusterClient:
			n.sharded = true
			n.addr = fmt.Sprintf("cluster %v", cc.Options().Addrs)
		}
		l.nodes = append(l.nodes, n)
	}
	var idb [4]byte
	rand.Read(idb[:])
	l.id = hex.EncodeToString(idb[:])
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.grace, l.endGrace = context.WithCancel(context.Background())
	return l, nil
}

func (l *Locker) lockKey(name string) string  { return l.keys.Key(l.opts.kind, name) }
func (l *Locker) fenceKey(name string) string { return l.keys.Key(l.opts.kind, name, "fence") }
func (l *Locker) channel(name string) string  { return l.keys.Key(l.opts.kind, name, "released") }

// Key returns the Redis key of the lock name. A redsync Mutex created with
// this name excludes, and is excluded by, this Locker's lock on name.
func (l *Locker) Key(name string) string { return l.lockKey(name) }

// Keys returns the keys of name other packages may read or touch in a
// script alongside the lock: the lock key, its fencing counter, and the
// release channel. All three share one hash slot.
func (l *Locker) Keys(name string) (lock, fence, channel string) {
	return l.lockKey(name), l.fenceKey(name), l.channel(name)
}

// Quorum returns how many nodes a lock must be held on.
func (l *Locker) Quorum() int { return l.quorum }

// Close releases the locks still held (best effort, bounded by one TTL),
// stops watchdogs and subscriptions, ends blocked Acquire calls with
// ErrClosed, and waits for every background goroutine. Calls to slow or
// dead nodes are given up once the locks are released, or half a second
// after Close began for its own releases (and for the release of a grant
// won as it closed): what they may set expires with its TTL. So a dead
// node holds Close up for half a second at most; a hung one (connected,
// not answering) can hold it until the client's ReadTimeout, since
// go-redis does not interrupt a blocked read: about 5 s with go-redis's
// defaults (a new connection's dial and HELLO come first), and until the
// node answers with ReadTimeout -1. It is idempotent.
func (l *Locker) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	held := make([]*Lock, 0, len(l.held))
	for lk := range l.held {
		held = append(held, lk)
	}
	l.mu.Unlock()
	for _, lk := range held {
		ctx, cancel := context.WithTimeout(context.Background(), lk.ttl)
		lk.Release(ctx) // its error only says the lock had already gone
		cancel()
	}
	l.cancel()
	graceTimer := time.AfterFunc(closeGrace, l.endGrace)
	l.subMu.Lock()
	for _, s := range l.subs {
		s.ps.Close()
	}
	l.subMu.Unlock()
	l.wg.Wait()
	graceTimer.Stop()
	l.endGrace()
	return nil
}

func (l *Locker) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *Locker) bucket(name string) *atomic.Uint64 {
	return &l.seen[maphash.String(l.seed, name)%uint64(len(l.seen))]
}

func (l *Locker) observe(name string, v uint64) {
	b := l.bucket(name)
	for {
		cur := b.Load()
		if v <= cur || b.CompareAndSwap(cur, v) {
			return
		}
	}
}

// newValue returns a grant's value: "<owner>:<locker id><random>", hex.
// The Locker id lets the subscriber recognise its own releases.
func (l *Locker) newValue(owner string) string {
	var b [12]byte
	rand.Read(b[:])
	if owner == "" {
		owner = l.opts.owner
	}
	return owner + ":" + l.id + hex.EncodeToString(b[:])
}

func drift(ttl time.Duration) time.Duration { return ttl/100 + 2*time.Millisecond }

func validName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	return nil
}

func resolve(l *Locker, opts []AcquireOption) (acquireOptions, error) {
	o := acquireOptions{ttl: l.opts.ttl}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl < MinTTL {
		return o, fmt.Errorf("%w: TTL %v below the minimum %v", ErrBadOption, o.ttl, MinTTL)
	}
	if o.autoRenew && o.ttl < MinAutoRenewTTL {
		return o, fmt.Errorf("%w: TTL %v with AutoRenew, below its minimum %v", ErrBadOption, o.ttl, MinAutoRenewTTL)
	}
	if o.maxWait < 0 {
		return o, fmt.Errorf("%w: negative MaxWait %v", ErrBadOption, o.maxWait)
	}
	return o, nil
}

// nodeReply is one node's answer to acquire: ok and the counter written;
// or, not ok, the counter found and the holder's remaining TTL in ms (v).
type nodeReply struct {
	i     int
	ok    bool
	found int64
	v     int64
	err   error
}

func (l *Locker) acquireOn(ctx context.Context, i int, name string, ks []string, value string, ttl time.Duration, proposal uint64, from string) nodeReply {
	r := nodeReply{i: i}
	if proposal == 0 && from == "" {
		if r, done := l.acquirePlain(ctx, i, name, ks, value, ttl); done {
			return r
		}
	}
	args := []any{value, ttl.Milliseconds()}
	switch {
	case from != "":
		args = append(args, strconv.FormatUint(proposal, 10), from)
	case proposal > 0:
		args = append(args, strconv.FormatUint(proposal, 10))
	}
	res, err := acquireScript.Run(ctx, l.nodes[i].client, ks, args...).Result()
	if err != nil {
		if isWrongType(err) {
			err = fmt.Errorf("%w: %v", ErrWrongType, err)
		}
		r.err = err
		return r
	}
	// Granted: the token written, a bare integer (the common case, kept
	// cheap to parse). Taken: {0, counter found, holder's PTTL}.
	switch v := res.(type) {
	case int64:
		r.ok, r.v = true, v
		return r
	case []any:
		if len(v) == 3 {
			ok, _ := v[0].(int64)
			found, f := v[1].(int64)
			pttl, p := v[2].(int64)
			if ok == 0 && f && p {
				r.found, r.v = found, pttl
				return r
			}
		}
	}
	r.err = fmt.Errorf("redislock: unexpected acquire reply %v", res)
	return r
}

// acquirePlain is the common acquisition on one node (no proposal, no
// handoff) without a script: SET NX PX, INCR and PTTL in one pipeline.
// Redis runs a connection's pipelined commands back to back, and a holder
// uses its token only after both replies, before it releases: so a later
// holder's INCR runs after an earlier holder's and its token is larger.
// An attempt that finds the lock taken moves the counter too (tokens stay
// strictly increasing, not dense). done is false when the replies need the
// acquire script's closer look: a lock key without a TTL (perhaps of
// another type), or a corrupt counter while the lock was taken.
func (l *Locker) acquirePlain(ctx context.Context, i int, name string, ks []string, value string, ttl time.Duration) (r nodeReply, done bool) {
	r.i = i
	c := l.nodes[i].client
	p := c.Pipeline()
	set := p.SetNX(ctx, ks[0], value, ttl)
	incr := p.Incr(ctx, ks[1])
	pttl := p.PTTL(ctx, ks[0])
	p.Exec(ctx)
	// A connection error fails the command it hit and those after it:
	// PTTL's error covers them all. The commands may have run.
	if err := cmp.Or(set.Err(), pttl.Err()); err != nil {
		r.err = err
		return r, true
	}
	if !set.Val() {
		if v, err := incr.Result(); err == nil && v < 1 {
			c.Decr(ctx, ks[1]) // a corrupt counter: put it back for the script to report
		}
		if incr.Err() != nil || incr.Val() < 1 || pttl.Val() == -1 {
			return r, false
		}
		r.v = pttl.Val().Milliseconds()
		if pttl.Val() < 0 {
			r.v = 0 // expired since SET: free now
		}
		return r, true
	}
	if v, err := incr.Result(); err == nil && v >= 1 {
		r.ok, r.v = true, v
		return r, true
	}
	// The lock is ours but the counter is not a positive integer: undo
	// (as the acquire script does) and report it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if incr.Err() == nil {
		c.Decr(rctx, ks[1])
	}
	l.releaseOne(rctx, i, name, value)
	r.err = fmt.Errorf("%w: WRONGTYPE fencing counter is not a positive integer", ErrWrongType)
	return r, true
}

// try makes one attempt to acquire name on a majority. On failure it
// returns how long to wait before the next attempt is likely to succeed.
// With from set (a handoff), the lock passes directly from the holder
// whose value is from, on the nodes where that holder still has it.
// It returns as soon as the outcome is decided or ctx ends: requests to
// slow nodes go on in the background (bounded by the TTL), and whatever
// they set is released if the attempt failed.
func (l *Locker) try(ctx context.Context, name string, o *acquireOptions, from string) (*Lock, time.Duration, error) {
	ks := []string{l.lockKey(name), l.fenceKey(name)}
	value := l.newValue(o.owner)
	ttl := o.ttl
	start := time.Now()
	deadline := start.Add(ttl - drift(ttl))
	if len(l.nodes) == 1 && ctx.Done() == nil {
		// One node and nothing to cancel: call inline, no goroutines.
		return l.tryOne(ctx, name, ks, value, o, start, deadline, from)
	}
	// Node calls outlive a cancelled caller: their outcome must be known
	// to release what they set. The TTL bounds them.
	nctx, cancel := l.detach(ctx, ttl)
	n := len(l.nodes)
	var proposal uint64
	if n > 1 {
		proposal = l.bucket(name).Load() + 1
	}
	replies := make(chan nodeReply, n)
	l.wg.Add(n)
	for i := range l.nodes {
		go func() {
			defer l.wg.Done()
			replies <- l.acquireOn(nctx, i, name, ks, value, ttl, proposal, from)
		}()
	}
	// A node that has not answered after a tenth of the TTL counts as
	// failed (as the Redlock description advises): waiting out the whole
	// validity for a dead node would stall a tie between two clients.
	validity := time.NewTimer(min(time.Until(deadline), max(ttl/10, 50*time.Millisecond)))
	defer validity.Stop()
	// Once a majority has answered without deciding the outcome (some
	// granted, some taken), the rest get as long again as that majority
	// took, at least straggleMin: a hung node must not hold a split vote
	// for the client's read timeout.
	var straggle <-chan time.Time
	var answeredIn time.Duration // how long the majority took to answer
	var (
		oks      []nodeReply
		nodeErr  []NodeError
		waits    []time.Duration
		got      int
		taken    = make([]bool, n)
		answered = make([]bool, n)
		stopped  error // why we stopped waiting for replies
	)
	for got < n && len(oks) < l.quorum && n-(len(waits)+len(nodeErr)) >= l.quorum && stopped == nil {
		if straggle == nil && got >= l.quorum {
			answeredIn = time.Since(start)
			d := max(straggleMin, answeredIn)
			if l.allSilent(answered) {
				d = 0 // the rest left the last attempts unanswered too
			}
			t := time.NewTimer(d)
			defer t.Stop()
			straggle = t.C
		}
		select {
		case <-straggle:
			stopped = errStraggler
		case r := <-replies:
			got++
			answered[r.i] = true
			l.heard(r)
			switch {
			case r.err != nil:
				nodeErr = append(nodeErr, NodeError{l.nodes[r.i].addr, r.err})
			case r.ok:
				oks = append(oks, r)
				l.observe(name, uint64(r.v))
			default:
				taken[r.i] = true
				waits = append(waits, retryAfterTTL(r.v))
				l.observe(name, uint64(r.found))
			}
		case <-ctx.Done():
			stopped = ctx.Err()
		case <-validity.C:
			stopped = errSlow
		}
	}
	fail := func(err error, wait time.Duration) (*Lock, time.Duration, error) {
		// Release wherever the lock may have been set: nodes that said ok
		// or failed, and nodes that have not answered yet (once they do).
		now := make([]int, 0, n)
		for i := range n {
			if answered[i] && !taken[i] {
				now = append(now, i)
			}
		}
		l.drainAndRelease(name, value, now, replies, n-got, cancel)
		return nil, wait, err
	}
	if stopped == nil && len(oks) < l.quorum && ctx.Err() != nil {
		stopped = ctx.Err()
	}
	timedOut := stopped == errStraggler || stopped == errSlow
	if timedOut {
		for i := range n {
			if !answered[i] {
				l.silent[i].Store(true)
			}
		}
	}
	if timedOut && len(oks) > 0 && len(waits) > 0 {
		// A split vote: we won some nodes, another holder others, and
		// the rest did not answer in time. The wait returned bounds the
		// caller's random pause before it tries again: a few times what
		// the answers took, so that contenders retry far enough apart.
		if answeredIn == 0 {
			answeredIn = time.Since(start)
		}
		return fail(fmt.Errorf("%w: %q (%w)", ErrTaken, name, errSplitVote), max(splitJitterMin, 4*answeredIn))
	}
	if stopped != nil {
		// Name the nodes that had not answered: the caller's error says
		// which nodes held the attempt up.
		for i := range n {
			if !answered[i] {
				nodeErr = append(nodeErr, NodeError{l.nodes[i].addr, stopped})
			}
		}
		return fail(&QuorumError{Op: "acquire", Name: name, Quorum: l.quorum, OK: len(oks), Nodes: nodeErr}, backoffUnreachable)
	}
	if len(oks) < l.quorum {
		for _, e := range nodeErr {
			if errors.Is(e.Err, ErrWrongType) {
				return fail(e.Err, 0)
			}
		}
		if len(nodeErr) == 0 || len(waits) >= l.quorum {
			return fail(fmt.Errorf("%w: %q", ErrTaken, name), quorumWait(waits, len(oks), l.quorum))
		}
		for range waits {
			nodeErr = append(nodeErr, NodeError{"(holder)", ErrTaken})
		}
		if n == 1 {
			return fail(&QuorumError{Op: "acquire", Name: name, Quorum: 1, Nodes: nodeErr}, backoffUnreachable)
		}
		return fail(&QuorumError{Op: "acquire", Name: name, Quorum: l.quorum, OK: len(oks), Nodes: nodeErr}, backoffUnreachable)
	}

	// Fencing: the token is the highest counter written; a majority must
	// hold a counter >= token before anyone sees it.
	var token int64
	for _, r := range oks {
		token = max(token, r.v)
	}
	have := 0
	var lower []int
	atToken := make([]bool, n)
	for _, r := range oks {
		if r.v >= token {
			have++
			atToken[r.i] = true
		} else {
			lower = append(lower, r.i)
		}
	}
	if have < l.quorum {
		rctx, rcancel := context.WithDeadline(ctx, deadline)
		raised, errs := l.raise(rctx, ks, value, token, lower, l.quorum-have)
		rcancel()
		if have+raised < l.quorum {
			if ctx.Err() != nil {
				return fail(ctx.Err(), 0)
			}
			return fail(&QuorumError{Op: "fence", Name: name, Quorum: l.quorum, OK: have + raised, Nodes: errs}, 0)
		}
		for _, i := range lower {
			atToken[i] = true // raised, or to be raised below
		}
	}
	if !time.Now().Before(deadline) {
		return fail(fmt.Errorf("%w: %q: validity used up by slow replies", ErrTaken, name), 0)
	}
	lk := l.newLock(name, value, uint64(token), ttl, deadline, o)
	if lk.Err() != nil && l.isClosed() {
		// Closed while we acquired: newLock released it again.
		cancel()
		return nil, 0, fmt.Errorf("%w: acquire %q", ErrClosed, name)
	}
	// In the background: let slow nodes finish, then raise the counter to
	// the token on every node not known to hold it, so the token lives on
	// as many nodes as possible (defence in depth against a node that
	// restarts without its data; see the package doc).
	var rest []int
	for i := range n {
		if !atToken[i] {
			rest = append(rest, i)
		}
	}
	if got == n && len(rest) == 0 {
		cancel() // every node answered and holds the token: nothing left to do
		return lk, 0, nil
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel()
		var lateOK []int
		for range n - got {
			r := <-replies
			l.heard(r)
			if r.ok {
				lateOK = append(lateOK, r.i)
			}
		}
		// A late grant can land after Release's script reached that node
		// (different connections): release it again there.
		if len(lateOK) > 0 && lk.Err() != nil {
			ch := make(chan opReply, len(lateOK))
			l.releaseOn(context.Background(), name, value, lateOK, ch)
			for range lateOK {
				<-ch
			}
		}
		if len(rest) > 0 && n > 1 {
			for _, i := range rest {
				raiseScript.Run(nctx, l.nodes[i].client, ks, value, token, "any")
			}
		}
	}()
	return lk, 0, nil
}

const backoffUnreachable = 100 * time.Millisecond

// tryOne is try for a single node when the caller's context cannot be
// cancelled: one inline script call, no goroutines.
func (l *Locker) tryOne(ctx context.Context, name string, ks []string, value string, o *acquireOptions, start, deadline time.Time, from string) (*Lock, time.Duration, error) {
	r := l.acquireOn(ctx, 0, name, ks, value, o.ttl, 0, from)
	switch {
	case r.err != nil:
		if errors.Is(r.err, ErrWrongType) {
			return nil, 0, r.err
		}
		// The script may have run before the reply was lost.
		l.drainAndRelease(name, value, []int{0}, nil, 0, nil)
		return nil, backoffUnreachable, &QuorumError{Op: "acquire", Name: name, Quorum: 1, Nodes: []NodeError{{l.nodes[0].addr, r.err}}}
	case !r.ok:
		return nil, retryAfterTTL(r.v), fmt.Errorf("%w: %q", ErrTaken, name)
	}
	if !time.Now().Before(deadline) {
		l.drainAndRelease(name, value, []int{0}, nil, 0, nil)
		return nil, 0, fmt.Errorf("%w: %q: validity used up by a slow reply", ErrTaken, name)
	}
	lk := l.newLock(name, value, uint64(r.v), o.ttl, deadline, o)
	if lk.Err() != nil && l.isClosed() {
		return nil, 0, fmt.Errorf("%w: acquire %q", ErrClosed, name)
	}
	return lk, 0, nil
}

// errSlow reports nodes that did not answer within a tenth of the TTL.
var errSlow = errors.New("redislock: no answer within a tenth of the TTL")

// errStraggler reports nodes that had not answered well after a majority
// had, when the outcome depended on them.
var errStraggler = errors.New("redislock: no answer well after a majority had answered")

// straggleMin is the least time nodes get after a majority has answered
// without deciding an attempt.
const straggleMin = 50 * time.Millisecond

// heard notes a node's answer to an acquire: a node that answers is no
// longer silent.
func (l *Locker) heard(r nodeReply) {
	if r.err == nil {
		l.silent[r.i].Store(false)
	}
}

// allSilent reports whether every node that has not answered was silent
// in an earlier attempt.
func (l *Locker) allSilent(answered []bool) bool {
	for i, a := range answered {
		if !a && !l.silent[i].Load() {
			return false
		}
	}
	return true
}

// errSplitVote marks an attempt that failed on a split vote: it won some
// nodes, another holder others, and the rest did not answer in time.
var errSplitVote = errors.New("split vote")

// splitJitterMin is the least bound of a waiter's random pause after a
// split vote: twice the time a split vote may take (straggleMin), so that
// contenders retry well apart.
const splitJitterMin = 2 * straggleMin

// raise runs the second fencing round on the given nodes and returns how
// many succeeded, returning as soon as need have or ctx ends.
func (l *Locker) raise(ctx context.Context, ks []string, value string, token int64, idx []int, need int) (int, []NodeError) {
	type res struct {
		i   int
		ok  bool
		err error
	}
	ch := make(chan res, len(idx))
	l.goEach(ctx, idx, func(ctx context.Context, i int) {
		v, err := raiseScript.Run(ctx, l.nodes[i].client, ks, value, token, "held").Int64()
		ch <- res{i, err == nil && v == 1, err}
	})
	ok := 0
	var errs []NodeError
	for range idx {
		select {
		case r := <-ch:
			if r.ok {
				ok++
				if ok >= need {
					return ok, errs
				}
				continue
			}
			if r.err == nil {
				r.err = ErrNotHeld
			}
			errs = append(errs, NodeError{l.nodes[r.i].addr, r.err})
		case <-ctx.Done():
			return ok, append(errs, NodeError{"(pending)", ctx.Err()})
		}
	}
	return ok, errs
}

// drainAndRelease releases value, in the background (tracked by l.wg):
// at once on the nodes in now (they answered, and did not say taken), and
// on each node of the outstanding acquire replies as it answers, unless it
// says taken. A node that has not answered must not hold up the release
// on the others: the caller's next attempt would find its own grant there.
// done (if not nil) is called at the end.
func (l *Locker) drainAndRelease(name, value string, now []int, replies <-chan nodeReply, outstanding int, done func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if done != nil {
			defer done()
		}
		l.releaseAndNotify(name, value, now)
		for range outstanding {
			r := <-replies
			l.heard(r)
			if r.ok || r.err != nil {
				l.releaseAndNotify(name, value, []int{r.i})
			}
		}
	}()
}

// releaseAndNotify releases value on the nodes idx, waiting for them, and
// wakes this Locker's waiters for name if any node was freed: they ignore
// the release's announcement (it carries this Locker's id), and would
// otherwise wait for a TTL.
func (l *Locker) releaseAndNotify(name, value string, idx []int) {
	if len(idx) == 0 {
		return
	}
	ch := make(chan opReply, len(idx))
	l.releaseOn(context.Background(), name, value, idx, ch)
	freed := false
	for range idx {
		freed = (<-ch).ok || freed
	}
	if freed {
		l.notify(name)
	}
}

// detach returns a context for node calls that may outlive ctx (their
// outcome must be known, or they finish after the caller returned): it
// keeps ctx's values and ends after d when d > 0. Calls started before
// Close began also end when the Locker has closed (after Close released
// its locks), so that calls to a dead or hung node do not hold Close up
// for go-redis's redials. Calls started once Close has begun are cleanup
// (Close's own releases, the release of a grant won as the Locker
// closed): they are sent whatever happens, bounded by closeGrace. Call
// cancel when the calls are done.
func (l *Locker) detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return l.detachUntil(ctx, d, l.ctx)
}

// detachCleanup is detach for calls that must be sent whatever happens
// (releases): they keep going for closeGrace after the Locker closed, so
// that a release racing Close (a lock given back as the Locker closes,
// already gone from the held set Close releases) still reaches the nodes.
func (l *Locker) detachCleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return l.detachUntil(ctx, 0, l.grace)
}

// detachUntil is detach, with the calls started before Close ending when
// end does.
func (l *Locker) detachUntil(ctx context.Context, d time.Duration, end context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if l.isClosed() {
		if d <= 0 || d > closeGrace {
			d = closeGrace
		}
		return context.WithTimeout(base, d)
	}
	var c context.Context
	var cancel context.CancelFunc
	if d > 0 {
		c, cancel = context.WithTimeout(base, d)
	} else {
		c, cancel = context.WithCancel(base)
	}
	stop := context.AfterFunc(end, cancel)
	return c, func() { stop(); cancel() }
}

// closeGrace bounds node calls made while the Locker closes.
const closeGrace = 500 * time.Millisecond

// goEach runs f for each node index concurrently, tracked by l.wg, under
// a context detached from ctx (see detach) that ends with the last call.
func (l *Locker) goEach(ctx context.Context, idx []int, f func(ctx context.Context, i int)) {
	dctx, cancel := l.detach(ctx, 0)
	l.fanOut(dctx, cancel, idx, f)
}

// fanOut runs f(ctx, i) for each i concurrently, tracked by l.wg, and
// calls cancel after the last.
func (l *Locker) fanOut(ctx context.Context, cancel context.CancelFunc, idx []int, f func(ctx context.Context, i int)) {
	if len(idx) == 0 {
		cancel()
		return
	}
	var left atomic.Int32
	left.Store(int32(len(idx)))
	l.wg.Add(len(idx))
	for _, i := range idx {
		go func() {
			defer l.wg.Done()
			f(ctx, i)
			if left.Add(-1) == 0 {
				cancel()
			}
		}()
	}
}

// releaseOn sends the release script to the given nodes concurrently,
// tracked by l.wg; each node's outcome is sent to done (buffered for
// len(idx)). A release is a cleanup: it is detached from ctx's
// cancellation and keeps going for closeGrace after the Locker closes
// (see detachCleanup).
func (l *Locker) releaseOn(ctx context.Context, name, value string, idx []int, done chan<- opReply) {
	dctx, cancel := l.detachCleanup(ctx)
	l.fanOut(dctx, cancel, idx, func(ctx context.Context, i int) { done <- l.releaseOne(ctx, i, name, value) })
}

// releaseOne runs the release script on node i.
func (l *Locker) releaseOne(ctx context.Context, i int, name, value string) opReply {
	pub := "PUBLISH"
	if l.nodes[i].sharded {
		pub = "SPUBLISH"
	}
	v, err := releaseScript.Run(ctx, l.nodes[i].client, []string{l.lockKey(name), l.channel(name)}, value, pub).Int64()
	return opReply{i, err == nil && v == 1, err}
}

type opReply struct {
	i   int
	ok  bool
	err error
}

// retryAfterTTL turns a holder's PTTL into a wait: until just after it
// expires; a key with no expiry (-1) or a vanished one (-2) is retried soon.
func retryAfterTTL(pttl int64) time.Duration {
	if pttl < 0 {
		return 50 * time.Millisecond
	}
	return time.Duration(pttl)*time.Millisecond + time.Millisecond
}

// quorumWait estimates when a majority will be free: oks nodes are free
// now, each taken node when its holder's TTL runs out.
func quorumWait(waits []time.Duration, oks, quorum int) time.Duration {
	need := quorum - oks
	if need <= 0 || len(waits) == 0 {
		return 0
	}
	w := slices.Clone(waits)
	slices.Sort(w)
	if need > len(w) {
		return w[len(w)-1]
	}
	return w[need-1]
}
