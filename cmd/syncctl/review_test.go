package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
)

// TestHungMinorityNode: one of three independent lock nodes is hung
// (SIGSTOP), before syncctl connects or after; a majority answers, so
// locks and leaders list every row with a warning and exit 0, in about
// one --timeout rather than one per name.
func TestHungMinorityNode(t *testing.T) {
	ns := redistest.Independent(t, 3)
	nodes := redistest.Clients(ns)
	prefix := redistest.Prefix(t)
	ctx := t.Context()
	locker, err := redislock.New(nodes, redislock.WithPrefix(prefix), redislock.WithOwner("api-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := locker.Acquire(ctx, name, redislock.TTL(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"mailer", "scheduler"} {
		e, err := redisleader.New(nodes, g, redisleader.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if _, err := e.Campaign(ctx, "node-"+g[:1]); err != nil {
			t.Fatal(err)
		}
	}
	var urls []string
	for _, n := range ns {
		urls = append(urls, "redis://"+n.Addr)
	}
	args := []string{"--redis", strings.Join(urls, ","), "--prefix", prefix, "--timeout", "500ms"}
	pause := func() {
		if err := ns[2].Pause(); err != nil {
			t.Fatal(err)
		}
	}
	resume := func() {
		if err := ns[2].Resume(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, r result, d time.Duration, rows ...string) {
		t.Helper()
		if r.code != exitOK || !strings.Contains(r.stderr, "warning: node "+ns[2].Addr) {
			t.Fatalf("want exit 0 and a warning about the hung node:\n%s", r)
		}
		for _, s := range rows {
			if !strings.Contains(r.stdout, s) {
				t.Fatalf("want a row with %q:\n%s", s, r)
			}
		}
		if d > 5*time.Second {
			t.Fatalf("took %v with --timeout 500ms", d)
		}
	}
	for _, when := range []string{"before connecting", "after connecting"} {
		t.Run(when, func(t *testing.T) {
			for _, cmd := range [][]string{{"locks"}, {"leaders"}} {
				var out, errb bytes.Buffer
				c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, scrub: scrub, now: time.Now}
				if when == "before connecting" {
					pause()
				} else {
					c.connected = pause
				}
				start := time.Now()
				code := c.main(ctx, append(append([]string{}, args...), cmd...))
				d := time.Since(start)
				resume()
				r := result{out.String(), errb.String(), code}
				t.Logf("syncctl %v (%v)\n%s", cmd, d, r)
				if cmd[0] == "locks" {
					check(t, r, d, "a  ", "b  ", "c  ", "api-1")
				} else {
					check(t, r, d, "mailer", "node-m", "scheduler", "node-s")
				}
			}
		})
	}
}

// TestCorruptKeys: a foreign or corrupt key under the prefix fails its own
// row, not the listing: the other rows print, the bad one carries its
// error (an ERROR column, an "error" field in JSON), and the exit code
// is 1.
func TestCorruptKeys(t *testing.T) {
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	ctx := t.Context()
	locker, err := redislock.New([]redis.UniversalClient{client}, redislock.WithPrefix(prefix), redislock.WithOwner("api-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.Acquire(ctx, "good", redislock.TTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	p, err := redistask.NewProducer(client, redistask.WithProducerPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Push(ctx, "emails", redistask.Task{Name: "welcome"}); err != nil {
		t.Fatal(err)
	}
	ec, err := event.New(client, event.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.CreateTopic(ctx, "orders", 1); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{
		{"HSET", prefix + ":lock:{wt}", "f", "v"},
		{"SET", prefix + ":lock:{nan}:fence", "notanumber"},
		{"SET", prefix + ":task:{bogusq}:stream", "x"},
		{"SET", prefix + ":event:{bogust}:meta", "x"},
	} {
		if err := client.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--redis", "redis://" + n.Addr, "--prefix", prefix}
	for _, tt := range []struct {
		cmd        string
		good       string
		bad        []string
		key, field string
	}{
		{"locks", "good", []string{"wt", "nan"}, "name", "error"},
		{"queues", "emails", []string{"bogusq"}, "queue", "error"},
		{"topics", "orders", []string{"bogust"}, "topic", "error"},
	} {
		t.Run(tt.cmd, func(t *testing.T) {
			r := syncctl(t, "", false, append(args, tt.cmd)...)
			if r.code != exitFailed || !strings.Contains(r.stdout, "ERROR") || !strings.Contains(r.stdout, tt.good) ||
				strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "could not read") {
				t.Fatalf("want exit 1, every row and an ERROR column:\n%s", r)
			}
			for _, b := range tt.bad {
				if !strings.Contains(r.stdout, b) || !strings.Contains(r.stderr, b) {
					t.Fatalf("want a row and an error for %q:\n%s", b, r)
				}
			}
			r = syncctl(t, "", false, append(args, tt.cmd, "--json")...)
			var rows []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != exitFailed {
				t.Fatalf("--json: %v\n%s", err, r)
			}
			errs := map[string]bool{}
			for _, row := range rows {
				name, _ := row[tt.key].(string)
				e, _ := row["error"].(string)
				errs[name] = e != ""
			}
			if len(errs) != 1+len(tt.bad) || errs[tt.good] {
				t.Fatalf("--json rows: %v", rows)
			}
			for _, b := range tt.bad {
				if !errs[b] {
					t.Fatalf("--json: no error for %q: %v", b, rows)
				}
			}
		})
	}
}

// TestEscapedCells: control characters in names and owners from Redis
// are escaped in tables (no raw ESC, newline, tab or NUL reaches the
// terminal), and left as they are in JSON.
func TestEscapedCells(t *testing.T) {
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	locker, err := redislock.New([]redis.UniversalClient{client}, redislock.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	name, owner := "ev\x1b[31mil\nname", "own\x1b]0;pwned\x07er\t\x00x"
	if _, err := locker.Acquire(t.Context(), name, redislock.TTL(time.Minute), redislock.Owner(owner)); err != nil {
		t.Fatal(err)
	}
	args := []string{"--redis", "redis://" + n.Addr, "--prefix", prefix}
	for _, cmd := range [][]string{{"locks"}, {"locks", "show", name}} {
		r := syncctl(t, "", false, append(args, cmd...)...)
		if r.code != exitOK || strings.ContainsAny(r.stdout, "\x1b\x07\x00\t") {
			t.Fatalf("%q: want escaped cells:\n%q", cmd, r.stdout)
		}
		if !strings.Contains(r.stdout, `ev\x1b[31mil\nname`) || !strings.Contains(r.stdout, `own\x1b]0;pwned\aer\t\x00x`) {
			t.Fatalf("%q: want the escapes shown:\n%s", cmd, r.stdout)
		}
	}
	r := syncctl(t, "", false, append(args, "locks")...)
	if strings.Count(r.stdout, "\n") != 2 {
		t.Fatalf("one header and one row:\n%s", r.stdout)
	}
	r = syncctl(t, "", false, append(args, "locks", "--json")...)
	var rows []lockView
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Name != name || rows[0].Owner != owner {
		t.Fatalf("--json keeps the values: %v %+v", err, rows)
	}
}

// TestDevNullIsNotATerminal: with stdin from /dev/null (a character
// device, not a terminal) a destructive command without --yes is refused
// with exit 2, not prompted for.
func TestDevNullIsNotATerminal(t *testing.T) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if isTerminal(devnull) {
		t.Fatalf("%s counts as a terminal", os.DevNull)
	}
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	deadTasks(t, client, prefix, 1)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--redis", "redis://" + n.Addr, "--prefix", prefix, "dead", "delete", "billing", "--all"}, devnull, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "stdin is not a terminal; pass --yes") || strings.Contains(errb.String(), "[y/N]") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestNoExpiry: a lock key held without a TTL shows "none", not "-" (the
// "not held" mark), in every table, and no_expiry in JSON.
func TestNoExpiry(t *testing.T) {
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	locker, err := redislock.New([]redis.UniversalClient{client}, redislock.WithPrefix(prefix), redislock.WithOwner("api-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.Acquire(t.Context(), "forever", redislock.TTL(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := client.Persist(t.Context(), locker.Key("forever")).Err(); err != nil {
		t.Fatal(err)
	}
	args := []string{"--redis", "redis://" + n.Addr, "--prefix", prefix}
	r := syncctl(t, "", false, append(args, "locks")...)
	if r.code != exitOK || !strings.Contains(r.stdout, "forever  held   api-1  1      none") {
		t.Fatalf("locks: want TTL none:\n%s", r)
	}
	r = syncctl(t, "", false, append(args, "locks", "show", "forever")...)
	if r.code != exitOK || !strings.Contains(r.stdout, "ttl     none") || strings.Count(r.stdout, "none") != 2 {
		t.Fatalf("locks show: want ttl none, and none on the node:\n%s", r)
	}
	r = syncctl(t, "", false, append(args, "locks", "--json")...)
	if !strings.Contains(r.stdout, `"no_expiry": true`) {
		t.Fatalf("locks --json: want no_expiry:\n%s", r)
	}
}
