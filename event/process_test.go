package event

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

const helperRole = "event-consumer"

// TestHelperConsumer is a consumer process for the tests below: it joins
// group "g" of topic "orders", records every delivery in a Redis list
// (so deliveries from all processes are in one global order), and prints
// "assign <p>", "revoke <p>" and "commit <p> <offset> <ok|stale|error>".
func TestHelperConsumer(t *testing.T) {
	if redistest.HelperRole() != helperRole {
		t.Skip("helper process only")
	}
	rdb := redis.NewClient(redistest.Options(os.Getenv("EVENT_ADDR"))) // the restricted ACL user under GO_SYNC_ACL=1
	defer rdb.Close()
	rec := redis.NewClient(&redis.Options{Addr: os.Getenv("EVENT_ADDR")}) // the test's record: the default user
	defer rec.Close()
	c, err := New(rdb, WithPrefix(os.Getenv("EVENT_PREFIX")), WithBlock(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := c.OpenTopic(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	member := os.Getenv("EVENT_MEMBER")
	record := os.Getenv("EVENT_PREFIX") + ":record"
	var out stdsync.Mutex
	say := func(f string, args ...any) { out.Lock(); fmt.Printf(f+"\n", args...); out.Unlock() }
	slow, _ := time.ParseDuration(os.Getenv("EVENT_SLOW"))
	cons, err := tp.Consumer("g", func(ctx context.Context, ev *Event) error {
		key, seq, err := parsePayload(ev.Payload)
		if err != nil {
			return err
		}
		time.Sleep(slow)
		return rec.RPush(context.Background(), record, fmt.Sprintf("%s|%s|%d|%s", member, key, seq, ev.Offset)).Err()
	}, WithMemberID(member), WithLease(400*time.Millisecond), WithBatch(5), WithHooks(Hooks{
		OnAssign: func(p int, token uint64, _ Offset) { say("assign %d %d", p, token) },
		OnRevoke: func(p int, err error) { say("revoke %d %v", p, err) },
		OnCommit: func(p int, _ uint64, off Offset, err error) {
			st := "ok"
			switch {
			case errors.Is(err, ErrStaleToken):
				st = "stale"
			case err != nil:
				st = "error"
			}
			say("commit %d %s %s", p, off, st)
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	say("ready")
	cons.Run(context.Background()) // until killed
}

// child is a consumer process and the partitions it reported owning.
type child struct {
	*redistest.Process
	mu      stdsync.Mutex
	owns    map[int]bool
	commits []string // every line but "ready"
	done    chan struct{}
}

func startChild(t *testing.T, addr, pfx, member string, slow time.Duration) *child {
	t.Helper()
	p := redistest.StartProcess(t, "TestHelperConsumer", helperRole,
		"EVENT_ADDR="+addr, "EVENT_PREFIX="+pfx, "EVENT_MEMBER="+member, "EVENT_SLOW="+slow.String())
	c := &child{Process: p, owns: map[int]bool{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for l := range p.Lines() {
			var part int
			var rest string
			c.mu.Lock()
			switch {
			case strings.HasPrefix(l, "assign "):
				fmt.Sscan(l[7:], &part)
				c.owns[part] = true
			case strings.HasPrefix(l, "revoke "):
				fmt.Sscan(l[7:], &part, &rest)
				delete(c.owns, part)
			}
			c.commits = append(c.commits, l)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.Kill(); <-c.done })
	return c
}

func (c *child) owned() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.owns)
}

func (c *child) commitLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.commits...)
}

// recorded reads the deliveries the helper processes recorded.
func recorded(t *testing.T, rdb redis.UniversalClient, pfx string) []delivery {
	t.Helper()
	lines, err := redistest.Admin(t, rdb).LRange(context.Background(), pfx+":record", 0, -1).Result() // the test's record
	if err != nil {
		t.Fatal(err)
	}
	dels := make([]delivery, len(lines))
	for i, l := range lines {
		if dels[i], err = parseRecord(l); err != nil {
			t.Fatal(err)
		}
	}
	return dels
}

// publisher publishes keyed events until stopped and records them.
func publisher(t *testing.T, tp *Topic, rec *recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		seq := map[string]int{}
		for ctx.Err() == nil {
			rec.publish(t, tp, keyed(8, 16, seq))
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return func() { cancel(); <-done }
}

// TestKill9Rebalance kills a consumer process with SIGKILL mid-stream;
// the other takes its partitions over when the leases expire, and the
// recorded history keeps per-key order with no event skipped.
func TestKill9Rebalance(t *testing.T) {
	node := redistest.Standalone(t)
	rdb := node.Client()
	defer rdb.Close()
	pfx := prefix(t)
	tp := newTopic(t, newClient(t, rdb), "orders", 4)
	a := startChild(t, node.Addr, pfx, "a", time.Millisecond)
	b := startChild(t, node.Addr, pfx, "b", time.Millisecond)
	waitFor(t, 10*time.Second, "a and b own two partitions each", func() bool { return a.owned() == 2 && b.owned() == 2 })
	var rec recorder
	stop := publisher(t, tp, &rec)
	time.Sleep(300 * time.Millisecond)
	a.Kill()
	t0 := time.Now()
	waitFor(t, 10*time.Second, "b owns all four", func() bool { return b.owned() == 4 })
	t.Logf("b took over %v after kill -9 (lease 400ms)", time.Since(t0).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	stop()
	var dels []delivery
	waitFor(t, 10*time.Second, "every event recorded", func() bool {
		dels = recorded(t, rdb, pfx)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(check(rec.pubs, dels)) == 0 || len(dels) >= 3*len(rec.pubs)
	})
	rec.dels = dels
	rec.check(t)
	redelivered := len(dels) - len(rec.pubs)
	t.Logf("%d redeliveries after the kill", redelivered)
}

// TestPausedProcessCannotCommit stops a consumer process with SIGSTOP
// past its lease; a new owner takes the partitions and commits; when the
// process resumes, every commit it attempts is rejected as stale.
func TestPausedProcessCannotCommit(t *testing.T) {
	node := redistest.Standalone(t)
	rdb := node.Client()
	defer rdb.Close()
	pfx := prefix(t)
	cl := newClient(t, rdb)
	tp := newTopic(t, cl, "orders", 2)
	a := startChild(t, node.Addr, pfx, "a", 10*time.Millisecond)
	waitFor(t, 10*time.Second, "a owns both", func() bool { return a.owned() == 2 })
	var rec recorder
	stop := publisher(t, tp, &rec)
	defer stop()
	time.Sleep(150 * time.Millisecond)
	if err := a.Pause(); err != nil {
		t.Fatal(err)
	}
	// Lines a printed before the pause may still be on their way through
	// the pipe: count them once no more arrive.
	paused := len(a.commitLines())
	for settled := time.Now(); time.Since(settled) < 150*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if n := len(a.commitLines()); n != paused {
			paused, settled = n, time.Now()
		}
	}
	// b, in this process, takes over once a's leases expire.
	own := &owners{by: map[int]string{}}
	b, _ := tp.Consumer("g", rec.handler("b"), WithMemberID("b"), WithLease(400*time.Millisecond), WithHooks(own.hooks("b")))
	run(t, b)
	waitFor(t, 10*time.Second, "b owns both", func() bool { return own.count("b") == 2 })
	committed := func() map[int]Offset { m, _ := tp.Committed(t.Context(), "g"); return m }
	before := committed()
	waitFor(t, 5*time.Second, "b commits", func() bool {
		now := committed()
		return now[0] != before[0] && now[1] != before[1]
	})
	if err := a.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// Until a rejoins with new leases (an "assign" line), each of its
	// commits must be rejected. The exception is a commit a sent just
	// before the pause, which Redis accepted then, before the takeover,
	// and whose reply a reads on resuming: its offset is at most what was
	// committed when b took over (a's later offsets are past it, as a
	// keeps consuming what is published meanwhile).
	var after []string
	for _, l := range a.commitLines()[paused:] {
		if strings.HasPrefix(l, "assign ") {
			break
		}
		if !strings.HasPrefix(l, "commit ") {
			continue
		}
		after = append(after, l)
		if strings.HasSuffix(l, " stale") {
			continue
		}
		var part int
		var off, st string
		if _, err := fmt.Sscan(l[len("commit "):], &part, &off, &st); err != nil {
			t.Fatalf("commit line %q: %v", l, err)
		}
		o, err := ParseOffset(off)
		if err != nil {
			t.Fatalf("commit line %q: %v", l, err)
		}
		if st != "ok" || before[part].Less(o) {
			t.Fatalf("paused process committed after the takeover: %q, past %v committed at the takeover (all: %q)", l, before[part], a.commitLines()[paused:])
		}
		t.Logf("commit sent before the pause, accepted before the takeover: %q", l)
	}
	t.Logf("commits attempted by the resumed process: %q", after)
}
