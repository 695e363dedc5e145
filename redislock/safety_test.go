package redislock

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/keys"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

const (
	safetyRole     = "redislock-safety-client"
	safetyLock     = "register"             // the lock name and the register's resource name
	safetyTTL      = 400 * time.Millisecond // most grants
	safetyShortTTL = 50 * time.Millisecond  // grants left to expire, so others need not wait long
	safetyMaxWait  = 2 * time.Second
	safetyEventTag = "SAFETY "
)

// grantRec is one grant as its holder saw it. Times are wall-clock Unix
// nanoseconds, comparable across processes on one host.
type grantRec struct {
	Writer   string `json:"w"`
	Token    uint64 `json:"t"`
	Lo       int64  `json:"lo"`  // before Acquire was called
	Hi       int64  `json:"hi"`  // min(Acquire returned, deadline): the grant was complete by then
	Deadline int64  `json:"dl"`  // the deadline at the grant
	End      int64  `json:"end"` // min(last deadline, Release called); 0: unknown, use Deadline
}

func (g grantRec) end() int64 {
	if g.End == 0 {
		return g.Deadline
	}
	return g.End
}

// writeRec is one fenced write as its writer saw it.
type writeRec struct {
	Writer string `json:"w"`
	Seq    int64  `json:"s"`
	Token  uint64 `json:"t"`
	Result string `json:"r"` // "ok", "stale" or "error"
	Sent   int64  `json:"sent"`
	Recv   int64  `json:"recv"`
	Err    string `json:"err,omitempty"`
}

// acceptedWrite is one entry of the storage's history.
type acceptedWrite struct {
	Token  uint64
	Writer string
	Seq    int64
}

func (a acceptedWrite) String() string {
	return fmt.Sprintf("token=%d writer=%s seq=%d", a.Token, a.Writer, a.Seq)
}

// history is what checkHistory judges: the storage's list of accepted
// writes in acceptance order, and every client's grants and writes.
type history struct {
	accepted []acceptedWrite
	grants   []grantRec
	writes   []writeRec
}

type grantKey struct {
	writer string
	token  uint64
}

type writeKey struct {
	writer string
	seq    int64
}

// checkHistory returns every safety violation in h:
//
//	fencing: accepted tokens never decrease in acceptance order;
//	one token, one writer: no two writers' writes carry the same token;
//	unique grants: no token is granted twice;
//	real-time order: a grant that started after another was complete
//	  carries a larger token;
//	mutual exclusion: holds [Hi, End] of distinct grants do not overlap;
//	held writes: no write was rejected as stale while its lock was held;
//	agreement: storage and clients agree on every write's fate, every
//	  accepted write comes from a grant of that token, and no write was
//	  applied twice.
func checkHistory(h history) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	var origin int64
	for i, g := range h.grants {
		if i == 0 || g.Lo < origin {
			origin = g.Lo
		}
	}
	ms := func(ns int64) string { return fmt.Sprintf("%.1fms", float64(ns-origin)/1e6) }
	excerpt := func(i int) string {
		var b strings.Builder
		for j := max(0, i-3); j <= min(len(h.accepted)-1, i+1); j++ {
			mark := " "
			if j == i {
				mark = ">"
			}
			fmt.Fprintf(&b, "\n\t%s #%d %v", mark, j, h.accepted[j])
		}
		return b.String()
	}

	// Fencing, and one writer per token, over the storage's history.
	var highest uint64
	tokenWriter := map[uint64]string{}
	lastSeq := map[string]int64{}
	for i, a := range h.accepted {
		if i > 0 && a.Token < highest {
			bad("fencing: accepted token %d at #%d after token %d was accepted:%s", a.Token, i, highest, excerpt(i))
		}
		highest = max(highest, a.Token)
		if w, ok := tokenWriter[a.Token]; ok && w != a.Writer {
			bad("token %d used by two writers, %s and %s:%s", a.Token, w, a.Writer, excerpt(i))
		}
		tokenWriter[a.Token] = a.Writer
		if s, ok := lastSeq[a.Writer]; ok && a.Seq <= s {
			bad("write %s:%d applied out of order or twice (after seq %d):%s", a.Writer, a.Seq, s, excerpt(i))
		}
		lastSeq[a.Writer] = a.Seq
	}

	// Unique grants.
	byKey := map[grantKey]grantRec{}
	byToken := map[uint64]grantRec{}
	for _, g := range h.grants {
		if o, ok := byToken[g.Token]; ok {
			bad("token %d granted twice: to %s (acquired %s..%s) and to %s (acquired %s..%s)",
				g.Token, o.Writer, ms(o.Lo), ms(o.Hi), g.Writer, ms(g.Lo), ms(g.Hi))
		}
		byToken[g.Token] = g
		byKey[grantKey{g.Writer, g.Token}] = g
	}

	// Real-time order: if A.Hi < B.Lo, every request of B's acquisition
	// ran after A's counters were raised on a majority, so tA < tB.
	byLo := slices.SortedFunc(slices.Values(h.grants), func(a, b grantRec) int { return cmp.Compare(a.Lo, b.Lo) })
	byHi := slices.SortedFunc(slices.Values(h.grants), func(a, b grantRec) int { return cmp.Compare(a.Hi, b.Hi) })
	var before *grantRec // the largest token among grants complete so far
	j := 0
	for _, b := range byLo {
		for ; j < len(byHi) && byHi[j].Hi < b.Lo; j++ {
			if before == nil || byHi[j].Token > before.Token {
				before = &byHi[j]
			}
		}
		if before != nil && before.Token >= b.Token {
			bad("real-time order: %s's grant of token %d was complete at %s, yet %s, who called Acquire later (%s), got token %d",
				before.Writer, before.Token, ms(before.Hi), b.Writer, ms(b.Lo), b.Token)
		}
	}

	// Mutual exclusion: each grant was surely held from Hi to its end.
	var last *grantRec // the hold that ends latest so far
	for i := range byHi {
		g := &byHi[i]
		if g.Hi >= g.end() {
			continue // never surely held (its validity ran out as it came back)
		}
		if last != nil && g.Hi < last.end() {
			bad("mutual exclusion: %s held token %d from %s to %s, %s held token %d from %s",
				last.Writer, last.Token, ms(last.Hi), ms(last.end()), g.Writer, g.Token, ms(g.Hi))
		}
		if last == nil || g.end() > last.end() {
			last = g
		}
	}

	// Agreement between the storage and the clients.
	inStorage := map[writeKey]bool{}
	for i, a := range h.accepted {
		inStorage[writeKey{a.Writer, a.Seq}] = true
		if _, ok := byKey[grantKey{a.Writer, a.Token}]; !ok {
			bad("accepted write %v matches no grant of token %d to %s:%s", a, a.Token, a.Writer, excerpt(i))
		}
	}
	seen := map[writeKey]writeRec{}
	for _, w := range h.writes {
		k := writeKey{w.Writer, w.Seq}
		seen[k] = w
		switch {
		case w.Result == "ok" && !inStorage[k]:
			bad("write %s:%d (token %d) was acknowledged but the storage has no record of it", w.Writer, w.Seq, w.Token)
		case w.Result == "stale" && inStorage[k]:
			bad("write %s:%d (token %d) was rejected as stale but the storage recorded it as accepted", w.Writer, w.Seq, w.Token)
		}
		if w.Result != "stale" {
			continue
		}
		g, ok := byKey[grantKey{w.Writer, w.Token}]
		if !ok {
			bad("write %s:%d carries token %d that %s was never granted", w.Writer, w.Seq, w.Token, w.Writer)
			continue
		}
		// A rejection received while the lock was held means a larger
		// token was accepted during the hold.
		if w.Recv <= g.end() {
			bad("write %s:%d with token %d rejected at %s while its lock was held until %s",
				w.Writer, w.Seq, w.Token, ms(w.Recv), ms(g.end()))
		}
	}
	for i, a := range h.accepted {
		w, ok := seen[writeKey{a.Writer, a.Seq}]
		switch {
		case !ok:
			bad("accepted write %v has no client record:%s", a, excerpt(i))
		case w.Token != a.Token:
			bad("accepted write %v was sent with token %d:%s", a, w.Token, excerpt(i))
		}
	}
	return v
}

// register is the protected storage. Its script is FencedStore's own
// fenced_write.lua, wrapped so that the same atomic step appends each
// accepted write as "token writer seq" to a history list (and each
// rejected one to another list). The register's hash is FencedStore's, so
// FencedStore.Read reads it.
type register struct {
	client redis.UniversalClient
	keys   []string // FenceKey, history, rejected
	store  *FencedStore
}

var registerScript = stdsync.OnceValue(func() *redis.Script {
	src, err := fs.ReadFile(scriptFS, "scripts/fenced_write.lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(`
-- KEYS[1] fenced hash, KEYS[2] accepted history, KEYS[3] rejected list
-- ARGV[1] token, ARGV[2] value, ARGV[3] writer, ARGV[4] seq
-- Returns fenced_write.lua's reply.
local function fenced_write()
` + string(src) + `
end
local r = fenced_write()
local entry = ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4]
if r[1] == 1 then
  redis.call('RPUSH', KEYS[2], entry)
else
  redis.call('RPUSH', KEYS[3], entry .. ' ' .. string.format('%d', r[2]))
end
return r
`)
})

func newRegister(c redis.UniversalClient, prefix string) *register {
	ks := keys.Must(prefix)
	store, err := NewFencedStore(c, prefix)
	if err != nil {
		panic(err)
	}
	return &register{
		client: c,
		keys:   []string{ks.FenceKey(safetyLock), ks.Key("fenced", safetyLock, "history"), ks.Key("fenced", safetyLock, "rejected")},
		store:  store,
	}
}

// write returns nil when the write was accepted, an error wrapping
// ErrStaleToken when it was rejected, or the Redis error.
func (r *register) write(ctx context.Context, token uint64, writer string, seq int64) error {
	res, err := registerScript().Run(ctx, r.client, r.keys,
		strconv.FormatUint(token, 10), fmt.Sprintf("%s:%d", writer, seq), writer, seq).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("register: unexpected reply %v", res)
	}
	if res[0] != 1 {
		return fmt.Errorf("%w: token %d, register has accepted %d", ErrStaleToken, token, res[1])
	}
	return nil
}

func (r *register) acceptedWrites(ctx context.Context) ([]acceptedWrite, error) {
	lines, err := r.client.LRange(ctx, r.keys[1], 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]acceptedWrite, len(lines))
	for i, l := range lines {
		var a acceptedWrite
		if _, err := fmt.Sscanf(l, "%d %s %d", &a.Token, &a.Writer, &a.Seq); err != nil {
			return nil, fmt.Errorf("history entry %d %q: %v", i, l, err)
		}
		out[i] = a
	}
	return out, nil
}

// sink receives a client's records: the recorder in this process, stdout
// lines in the helper process.
type sink interface {
	grant(g grantRec)
	end(writer string, token uint64, end int64)
	write(w writeRec)
	note(what string)
}

// event is one line a helper process prints after safetyEventTag.
type event struct {
	Kind   string    `json:"k"` // grant, end, write, note, done
	Grant  *grantRec `json:"g,omitempty"`
	Write  *writeRec `json:"wr,omitempty"`
	Writer string    `json:"w,omitempty"`
	Token  uint64    `json:"t,omitempty"`
	End    int64     `json:"end,omitempty"`
	Note   string    `json:"n,omitempty"`
}

type lineSink struct{ mu stdsync.Mutex }

func (s *lineSink) emit(e event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Println(safetyEventTag + string(b))
}

func (s *lineSink) grant(g grantRec) { s.emit(event{Kind: "grant", Grant: &g}) }
func (s *lineSink) end(w string, t uint64, end int64) {
	s.emit(event{Kind: "end", Writer: w, Token: t, End: end})
}
func (s *lineSink) write(w writeRec) { s.emit(event{Kind: "write", Write: &w}) }
func (s *lineSink) note(n string)    { s.emit(event{Kind: "note", Note: n}) }

// recorder collects every client's records in the test process.
type recorder struct {
	mu       stdsync.Mutex
	grants   []grantRec
	index    map[grantKey]int
	writes   []writeRec
	notes    map[string]int
	helperUp chan grantRec // the helper's grants, for the fault injector
	chatter  []string      // helper stdout lines that are not events
	done     bool          // the helper said done
}

func newRecorder() *recorder {
	return &recorder{index: map[grantKey]int{}, notes: map[string]int{}, helperUp: make(chan grantRec, 64)}
}

func (r *recorder) grant(g grantRec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.index[grantKey{g.Writer, g.Token}] = len(r.grants)
	r.grants = append(r.grants, g)
}

func (r *recorder) end(w string, t uint64, end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[grantKey{w, t}]; ok {
		r.grants[i].End = end
	}
}

func (r *recorder) write(w writeRec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, w)
}

func (r *recorder) note(n string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes[n]++
}

// helperLine records one stdout line of the helper process.
func (r *recorder) helperLine(line string) {
	js, ok := strings.CutPrefix(line, safetyEventTag)
	var e event
	if ok && json.Unmarshal([]byte(js), &e) != nil {
		ok = false
	}
	switch {
	case !ok:
		r.mu.Lock()
		r.chatter = append(r.chatter, line)
		r.mu.Unlock()
	case e.Kind == "grant" && e.Grant != nil:
		r.grant(*e.Grant)
		select {
		case r.helperUp <- *e.Grant:
		default:
		}
	case e.Kind == "end":
		r.end(e.Writer, e.Token, e.End)
	case e.Kind == "write" && e.Write != nil:
		r.write(*e.Write)
	case e.Kind == "note":
		r.note(e.Note)
	case e.Kind == "done":
		r.mu.Lock()
		r.done = true
		r.mu.Unlock()
	}
}

// grantedAfter counts grants complete after t.
func (r *recorder) grantedAfter(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.grants {
		if g.Hi > t.UnixNano() {
			n++
		}
	}
	return n
}

// lateStale counts writes by writers with the given prefix that were sent
// after their lock's end and rejected as stale.
func (r *recorder) lateStale(writerPrefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.writes {
		if w.Result != "stale" || !strings.HasPrefix(w.Writer, writerPrefix) {
			continue
		}
		if i, ok := r.index[grantKey{w.Writer, w.Token}]; ok && w.Sent > r.grants[i].end() {
			n++
		}
	}
	return n
}

func wall() int64 { return time.Now().UnixNano() }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type clientSpec struct {
	writer string
	seed   uint64
	// helper: the client in the helper process. Each grant it checks
	// Valid, announces the grant, works for helperWork (the window in
	// which the test SIGSTOPs it), then writes without checking again.
	helper bool
	// amnesiac, if set, makes a new Locker for every acquisition, as a
	// client restarted each time would: it proposes no token of its own,
	// so after a node restart the nodes' counters disagree and the second
	// fencing round runs.
	amnesiac func() (*Locker, error)
}

const helperWork = 50 * time.Millisecond

// A client's grants follow one of these patterns, drawn at random.
const (
	modeRelease = iota // 1-3 writes, each checked with Valid, then Release
	modeLate           // short TTL; sleep past the deadline, write unchecked (a pause)
	modeRenew          // AutoRenew with a short TTL, held for several TTLs
	modeAbandon        // short TTL, one write, never released: it expires
)

func pickMode(rng *rand.Rand) int {
	switch n := rng.IntN(20); {
	case n < 14:
		return modeRelease
	case n < 17:
		return modeLate
	case n < 18:
		return modeRenew
	default:
		return modeAbandon
	}
}

// runClient acquires the lock and writes to the register until run ends.
// Writes and releases use base, so none is cut off half-way.
func runClient(base, run context.Context, spec clientSpec, l *Locker, reg *register, out sink) {
	rng := rand.New(rand.NewPCG(spec.seed, 0x5afe7e57))
	var seq int64
	write := func(token uint64) {
		seq++
		w := writeRec{Writer: spec.writer, Seq: seq, Token: token, Sent: wall()}
		ctx, cancel := context.WithTimeout(base, 5*time.Second)
		err := reg.write(ctx, token, spec.writer, seq)
		cancel()
		w.Recv = wall()
		switch {
		case err == nil:
			w.Result = "ok"
		case errors.Is(err, ErrStaleToken):
			w.Result = "stale"
		default:
			w.Result, w.Err = "error", err.Error()
		}
		out.write(w)
	}
	var fresh *Locker
	defer func() {
		if fresh != nil {
			fresh.Close()
		}
	}()
	for run.Err() == nil {
		mode := pickMode(rng)
		if spec.helper {
			mode = modeRelease
		}
		if spec.amnesiac != nil {
			if fresh != nil {
				fresh.Close()
			}
			var err error
			if fresh, err = spec.amnesiac(); err != nil {
				out.note("BUG: New: " + err.Error())
				return
			}
			l = fresh
			if mode == modeAbandon {
				mode = modeRelease // Close would release it before its deadline
			}
		}
		opts := []AcquireOption{TTL(safetyTTL), MaxWait(safetyMaxWait)}
		switch mode {
		case modeLate, modeAbandon:
			opts = append(opts, TTL(safetyShortTTL))
		case modeRenew:
			opts = append(opts, TTL(2*safetyShortTTL), AutoRenew())
		}
		lo := wall()
		lk, err := l.Acquire(run, safetyLock, opts...)
		ret := wall()
		if err != nil {
			if run.Err() != nil {
				return
			}
			switch {
			case errors.Is(err, ErrQuorum):
				out.note("acquire: wait bound passed, nodes unreachable")
			case errors.Is(err, ErrWaitTimeout):
				out.note("acquire: wait bound passed, lock taken")
			default:
				out.note("acquire: " + err.Error())
			}
			continue
		}
		token := lk.Token()
		dl := lk.Deadline().UnixNano()
		valid := lk.Valid()
		out.grant(grantRec{Writer: spec.writer, Token: token, Lo: lo, Hi: min(ret, dl), Deadline: dl})
		switch {
		case spec.helper:
			if valid && sleepCtx(run, helperWork) {
				write(token) // unchecked: the test may have stopped us
			}
		case mode == modeRelease:
			for range 1 + rng.IntN(3) {
				if !lk.Valid() {
					break
				}
				write(token)
				sleepCtx(run, time.Duration(rng.IntN(3))*time.Millisecond)
			}
		case mode == modeLate:
			if lk.Valid() {
				write(token)
			}
			pause := time.Until(lk.Deadline()) + time.Duration(20+rng.IntN(50))*time.Millisecond
			if sleepCtx(run, pause) {
				if lk.Valid() || !errors.Is(lk.Err(), ErrLost) {
					out.note(fmt.Sprintf("BUG: past its deadline, Valid=%v Err=%v", lk.Valid(), lk.Err()))
				}
				write(token) // unchecked: a write sent after a pause
			}
		case mode == modeRenew:
			hold := time.Now().Add(time.Duration(4+rng.IntN(3)) * safetyShortTTL)
			for time.Now().Before(hold) && lk.Valid() {
				write(token)
				if !sleepCtx(run, safetyShortTTL/3) {
					break
				}
			}
		case mode == modeAbandon:
			if lk.Valid() {
				write(token)
			}
			out.end(spec.writer, token, lk.Deadline().UnixNano())
			continue // never released: it expires
		}
		end := min(lk.Deadline().UnixNano(), wall())
		ctx, cancel := context.WithTimeout(base, 5*time.Second)
		err = lk.Release(ctx)
		cancel()
		out.end(spec.writer, token, end)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotHeld):
			out.note("release: not held")
		case errors.Is(err, ErrQuorum):
			out.note("release: nodes unreachable")
		default:
			out.note("release: " + err.Error())
		}
	}
}

// safetyEnv names the helper's configuration variables.
const (
	envNodes   = "GO_SYNC_SAFETY_NODES"
	envStorage = "GO_SYNC_SAFETY_STORAGE"
	envPrefix  = "GO_SYNC_SAFETY_PREFIX"
	envWriter  = "GO_SYNC_SAFETY_WRITER"
	envSeed    = "GO_SYNC_SAFETY_SEED"
)

// safetyClient connects to a lock node, as the restricted ACL user under
// GO_SYNC_ACL=1; storageClient to the register's node, which is the test's
// own and not the library's, as the default user.
func safetyClient(addr string) *redis.Client { return redis.NewClient(redistest.Options(addr)) }

func storageClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
}

// TestSafetyHelper is not a test: TestSafetyUnderFaults runs it in a child
// process, a lock client the parent can SIGSTOP. It reports on stdout and
// runs until the parent sets the stop key.
func TestSafetyHelper(t *testing.T) {
	if redistest.HelperRole() != safetyRole {
		t.Skip("helper process of TestSafetyUnderFaults only")
	}
	prefix, writer := os.Getenv(envPrefix), os.Getenv(envWriter)
	seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	var nodes []redis.UniversalClient
	for _, a := range strings.Split(os.Getenv(envNodes), ",") {
		c := safetyClient(a)
		defer c.Close()
		nodes = append(nodes, c)
	}
	storage := storageClient(os.Getenv(envStorage))
	defer storage.Close()
	l, err := New(nodes, WithPrefix(prefix), WithOwner(writer))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	ctx := t.Context()
	run, stop := context.WithTimeout(ctx, 9*time.Minute)
	defer stop()
	var wg stdsync.WaitGroup
	wg.Go(func() {
		stopKey := keys.Must(prefix).Key("safety", safetyLock, "stop")
		for sleepCtx(run, 20*time.Millisecond) {
			if n, _ := storage.Exists(run, stopKey).Result(); n == 1 {
				stop()
			}
		}
	})
	out := &lineSink{}
	runClient(ctx, run, clientSpec{writer: writer, seed: seed, helper: true}, l, newRegister(storage, prefix), out)
	stop()
	wg.Wait()
	out.emit(event{Kind: "done"})
}

// safetyPlan is how long the run lasts and how much it must show.
type safetyPlan struct {
	soak        time.Duration // 0: one pass over the faults
	minAccepted int
}

// TestSafetyUnderFaults drives the lock with four clients in this process
// and one in a separate OS process while it injects faults: SIGSTOP of the
// helper while it holds the lock, kill -9 and restart of a lock node (AOF,
// appendfsync always), a paused lock node, and a lost quorum. Every client
// writes to a fenced register kept on a fourth Redis. The register runs
// FencedStore's own fenced_write.lua, wrapped so that the same atomic step
// appends every accepted write to a list: the history is recorded by the
// storage, not by the code under test. checkHistory, a plain function with
// a test of its own, judges that history together with what the clients
// saw. With GO_SYNC_SOAK=1 the faults repeat, at random, for 3 minutes.
func TestSafetyUnderFaults(t *testing.T) {
	plan := safetyPlan{minAccepted: 100}
	if os.Getenv("GO_SYNC_SOAK") == "1" {
		plan = safetyPlan{soak: 3 * time.Minute, minAccepted: 1000}
	}
	began := time.Now()
	seed := uint64(began.UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	nodes := redistest.Independent(t, 3, redistest.WithAOF("always"))
	storageNode := redistest.Standalone(t)
	ctx := t.Context()
	prefix := redistest.Prefix(t)
	ks := keys.Must(prefix)
	storage := storageNode.AdminClient() // the test's register, not the library
	reg := newRegister(storage, prefix)
	rec := newRecorder()

	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.Addr
	}
	helper := redistest.StartProcess(t, "TestSafetyHelper", safetyRole,
		envNodes+"="+strings.Join(addrs, ","), envStorage+"="+storageNode.Addr,
		envPrefix+"="+prefix, envWriter+"=h0", fmt.Sprintf("%s=%d", envSeed, seed))
	helperRead := make(chan struct{})
	go func() {
		defer close(helperRead)
		for line := range helper.Lines() {
			rec.helperLine(line)
		}
	}()

	// Clients c0 and c1 share a Locker (its FIFO queue), c2 has its own,
	// c3 makes a new one for every acquisition. Each has its own
	// connections.
	run, stopRun := context.WithCancel(ctx)
	var clients stdsync.WaitGroup
	defer func() { stopRun(); clients.Wait() }()
	var lockers []*Locker
	for i := range 2 {
		lockers = append(lockers, newLocker(t, redistest.Clients(nodes), WithOwner(fmt.Sprintf("l%d", i))))
	}
	amnesiacNodes := redistest.Clients(nodes)
	for i, l := range []*Locker{lockers[0], lockers[0], lockers[1], nil} {
		spec := clientSpec{writer: fmt.Sprintf("c%d", i), seed: seed + uint64(i) + 1}
		if l == nil {
			spec.amnesiac = func() (*Locker, error) { return New(amnesiacNodes, WithPrefix(prefix), WithOwner("c3")) }
		}
		clients.Go(func() { runClient(ctx, run, spec, l, reg, rec) })
	}

	// Faults.
	type faultRec struct {
		name       string
		start, end time.Time
		note       string
	}
	var faults []faultRec
	// fault injects one fault, then waits for a grant made after it.
	fault := func(name string, inject func() string) {
		f := faultRec{name: name, start: time.Now()}
		f.note = inject()
		f.end = time.Now()
		for rec.grantedAfter(f.end) == 0 {
			if time.Since(f.end) > 20*time.Second {
				t.Fatalf("no grant within 20s after fault %s ended", name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		f.note += fmt.Sprintf("; next grant within %v", time.Since(f.end).Round(time.Millisecond))
		faults = append(faults, f)
	}
	// stopHelper SIGSTOPs the helper between its validity check and its
	// write, past its TTL; it retries until the helper's resumed write has
	// been rejected as stale.
	stopHelper := func(pause time.Duration) string {
		for attempt := 1; attempt <= 5; attempt++ {
			before := rec.lateStale("h")
			for len(rec.helperUp) > 0 {
				<-rec.helperUp
			}
			var g grantRec
			select {
			case g = <-rec.helperUp:
			case <-time.After(20 * time.Second):
				t.Fatal("the helper made no grant within 20s")
			}
			if err := helper.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(pause)
			if err := helper.Resume(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if rec.lateStale("h") > before {
					return fmt.Sprintf("helper stopped %v holding token %d; its resumed write was rejected (attempt %d)", pause, g.Token, attempt)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		t.Error("SIGSTOP never caught the helper mid-lease with a write rejected afterwards")
		return "no stale write caught"
	}
	fenceKey := ks.LockFence(safetyLock)
	counter := func(n *redistest.Node) int64 {
		v, err := n.Do(ctx, "GET", fenceKey)
		if err != nil {
			t.Fatalf("GET fence counter on %s: %v", n.Addr, err)
		}
		c, _ := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		return c
	}
	killRestart := func(i int, down time.Duration) string {
		before := counter(nodes[i])
		nodes[i].Kill()
		time.Sleep(down)
		if err := nodes[i].Restart(); err != nil {
			t.Fatal(err)
		}
		after := counter(nodes[i])
		if after < before {
			t.Errorf("node %d restarted with fence counter %d < %d before kill -9: AOF lost it", i, after, before)
		}
		return fmt.Sprintf("node %d down %v; fence counter %d before, %d after restart", i, down, before, after)
	}
	pauseNode := func(i int, d time.Duration) string {
		if err := nodes[i].Pause(); err != nil {
			t.Fatal(err)
		}
		defer nodes[i].Resume()
		time.Sleep(d)
		return fmt.Sprintf("node %d paused %v", i, d)
	}
	noQuorum := func(kill, pause int, d time.Duration) string {
		if err := nodes[pause].Pause(); err != nil {
			t.Fatal(err)
		}
		defer nodes[pause].Resume()
		return killRestart(kill, d) + fmt.Sprintf(", node %d paused meanwhile", pause)
	}

	time.Sleep(time.Second) // warm up
	fault("sigstop-helper", func() string { return stopHelper(3 * safetyTTL) })
	fault("kill-9-restart", func() string { return killRestart(0, time.Second) })
	fault("pause-node", func() string { return pauseNode(1, 2500*time.Millisecond) })
	fault("no-quorum", func() string { return noQuorum(2, 0, time.Second) })
	for time.Since(began) < plan.soak {
		d := time.Duration(300+rng.IntN(2700)) * time.Millisecond
		a, b := rng.IntN(3), rng.IntN(2)
		b = (a + 1 + b) % 3
		switch rng.IntN(5) {
		case 0:
			fault("sigstop-helper", func() string { return stopHelper(time.Duration(2+rng.IntN(6)) * safetyTTL) })
		case 1:
			fault("kill-9-restart", func() string { return killRestart(a, d) })
		case 2:
			fault("pause-node", func() string { return pauseNode(a, d) })
		case 3:
			fault("no-quorum", func() string { return noQuorum(a, b, d) })
		case 4:
			fault("pause-node+sigstop-helper", func() string {
				if err := nodes[a].Pause(); err != nil {
					t.Fatal(err)
				}
				defer nodes[a].Resume()
				return fmt.Sprintf("node %d paused; ", a) + stopHelper(3*safetyTTL)
			})
		}
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
	}
	// Cool down, and on a slow machine go on until enough was written.
	time.Sleep(time.Second)
	for n := int64(0); n < int64(plan.minAccepted) && time.Since(began) < plan.soak+time.Minute; {
		time.Sleep(100 * time.Millisecond)
		var err error
		if n, err = storage.LLen(ctx, reg.keys[1]).Result(); err != nil {
			t.Fatal(err)
		}
	}

	// Stop the clients and the helper, then read the history.
	stopRun()
	clients.Wait()
	if err := storage.Set(ctx, ks.Key("safety", safetyLock, "stop"), 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := helper.Wait(30 * time.Second); err != nil {
		t.Fatalf("helper: %v\n%s", err, helper.Output())
	}
	<-helperRead
	for _, l := range lockers {
		l.Close()
	}
	accepted, err := reg.acceptedWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := storage.LLen(ctx, reg.keys[2]).Result()
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	h := history{accepted: accepted, grants: rec.grants, writes: rec.writes}
	helperDone, chatter, notes := rec.done, rec.chatter, rec.notes
	rec.mu.Unlock()
	elapsed := time.Since(began)

	judge(t, h, notes, seed)

	// The run must have exercised what it claims to.
	if !helperDone {
		t.Errorf("the helper did not finish cleanly; its other output:\n%s", strings.Join(chatter, "\n"))
	}
	if len(accepted) < plan.minAccepted {
		t.Errorf("only %d accepted writes, want at least %d", len(accepted), plan.minAccepted)
	}
	grantsBy := map[string]int{}
	var stale, errs int
	for _, g := range h.grants {
		grantsBy[g.Writer]++
	}
	for _, w := range h.writes {
		switch w.Result {
		case "stale":
			stale++
		case "error":
			errs++
			t.Logf("write error: %s:%d: %s", w.Writer, w.Seq, w.Err)
		}
	}
	late := rec.lateStale("")
	for _, w := range []string{"c0", "c1", "c2", "c3", "h0"} {
		if grantsBy[w] == 0 {
			t.Errorf("client %s was never granted the lock", w)
		}
	}
	if late == 0 {
		t.Error("no write sent after its lock ended was rejected as stale")
	}
	if int64(stale) != rejected {
		t.Errorf("clients saw %d stale rejections, the storage recorded %d", stale, rejected)
	}
	if n := len(accepted); n > 0 {
		last := accepted[n-1]
		value, token, err := reg.store.Read(ctx, safetyLock)
		if err != nil || token != last.Token || value != fmt.Sprintf("%s:%d", last.Writer, last.Seq) {
			t.Errorf("FencedStore.Read = %q, %d, %v; the history ends with %v", value, token, err, last)
		}
	}

	t.Logf("%v: %d grants %v; %d writes accepted, %d rejected as stale (%d of them sent after the lock ended), %d errors; tokens up to %d",
		elapsed.Round(time.Millisecond), len(h.grants), grantsBy, len(accepted), stale, late, errs, maxToken(h.grants))
	t.Logf("notes: %v", notes)
	for _, f := range faults {
		t.Logf("fault %-26s at %6.2fs for %v: %s", f.name, f.start.Sub(began).Seconds(), f.end.Sub(f.start).Round(time.Millisecond), f.note)
	}
}

// judge reports the violations checkHistory finds in h (keeping the
// history in a file for a closer look) and the clients' BUG notes.
func judge(t *testing.T, h history, notes map[string]int, seed uint64) {
	t.Helper()
	if v := checkHistory(h); len(v) > 0 {
		t.Errorf("%d safety violations (seed %d); the first ones:\n%s", len(v), seed, strings.Join(v[:min(len(v), 20)], "\n"))
		if f, err := os.CreateTemp("", "redislock-safety-*.json"); err == nil {
			json.NewEncoder(f).Encode(map[string]any{"accepted": h.accepted, "grants": h.grants, "writes": h.writes})
			f.Close()
			t.Logf("full history kept in %s", f.Name())
		}
	}
	for n := range notes {
		if strings.HasPrefix(n, "BUG") {
			t.Errorf("a client saw: %s", n)
		}
	}
}

func maxToken(gs []grantRec) uint64 {
	var m uint64
	for _, g := range gs {
		m = max(m, g.Token)
	}
	return m
}

// TestCheckerFindsViolations feeds checkHistory hand-made histories.
func TestCheckerFindsViolations(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	g := func(w string, tok uint64, lo, hi, end int64) grantRec {
		return grantRec{Writer: w, Token: tok, Lo: ms(lo), Hi: ms(hi), Deadline: ms(end), End: ms(end)}
	}
	ok := func(w string, seq int64, tok uint64, at int64) writeRec {
		return writeRec{Writer: w, Seq: seq, Token: tok, Result: "ok", Sent: ms(at), Recv: ms(at)}
	}
	stale := func(w string, seq int64, tok uint64, at int64) writeRec {
		r := ok(w, seq, tok, at)
		r.Result = "stale"
		return r
	}
	// A clean history: a holds 1, b holds 2, a writes late and is rejected.
	clean := history{
		grants:   []grantRec{g("a", 1, 0, 1, 10), g("b", 2, 5, 11, 20)},
		writes:   []writeRec{ok("a", 1, 1, 2), ok("b", 1, 2, 12), stale("a", 2, 1, 15)},
		accepted: []acceptedWrite{{1, "a", 1}, {2, "b", 1}},
	}
	tests := []struct {
		name string
		edit func(h *history)
		want string // a substring of some violation; "" for none
	}{
		{"clean", func(h *history) {}, ""},
		{"decreasing accepted token", func(h *history) {
			h.accepted = []acceptedWrite{{2, "b", 1}, {1, "a", 1}}
		}, "fencing: accepted token 1"},
		{"token shared by two writers", func(h *history) {
			h.grants = append(h.grants, g("c", 2, 30, 31, 40))
			h.writes = append(h.writes, ok("c", 1, 2, 32))
			h.accepted = append(h.accepted, acceptedWrite{2, "c", 1})
		}, "token 2 used by two writers"},
		{"token granted twice", func(h *history) {
			h.grants = append(h.grants, g("c", 2, 30, 31, 40))
		}, "token 2 granted twice"},
		{"later grant, smaller token", func(h *history) {
			h.grants = append(h.grants, g("c", 5, 21, 22, 25), g("d", 4, 30, 31, 40))
		}, "real-time order"},
		{"overlapping holds", func(h *history) {
			h.grants[1].Lo, h.grants[1].Hi = ms(0), ms(8)
		}, "mutual exclusion"},
		{"stale while held", func(h *history) {
			h.writes[2] = stale("a", 2, 1, 9)
		}, "rejected at"},
		{"acknowledged but not recorded", func(h *history) {
			h.accepted = h.accepted[:1]
		}, "no record of it"},
		{"rejected but recorded", func(h *history) {
			h.accepted = append(h.accepted, acceptedWrite{1, "a", 2})
		}, "recorded it as accepted"},
		{"write applied twice", func(h *history) {
			h.accepted = append(h.accepted, acceptedWrite{2, "b", 1})
		}, "applied out of order or twice"},
		{"write from no grant", func(h *history) {
			h.writes = append(h.writes, ok("z", 1, 7, 30))
			h.accepted = append(h.accepted, acceptedWrite{7, "z", 1})
		}, "matches no grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := history{
				grants:   slices.Clone(clean.grants),
				writes:   slices.Clone(clean.writes),
				accepted: slices.Clone(clean.accepted),
			}
			tt.edit(&h)
			v := checkHistory(h)
			if tt.want == "" {
				if len(v) > 0 {
					t.Fatalf("clean history reported: %q", v)
				}
				return
			}
			for _, s := range v {
				if strings.Contains(s, tt.want) {
					t.Logf("reported: %s", s)
					return
				}
			}
			t.Fatalf("want a violation containing %q, got %q", tt.want, v)
		})
	}
}

// TestSafetyOneNode runs the safety test's clients against one lock node,
// where an acquisition is SET NX PX, INCR and PTTL in one pipeline rather
// than a script: the independent checker verifies mutual exclusion and
// monotonic tokens over the recorded history while the node is paused and
// then killed and restarted (AOF, appendfsync always) under the clients.
func TestSafetyOneNode(t *testing.T) {
	run := 3 * time.Second
	if os.Getenv("GO_SYNC_SOAK") == "1" {
		run = time.Minute
	}
	node := redistest.Standalone(t, redistest.WithAOF("always"))
	storage := redistest.Standalone(t).AdminClient()
	prefix := redistest.Prefix(t)
	reg := newRegister(storage, prefix)
	rec := newRecorder()
	nodes := redistest.Clients([]*redistest.Node{node})
	shared := newLocker(t, nodes, WithOwner("l0"))
	own := newLocker(t, nodes, WithOwner("l1"))
	ctx := t.Context()
	runCtx, stopRun := context.WithTimeout(ctx, run)
	defer stopRun()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var clients stdsync.WaitGroup
	for i, l := range []*Locker{shared, shared, own, nil} {
		spec := clientSpec{writer: fmt.Sprintf("c%d", i), seed: seed + uint64(i)}
		if l == nil {
			spec.amnesiac = func() (*Locker, error) { return New(nodes, WithPrefix(prefix), WithOwner("c3")) }
		}
		clients.Go(func() { runClient(ctx, runCtx, spec, l, reg, rec) })
	}
	time.Sleep(run / 3)
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	node.Resume()
	time.Sleep(run / 6)
	node.Kill()
	time.Sleep(300 * time.Millisecond)
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	clients.Wait()

	accepted, err := reg.acceptedWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	h := history{accepted: accepted, grants: rec.grants, writes: rec.writes}
	notes := rec.notes
	rec.mu.Unlock()
	judge(t, h, notes, seed)
	if len(accepted) < 50 || rec.lateStale("") == 0 {
		t.Errorf("the run proved little: %d accepted writes, %d late writes rejected", len(accepted), rec.lateStale(""))
	}
	t.Logf("%d grants, %d writes accepted, %d late writes rejected; notes %v", len(h.grants), len(accepted), rec.lateStale(""), notes)
}
