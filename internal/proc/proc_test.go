package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLifecycle(t *testing.T) {
	var p Proc
	if p.Running() || p.Pid() != 0 {
		t.Fatal("zero Proc reports a process")
	}
	if err := p.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Pause with nothing running = %v", err)
	}
	if err := p.Start(exec.Command("sleep", "60")); err != nil {
		t.Fatal(err)
	}
	if !p.Running() || p.Pid() == 0 {
		t.Fatal("started process not running")
	}
	if err := p.Pause(); err != nil || !p.Paused() || !p.Running() {
		t.Fatalf("Pause = %v, paused %v", err, p.Paused())
	}
	if err := p.Resume(); err != nil || p.Paused() {
		t.Fatalf("Resume = %v", err)
	}
	p.Kill()
	if p.Running() {
		t.Fatal("killed process still running")
	}
	p.Kill() // no-op
}

func TestTail(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	os.WriteFile(f, []byte("a\nb\nc\n"), 0o644)
	if got := Tail(f, 2); got != "b\nc" {
		t.Fatalf("Tail = %q", got)
	}
	if got := Tail(filepath.Join(t.TempDir(), "none"), 2); got == "" {
		t.Fatal("Tail of a missing file says nothing")
	}
}
