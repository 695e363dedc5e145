package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// mainEnv makes the test binary run main (with the arguments in
// SYNCDEMO_ARGS) instead of the tests, then check for leaked goroutines,
// so a test can see the command's exit code.
const mainEnv = "SYNCDEMO_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Args = append([]string{"syncdemo"}, strings.Fields(os.Getenv("SYNCDEMO_ARGS"))...)
		main() // exits 1 on failure
		if err := goleak.Find(redistest.LeakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	redistest.VerifyTestMain(m)
}

// timeline is the showcase's -duration: shortened in -short mode.
func timeline() string {
	if testing.Short() {
		return "3s"
	}
	return "10s"
}

// TestShowcase runs the whole showcase on miniredis and checks the facts
// of its report, not only its output.
func TestShowcase(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	rep, err := run([]string{"-redis=", "-duration", timeline()}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	if rep.Killed == "" || rep.NewLeader == "" || rep.NewLeader == rep.Killed {
		t.Errorf("no failover: killed %q, new leader %q", rep.Killed, rep.NewLeader)
	}
	if rep.NewTerm <= rep.KilledTerm {
		t.Errorf("new term %d, killed leader's %d: want higher", rep.NewTerm, rep.KilledTerm)
	}
	if rep.Failover <= 0 || rep.Failover > 3*time.Second {
		t.Errorf("failover took %v, want within the 1s lease plus scheduling slack", rep.Failover)
	}
	if rep.Pushed == 0 || rep.Done != rep.Pushed {
		t.Errorf("%d periodic tasks enqueued, %d done: want all done", rep.Pushed, rep.Done)
	}
	if rep.Rejected < 1 {
		t.Errorf("fenced rejections = %d, want >= 1", rep.Rejected)
	}
	if rep.OutOfOrder != 0 || rep.Skipped != 0 || rep.Consumed != rep.Published || rep.Published < rep.Done {
		t.Errorf("events: %d published, %d consumed, %d out of order, %d accounts skipped some (tasks done %d)", rep.Published, rep.Consumed, rep.OutOfOrder, rep.Skipped, rep.Done)
	}
	if rep.LostUpdates != 0 || rep.Writes < int64(rep.Done) {
		t.Errorf("ledger %v: %d lost updates, %d writes for %d tasks", rep.Ledger, rep.LostUpdates, rep.Writes, rep.Done)
	}
	if q := rep.Queue; q.Length != 0 || q.Pending != 0 || q.Retry != 0 || q.Dead != 0 {
		t.Errorf("queue not empty at the end: %+v", q)
	}
	// The first term is not always 1: a failed attempt moves the term
	// counter too, and miniredis may run three candidates' first
	// attempts interleaved (term 3 seen in CI).
	for _, want := range []string{"embedded miniredis", "clock: Redis TIME through ntptime", "elected leader, term ",
		"stalls", "is rejected, as it would have overwritten newer balances", "KILL ", "elected leader with term", "== summary",
		"out of per-key order: 0", "result   every check passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.ContainsAny(out.String(), "\r\033") {
		t.Error("output to a non-terminal contains redraw control characters")
	}
}

// TestShowcaseExitCode runs the command itself: exit code 0, and no
// goroutine left behind at the end of main.
func TestShowcaseExitCode(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), mainEnv+"=1", "SYNCDEMO_ARGS=-duration 3s", "REDIS_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("syncdemo: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("result   every check passed")) {
		t.Errorf("no passing result line:\n%s", out)
	}
}

// TestDemoRealRedis runs the showcase on a redis-server and checks that
// it deletes its keys afterwards.
func TestDemoRealRedis(t *testing.T) {
	t.Parallel()
	n := redistest.Standalone(t)
	var out bytes.Buffer
	if _, err := run([]string{"-redis", "redis://" + n.Addr + "/0", "-duration", "3s"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "redis "+n.Addr) || !strings.Contains(out.String(), "every check passed") {
		t.Errorf("output does not name the server or lacks the result:\n%s", out.String())
	}
	c := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer c.Close()
	if keys, err := c.Keys(t.Context(), "syncdemo-*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("keys left behind (%v): %v", err, keys)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-redis", "http://nope"}, {"-duration", "1s"}} {
		var out bytes.Buffer
		if _, err := run(args, &out); err == nil {
			t.Errorf("run %v succeeded", args)
		}
	}
}
