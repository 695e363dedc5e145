package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-sync/sync/internal/redistest"
)

func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }

func TestDemoEmbedded(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var out bytes.Buffer
	if err := run(nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"embedded miniredis", "sync.New", "counter = 15 (want 15)", "is rejected: redislock: stale fencing token", "its late write with term 1 is rejected", "at once", "finished by worker-2", "dead letter: charge after 3 attempts", "per-key order intact, no event skipped", "== ntptime", "surely past", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDemoRealRedis(t *testing.T) {
	n := redistest.Standalone(t)
	var out bytes.Buffer
	if err := run([]string{"-redis", "redis://" + n.Addr + "/0"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "redis "+n.Addr) {
		t.Errorf("output does not name the server:\n%s", out.String())
	}
}

func TestDemoBadURL(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-redis", "http://nope"}, &out); err == nil || !strings.Contains(err.Error(), "bad -redis URL") {
		t.Fatalf("run with a bad URL = %v", err)
	}
}
