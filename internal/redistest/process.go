package redistest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	stdsync "sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv names the environment variable that tells a re-executed test
// binary which helper role to play.
const helperEnv = "GO_SYNC_HELPER"

// HelperRole returns the role this process was started with by
// StartProcess, or "" in a normal test run. A test that serves as a helper
// starts with:
//
//	if redistest.HelperRole() != "lock-client" { t.Skip("helper process only") }
func HelperRole() string { return os.Getenv(helperEnv) }

// Process is a copy of the test binary running one test as a separate OS
// process, so a test can kill -9 or SIGSTOP a client.
type Process struct {
	cmd      *exec.Cmd
	lines    chan string
	exited   chan struct{}
	dropping chan struct{} // closed by Kill: unread lines are dropped
	dropOnce stdsync.Once
	err      error

	mu     stdsync.Mutex
	output []string
}

// StartProcess re-runs the current test binary with -test.run=^test$ and
// GO_SYNC_HELPER=role plus env ("K=V") in its environment. Lines the helper
// writes to stdout are delivered by Lines; stderr is kept and printed if the
// test fails. The process is killed when the test ends.
func StartProcess(t testing.TB, test, role string, env ...string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+test+"$", "-test.count=1", "-test.v=false", "-test.timeout=10m")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, lines: make(chan string, 4096), exited: make(chan struct{}), dropping: make(chan struct{})}
	var wg stdsync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.read(stdout, true) }()
	go func() { defer wg.Done(); p.read(stderr, false) }()
	go func() {
		wg.Wait()
		p.err = cmd.Wait()
		close(p.lines)
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("helper %s (pid %d) stderr:\n%s", role, cmd.Process.Pid, p.Output())
		}
	})
	return p
}

func (p *Process) read(r io.Reader, toLines bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if toLines {
			select {
			case p.lines <- line:
			case <-p.dropping:
			}
			continue
		}
		p.mu.Lock()
		p.output = append(p.output, line)
		if len(p.output) > 200 {
			p.output = p.output[len(p.output)-200:]
		}
		p.mu.Unlock()
	}
}

// Lines delivers each line the helper writes to stdout (a helper blocks
// once 4096 lines are unread); it is closed when the process has exited.
func (p *Process) Lines() <-chan string { return p.lines }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns the last lines the helper wrote to stderr.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ""
	for _, l := range p.output {
		s += l + "\n"
	}
	return s
}

// Kill sends SIGKILL and waits for the process to exit. Lines not yet
// read from Lines may be dropped.
func (p *Process) Kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.dropOnce.Do(func() { close(p.dropping) })
	<-p.exited
}

// Pause sends SIGSTOP.
func (p *Process) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume sends SIGCONT.
func (p *Process) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Wait waits up to timeout for the process to exit and returns its error.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("redistest: helper pid %d still running after %v", p.Pid(), timeout)
	}
}

// Expect waits up to timeout for a stdout line satisfying match and returns
// it, discarding the lines before it.
func (p *Process) Expect(timeout time.Duration, match func(string) bool) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("redistest: helper pid %d exited: %v\n%s", p.Pid(), p.err, p.Output())
			}
			if match(l) {
				return l, nil
			}
		case <-timer.C:
			return "", fmt.Errorf("redistest: no matching line from helper pid %d within %v", p.Pid(), timeout)
		}
	}
}
