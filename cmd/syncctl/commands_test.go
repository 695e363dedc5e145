package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
)

// TestGolden runs every read command, as tables and as JSON, against a
// standalone Redis and a Redis Cluster populated by the library; both
// must print the golden output.
func TestGolden(t *testing.T) {
	cmds := []struct {
		file string
		args []string
	}{
		{"locks", []string{"locks"}},
		{"locks-show", []string{"locks", "show", "invoice-42"}},
		{"locks-show-free", []string{"locks", "show", "report"}},
		{"leaders", []string{"leaders"}},
		{"queues", []string{"queues"}},
		{"queues-billing", []string{"queues", "billing"}},
		{"dead-list", []string{"dead", "list", "billing"}},
		{"topics", []string{"topics"}},
		{"topics-orders", []string{"topics", "orders"}},
	}
	for _, b := range []backendSpec{standalone, cluster} {
		t.Run(b.name, func(t *testing.T) {
			url, nodes := b.start(t)
			prefix := redistest.Prefix(t)
			w := populate(t, prefix, nodes)
			defer w.release()
			for _, c := range cmds {
				for _, asJSON := range []bool{false, true} {
					file, args := c.file+".txt", append(append([]string{}, url...), "--prefix", prefix)
					args = append(args, c.args...)
					if asJSON {
						file, args = c.file+".json", append(args, "--json")
					}
					t.Run(file, func(t *testing.T) {
						r := syncctl(t, "", false, args...)
						if r.code != exitOK || r.stderr != "" {
							t.Fatalf("want exit 0 and nothing on stderr:\n%s", r)
						}
						if b.name == "cluster" && *update {
							return // the standalone run writes the files
						}
						golden(t, file, r.stdout)
					})
				}
			}
			if b.name == "cluster" {
				// --cluster makes plain redis:// URLs seeds of one cluster.
				addrs := redistest.SharedClusterNodes().Addrs()
				r := syncctl(t, "", false, "--cluster", "--redis", "redis://"+addrs[1], "--redis", "redis://"+addrs[2], "--prefix", prefix, "locks")
				if r.code != exitOK {
					t.Fatalf("--cluster:\n%s", r)
				}
				golden(t, "locks.txt", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		r := syncctl(t, "", false, args...)
		if r.code != exitOK || r.stderr != "" {
			t.Fatalf("%v: %s", args, r)
		}
		golden(t, "help.txt", r.stdout)
	}
	for _, args := range [][]string{{"help", "dead"}, {"dead", "--help"}, {"dead", "requeue", "-h"}} {
		r := syncctl(t, "", false, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage: syncctl dead requeue QUEUE [ID...]") || !strings.Contains(r.stdout, "--yes") {
			t.Fatalf("%v: %s", args, r)
		}
	}
	// Every command's help names its exit behaviour or examples.
	for _, cmd := range commands {
		r := syncctl(t, "", false, append([]string{"help"}, cmd.words...)...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Example") {
			t.Errorf("help %v: %s", cmd.words, r)
		}
	}
}

// TestLocksShowQuorumView shows one lock on three independent nodes, one
// of which is down: the per-node view names the dead node, and the
// majority still agrees on the holder.
func TestLocksShowQuorumView(t *testing.T) {
	ns := redistest.Independent(t, 3)
	nodes := redistest.Clients(ns)
	prefix := redistest.Prefix(t)
	locker, err := redislock.New(nodes, redislock.WithPrefix(prefix), redislock.WithOwner("api-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	lk, err := locker.Acquire(t.Context(), "invoice-42", redislock.TTL(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Acquire returns once a majority said yes: wait for the third grant.
	redistest.WaitFor(t, 5*time.Second, "the lock on every node", func() bool {
		in, err := locker.Inspect(t.Context(), "invoice-42")
		ok := err == nil
		for _, n := range in.Nodes {
			ok = ok && n.Holder == lk.Holder()
		}
		return ok
	})
	ns[2].Kill()
	var urls []string
	for _, n := range ns {
		urls = append(urls, "redis://"+n.Addr)
	}
	args := []string{"--redis", strings.Join(urls, ","), "--prefix", prefix}
	r := syncctl(t, "", false, append(args, "locks", "show", "invoice-42")...)
	if r.code != exitOK || !strings.Contains(r.stderr, "warning: node "+ns[2].Addr) {
		t.Fatalf("want exit 0 and a warning about the dead node:\n%s", r)
	}
	golden(t, "locks-show-3nodes.txt", r.stdout)
	r = syncctl(t, "", false, append(args, "locks", "show", "invoice-42", "--json")...)
	golden(t, "locks-show-3nodes.json", r.stdout)
	r = syncctl(t, "", false, append(args, "leaders")...)
	if r.code != exitOK || !strings.Contains(r.stdout, "no election groups") {
		t.Fatalf("leaders with a majority up:\n%s", r)
	}

	ns[1].Kill()
	r = syncctl(t, "", false, append(args, "locks", "show", "invoice-42")...)
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "cannot reach a majority of the 3 nodes") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("with two of three nodes down, want exit 3 and one line:\n%s", r)
	}
}

// TestRequeueRunsTheTaskAgain dead-letters a task (its handler fails and
// MaxAttempts is 1), requeues it with syncctl, and sees a worker run it.
func TestRequeueRunsTheTaskAgain(t *testing.T) {
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	ctx := t.Context()
	p, err := redistask.NewProducer(client, redistask.WithProducerPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	in, err := redistask.NewInspector(client, redistask.WithInspectorPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	w, err := redistask.NewWorker(client, "billing", redistask.WithWorkerPrefix(prefix), redistask.WithShutdownTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	fail.Store(true)
	var runs, succeeded atomic.Int32
	w.Handle("charge", func(_ context.Context, tk *redistask.Task) error {
		runs.Add(1)
		if fail.Load() {
			return errors.New("card declined")
		}
		if string(tk.Payload) != `{"order":7}` || tk.Attempt != 1 {
			return fmt.Errorf("requeued task arrived as %q, attempt %d", tk.Payload, tk.Attempt)
		}
		succeeded.Add(1)
		return nil
	})
	runUntilCleanup(t, w.Run)
	if _, err := p.Push(ctx, "billing", redistask.Task{Name: "charge", Payload: []byte(`{"order":7}`), MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	var dead []redistask.DeadTask
	redistest.WaitFor(t, 10*time.Second, "the task to be dead-lettered", func() bool {
		dead, err = in.Dead(ctx, "billing", 10)
		return err == nil && len(dead) == 1
	})
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times before the dead letter, want 1", runs.Load())
	}
	fail.Store(false)

	args := []string{"--redis", "redis://" + n.Addr, "--prefix", prefix}
	r := syncctl(t, "", false, append(args, "dead", "requeue", "billing", dead[0].ID, "--yes")...)
	if r.code != exitOK || !strings.Contains(r.stdout, dead[0].ID) || !strings.Contains(r.stdout, "requeued 1 dead task to queue \"billing\"") {
		t.Fatalf("requeue:\n%s", r)
	}
	redistest.WaitFor(t, 10*time.Second, "the requeued task to run and succeed", func() bool { return succeeded.Load() == 1 })
	redistest.WaitFor(t, 5*time.Second, "the queue to drain", func() bool {
		st, err := in.Stats(ctx, "billing")
		return err == nil && st.Dead == 0 && st.Length == 0 && st.Pending == 0
	})
	if runs.Load() != 2 {
		t.Fatalf("handler ran %d times, want 2 (the failure, then the requeued run)", runs.Load())
	}
	// The same id again: it is gone.
	r = syncctl(t, "", false, append(args, "dead", "requeue", "billing", dead[0].ID, "--yes")...)
	if r.code != exitFailed || !strings.Contains(r.stderr, dead[0].ID+": not found") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("requeue of a requeued id, want exit 1:\n%s", r)
	}
}

// deadTasks dead-letters n tasks in queue "billing" and returns their ids.
func deadTasks(t *testing.T, client redis.UniversalClient, prefix string, n int) []string {
	t.Helper()
	ctx := t.Context()
	p, err := redistask.NewProducer(client, redistask.WithProducerPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	w, err := redistask.NewWorker(client, "billing", redistask.WithWorkerPrefix(prefix), redistask.WithShutdownTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("charge", func(context.Context, *redistask.Task) error { return errors.New("card declined") })
	ctx2, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx2) }()
	for range n {
		if _, err := p.Push(ctx, "billing", redistask.Task{Name: "charge", MaxAttempts: 1}); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := redistask.NewInspector(client, redistask.WithInspectorPrefix(prefix))
	var dead []redistask.DeadTask
	redistest.WaitFor(t, 10*time.Second, "the tasks to be dead-lettered", func() bool {
		dead, err = in.Dead(ctx, "billing", 100)
		return err == nil && len(dead) == n
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, d := range dead {
		ids[i] = d.ID
	}
	return ids
}

func TestConfirmation(t *testing.T) {
	n := redistest.Standalone(t)
	client := n.Client()
	prefix := redistest.Prefix(t)
	ids := deadTasks(t, client, prefix, 3)
	in, _ := redistask.NewInspector(client, redistask.WithInspectorPrefix(prefix))
	deadCount := func() int64 {
		st, err := in.Stats(t.Context(), "billing")
		if err != nil {
			t.Fatal(err)
		}
		return st.Dead
	}
	args := []string{"--redis", "redis://" + n.Addr, "--prefix", prefix}
	r := syncctl(t, "", false, append(args, "dead", "list", "billing", "--limit", "1")...)
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stdout, "(1 of 3 dead tasks; --limit N for more)") {
		t.Fatalf("dead list --limit 1:\n%s", r)
	}

	tests := []struct {
		name   string
		stdin  string
		tty    bool
		args   []string
		code   int
		stderr string // substring
		dead   int64  // dead tasks left
	}{
		{"no terminal, no --yes: refused", "y\n", false, []string{"dead", "delete", "billing", ids[0]}, exitUsage, "refusing to delete 1 dead task of queue \"billing\"", 3},
		{"requeue without terminal refused", "", false, []string{"dead", "requeue", "billing", "--all"}, exitUsage, "stdin is not a terminal; pass --yes", 3},
		{"answer no", "n\n", true, []string{"dead", "delete", "billing", ids[0]}, exitFailed, "Delete 1 dead task of queue \"billing\"", 3},
		{"empty answer means no", "\n", true, []string{"dead", "delete", "billing", "--all"}, exitFailed, "not confirmed; nothing changed", 3},
		{"end of input means no", "", true, []string{"dead", "requeue", "billing", "--all"}, exitFailed, "not confirmed; nothing changed", 3},
		{"answer yes", "yes\n", true, []string{"dead", "delete", "billing", ids[0]}, exitOK, "? [y/N] ", 2},
		{"--yes skips the prompt", "", false, []string{"dead", "delete", "billing", ids[1], "--yes"}, exitOK, "", 1},
		{"unknown id: nothing to confirm", "", false, []string{"dead", "delete", "billing", "1-1"}, exitFailed, "1 dead task not deleted: 1-1: not found", 1},
		{"ids and --all", "", false, []string{"dead", "delete", "billing", ids[2], "--all", "--yes"}, exitUsage, "not both", 1},
		{"neither ids nor --all", "", false, []string{"dead", "requeue", "billing"}, exitUsage, "or --all", 1},
		{"y deletes all", "y\n", true, []string{"dead", "delete", "billing", "--all"}, exitOK, "Delete 1 dead task", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := syncctl(t, tt.stdin, tt.tty, append(args, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("want exit %d and stderr with %q:\n%s", tt.code, tt.stderr, r)
			}
			if got := deadCount(); got != tt.dead {
				t.Fatalf("%d dead tasks left, want %d", got, tt.dead)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	n := redistest.Standalone(t)
	prefix := redistest.Prefix(t)
	url := "redis://" + n.Addr
	free, err := redistest.FreePort(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYNCCTL_REDIS", "")
	t.Setenv("SYNCCTL_PREFIX", "")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", []string{"--redis", url}, exitUsage, "no command given"},
		{"unknown command", []string{"--redis", url, "frob"}, exitUsage, `unknown command "frob"`},
		{"unknown subcommand", []string{"--redis", url, "dead", "revive", "q"}, exitUsage, `unknown subcommand "revive" of dead`},
		{"missing subcommand", []string{"--redis", url, "dead"}, exitUsage, "dead needs a subcommand: list, requeue, delete"},
		{"unknown flag", []string{"--redis", url, "--frob", "locks"}, exitUsage, "flag provided but not defined: -frob"},
		{"flag of another command", []string{"--redis", url, "locks", "--all"}, exitUsage, `flag --all does not apply to "locks list"`},
		{"after --, flags are arguments", []string{"--redis", url, "--prefix", prefix, "locks", "show", "--", "--json"}, exitFailed, `lock "--json" not found`},
		{"missing argument", []string{"--redis", url, "locks", "show"}, exitUsage, "usage: syncctl locks show NAME"},
		{"extra argument", []string{"--redis", url, "queues", "a", "b"}, exitUsage, "usage: syncctl queues [QUEUE]"},
		{"bad prefix", []string{"--redis", url, "--prefix", "a{b", "locks"}, exitUsage, "--prefix"},
		{"bad limit", []string{"--redis", url, "dead", "list", "q", "--limit", "0"}, exitUsage, "--limit must be positive"},
		{"no redis", []string{"locks"}, exitUsage, "no Redis given"},
		{"bad scheme", []string{"--redis", "http://" + n.Addr, "locks"}, exitUsage, `bad Redis URL "http://`},
		{"bad port", []string{"--redis", "redis://127.0.0.1:notaport", "locks"}, exitUsage, "bad Redis URL"},
		{"bad db", []string{"--redis", "redis://127.0.0.1:6390/x", "locks"}, exitUsage, "bad Redis URL"},
		{"password redacted", []string{"--redis", "redis://u:hunter2@127.0.0.1:6390/x", "locks"}, exitUsage, "u:xxxxx@"},
		{"cluster with a database", []string{"--redis", "redis+cluster://127.0.0.1:6390/3", "locks"}, exitUsage, "a cluster has only database 0"},
		{"same node twice", []string{"--redis", url + "," + url + "/0", "locks"}, exitUsage, "name the same Redis"},
		{"refused", []string{"--redis", fmt.Sprintf("redis://127.0.0.1:%d", free), "locks"}, exitUnreachable, "cannot reach Redis at 127.0.0.1:"},
		{"refused cluster", []string{"--redis", fmt.Sprintf("redis+cluster://127.0.0.1:%d", free), "queues"}, exitUnreachable, "cannot reach Redis at cluster 127.0.0.1:"},
		{"lock not found", []string{"--redis", url, "--prefix", prefix, "locks", "show", "nope"}, exitFailed, `lock "nope" not found`},
		{"group not found", []string{"--redis", url, "--prefix", prefix, "leaders", "nope"}, exitFailed, `election group "nope" not found`},
		{"queue not found", []string{"--redis", url, "--prefix", prefix, "queues", "nope"}, exitFailed, `queue "nope" not found`},
		{"dead of no queue", []string{"--redis", url, "--prefix", prefix, "dead", "list", "nope"}, exitFailed, `queue "nope" not found`},
		{"topic not found", []string{"--redis", url, "--prefix", prefix, "topics", "nope"}, exitFailed, `topic "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := syncctl(t, "", false, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "syncctl: ") {
				t.Fatalf("want exit %d and one stderr line with %q:\n%s", tt.code, tt.stderr, r)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Fatalf("the password leaked: %s", r.stderr)
			}
		})
	}

	t.Run("empty prefix lists nothing", func(t *testing.T) {
		for _, cmd := range [][]string{{"locks"}, {"leaders"}, {"queues"}, {"topics"}} {
			r := syncctl(t, "", false, append([]string{"--redis", url, "--prefix", prefix}, cmd...)...)
			if r.code != exitOK || !strings.HasPrefix(r.stdout, "no ") {
				t.Fatalf("%v: %s", cmd, r)
			}
			r = syncctl(t, "", false, append([]string{"--redis", url, "--prefix", prefix, "--json"}, cmd...)...)
			if r.code != exitOK || r.stdout != "[]\n" {
				t.Fatalf("%v --json: %s", cmd, r)
			}
		}
	})

	t.Run("environment", func(t *testing.T) {
		t.Setenv("SYNCCTL_REDIS", url)
		t.Setenv("SYNCCTL_PREFIX", prefix)
		r := syncctl(t, "", false, "queues", "--json")
		if r.code != exitOK || r.stdout != "[]\n" {
			t.Fatalf("SYNCCTL_REDIS: %s", r)
		}
	})

	t.Run("authentication", func(t *testing.T) {
		// An ACL user, so the harness's own unauthenticated checks still work.
		if _, err := n.Do(t.Context(), "ACL", "SETUSER", "ops", "on", ">s3cret", "~*", "+@all"); err != nil {
			t.Fatal(err)
		}
		r := syncctl(t, "", false, "--redis", "redis://ops:wrong@"+n.Addr, "locks")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "WRONGPASS") || strings.Contains(r.stderr, "ops:wrong") {
			t.Fatalf("wrong password: want exit 3 naming WRONGPASS:\n%s", r)
		}
		r = syncctl(t, "", false, "--redis", "redis://ops:s3cret@"+n.Addr, "--prefix", prefix, "locks")
		if r.code != exitOK || r.stdout != "no locks\n" {
			t.Fatalf("right password:\n%s", r)
		}
	})

	t.Run("timeout on a hung server", func(t *testing.T) {
		hung := redistest.Standalone(t)
		if err := hung.Pause(); err != nil {
			t.Fatal(err)
		}
		defer hung.Resume()
		start := time.Now()
		r := syncctl(t, "", false, "--redis", "redis://"+hung.Addr, "--timeout", "300ms", "locks")
		if r.code != exitUnreachable || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("want exit 3 and one line:\n%s", r)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v with --timeout 300ms", d)
		}
	})
}

func TestRun(t *testing.T) {
	// run is main's entry point: with a non-terminal stdin, a destructive
	// command without --yes is refused.
	n := redistest.Standalone(t)
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"--redis", "redis://" + n.Addr, "dead", "delete", "q", "--all"}, strings.NewReader("y\n"), &out, &errb)
	// The queue does not exist: not found (exit 1) is decided before the prompt.
	if code != exitFailed || !strings.Contains(errb.String(), `queue "q" not found`) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if isTerminal(strings.NewReader("")) {
		t.Fatal("a strings.Reader is not a terminal")
	}
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 850 * time.Millisecond: "850ms", 9500 * time.Millisecond: "9.5s",
		3*time.Minute + 12*time.Second: "3m12s", 2*time.Hour + 5*time.Minute: "2h05m", 76 * time.Hour: "3d04h",
	} {
		if got := dur(d); got != want {
			t.Errorf("dur(%v) = %q, want %q", d, got, want)
		}
	}
}
