// Package ntptest starts real NTP servers for tests and benchmarks:
// Debian's chronyd on a free loopback UDP port, serving its local clock
// (local stratum 8, never touching the machine's clock: chronyd -x),
// optionally under libfaketime so that it serves a clock offset by a known
// amount, optionally rate-limited. Servers can be paused (SIGSTOP) and
// resumed, and are killed when the test ends; their log is printed when
// the test failed. FakeServer answers with scripted replies (kiss-of-death
// codes, offsets) for what chronyd cannot be made to send.
//
// Nothing here ever talks to a non-loopback address.
//
// When chronyd (or libfaketime, for an offset server) is not installed,
// tests that ask for one are skipped, unless REDIS_REQUIRED=1 (set by
// `make test`), in which case they fail and say what to install.
package ntptest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/go-sync/sync/internal/proc"
)

// InstallHint says what to install when chronyd or libfaketime is missing.
const InstallHint = "install Debian's chrony and faketime (apt-get install -y chrony faketime), or run `make test`, which installs them"

var (
	// ErrNoChrony reports that chronyd is not installed.
	ErrNoChrony = errors.New("ntptest: chronyd not found; " + InstallHint)
	// ErrNoFaketime reports that libfaketime is not installed.
	ErrNoFaketime = errors.New("ntptest: libfaketime.so.1 not found; " + InstallHint)
)

// Chronyd returns the path of chronyd, which Debian installs in /usr/sbin
// (not on every user's PATH).
func Chronyd() (string, error) {
	if p, err := exec.LookPath("chronyd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/chronyd", "/sbin/chronyd"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNoChrony
}

// Faketime returns the path of libfaketime.so.1 (Debian's libfaketime,
// pulled in by the faketime package).
func Faketime() (string, error) {
	for _, pat := range []string{
		"/usr/lib/*/faketime/libfaketime.so.1",
		"/usr/lib/faketime/libfaketime.so.1",
		"/usr/local/lib/faketime/libfaketime.so.1",
	} {
		if m, _ := filepath.Glob(pat); len(m) > 0 {
			return m[0], nil
		}
	}
	if out, err := exec.Command("dpkg", "-L", "libfaketime").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(l, "/libfaketime.so.1") {
				return l, nil
			}
		}
	}
	return "", ErrNoFaketime
}

// Require skips the test when chronyd is missing (and libfaketime too if
// faketime is set), or fails it when REDIS_REQUIRED=1.
func Require(t testing.TB, faketime bool) {
	t.Helper()
	_, err := Chronyd()
	if err == nil && faketime {
		_, err = Faketime()
	}
	if err != nil {
		if os.Getenv("REDIS_REQUIRED") == "1" {
			t.Fatalf("REDIS_REQUIRED=1 but %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

// Config describes one chronyd.
type Config struct {
	// Offset runs chronyd under libfaketime with FAKETIME="+<Offset>": it
	// serves the machine's clock plus Offset. Zero serves the machine's
	// clock as it is, without libfaketime.
	//
	// chronyd stamps a request's receipt with the kernel's timestamp, which
	// libfaketime does not fake, whenever that is within about 1s of its
	// own (faked) clock: under an offset of 1s or less its replies are
	// inconsistent (receipt real, transmission faked) and clients must
	// reject them. Use larger offsets for a consistent offset server.
	//
	// A chronyd started under libfaketime on a busy machine now and then
	// serves a clock behind the nominal offset by a constant 0.09-0.5 ms,
	// while it reports microseconds of error (1 start in 4 to 10 with
	// three processes starting chronyds beside two CPU hogs): two such
	// servers then disagree, as real servers would. Start therefore
	// checks a consistent offset server (any offset but
	// 0 < Offset <= 1.1s, and no RateLimit, which would drop the check's
	// queries) against this machine's clock before returning it, and
	// starts another in its place if it is off.
	Offset time.Duration
	// RateLimit, if set, adds a ratelimit directive with these options,
	// e.g. "interval -4 burst 2 leak 4". chrony 4.3 drops the replies it
	// limits (the kod option came in chrony 4.4).
	RateLimit string
	// Extra lines appended to chrony.conf.
	Extra []string
	// Dir is the server's directory; a fresh temporary one if empty.
	Dir string
}

// Server is one chronyd process on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	Addr   string // 127.0.0.1:port
	Port   int
	Dir    string
	Offset time.Duration // the offset it serves
	// Replaced counts the processes Start started on the way and killed
	// because they served a clock off Offset (see Config.Offset).
	Replaced int

	proc proc.Proc // the chronyd process
}

// Chrony starts a chronyd for the test and stops it when the test ends.
func Chrony(t testing.TB, cfg Config) *Server {
	t.Helper()
	Require(t, cfg.Offset != 0)
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Replaced > 0 {
		t.Logf("chronyd %s: replaced %d process(es) that served a clock off the offset %v", s.Addr, s.Replaced, s.Offset)
	}
	t.Cleanup(func() {
		failed := t.Failed()
		if failed {
			t.Logf("chronyd %s (offset %v, dir %s kept), log:\n%s", s.Addr, s.Offset, s.Dir, s.LogTail(30))
		}
		s.Stop(failed)
	})
	return s
}

// Start starts a chronyd with cfg on a free loopback port and waits until
// it answers a valid NTP reply. The caller must call Stop. Tests should use
// Chrony instead.
func Start(cfg Config) (*Server, error) {
	bin, err := Chronyd()
	if err != nil {
		return nil, err
	}
	var env []string
	if cfg.Offset != 0 {
		lib, err := Faketime()
		if err != nil {
			return nil, err
		}
		env = []string{"LD_PRELOAD=" + lib, "FAKETIME=" + faketimeSpec(cfg.Offset)}
	}
	madeDir := false
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "ntptest-")
		if err != nil {
			return nil, err
		}
		cfg.Dir, madeDir = d, true
	}
	var lastErr error
	failed, replaced := 0, 0
	for failed < 5 && replaced < maxReplaced {
		port, err := FreeUDPPort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: cfg.Dir, Offset: cfg.Offset}
		if err := s.start(bin, cfg, env); err != nil {
			lastErr = err
			failed++
			continue // the port may have been taken between probe and bind
		}
		if consistentOffset(cfg.Offset) && cfg.RateLimit == "" {
			if err := s.checkOffset(); err != nil {
				s.Kill()
				lastErr = err
				if !errors.Is(err, errOffOffset) {
					failed++ // it hardly answered: a failed start
					continue
				}
				replaced++
				// Off starts come in bursts (a busy spell): let it pass.
				time.Sleep(min(time.Duration(replaced)*25*time.Millisecond, 250*time.Millisecond))
				continue // a fresh process serves the offset exactly
			}
		}
		s.Replaced = replaced
		return s, nil
	}
	if madeDir {
		os.RemoveAll(cfg.Dir)
	}
	if replaced == maxReplaced {
		return nil, fmt.Errorf("ntptest: %d chronyd processes in a row served a clock off the offset, the last: %w", replaced, lastErr)
	}
	return nil, lastErr
}

// maxReplaced bounds the processes Start replaces for serving a clock off
// their offset. With three test processes starting chronyds at once beside
// two CPU hogs, 1 start in 4 to 10 was off (always behind, by 0.09-0.5 ms):
// 20 in a row would take a machine far busier than a test run.
const maxReplaced = 20

// faketimeSpec formats an offset as libfaketime wants it: "+2.5s".
func faketimeSpec(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func (s *Server) conf(cfg Config) string {
	lines := []string{
		"port " + strconv.Itoa(s.Port),
		"bindaddress 127.0.0.1",
		"allow 127.0.0.1",
		"local stratum 8",
		"cmdport 0",
		"bindcmdaddress /", // no Unix command socket: servers must not share /run/chrony
		"pidfile " + filepath.Join(s.Dir, "chronyd.pid"),
		"driftfile " + filepath.Join(s.Dir, "chrony.drift"),
	}
	if os.Geteuid() != 0 {
		if u := os.Getenv("USER"); u != "" {
			lines = append(lines, "user "+u)
		}
	}
	if cfg.RateLimit != "" {
		lines = append(lines, "ratelimit "+cfg.RateLimit)
	}
	lines = append(lines, cfg.Extra...)
	return strings.Join(lines, "\n") + "\n"
}

func (s *Server) start(bin string, cfg Config, env []string) error {
	if err := probeFree(s.Addr); err != nil {
		return err
	}
	confPath := filepath.Join(s.Dir, "chrony.conf")
	if err := os.WriteFile(confPath, []byte(s.conf(cfg)), 0o644); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(s.Dir, "chronyd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// -x: never touch the machine's clock. -d: stay in the foreground and
	// log to stderr. -u root keeps root (no chrony user needed); as
	// another user, -U skips chronyd's root check.
	args := []string{"-x", "-d", "-f", confPath}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	} else {
		args = append(args, "-U")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := s.proc.Start(cmd); err != nil {
		return fmt.Errorf("ntptest: start chronyd: %w", err)
	}
	exited := s.proc.Exited()

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("ntptest: chronyd on port %d exited at start: %s", s.Port, s.LogTail(20))
		default:
		}
		r, err := ntp.QueryWithOptions(s.Addr, ntp.QueryOptions{Timeout: 200 * time.Millisecond})
		if err == nil && r.Validate() == nil {
			if strings.Contains(s.LogTail(50), "Could not open NTP socket") {
				s.Kill()
				return fmt.Errorf("ntptest: chronyd could not bind %s", s.Addr)
			}
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("ntptest: chronyd on %s not ready after 10s (last: %v): %s", s.Addr, err, s.LogTail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consistentOffset reports whether a chronyd under this fake offset sends
// consistent replies (see Config.Offset): any offset without libfaketime,
// a negative one, or one past the 1s within which chronyd takes the
// kernel's receipt timestamps (1.1s, to keep clear of the edge).
func consistentOffset(off time.Duration) bool {
	return off <= 0 || off > 1100*time.Millisecond
}

// offsetSlack is what checkOffset allows beyond the replies' own bounds:
// chronyd randomizes its timestamps below its precision (reported in the
// reply and added too), and time.Now and chronyd's clock reads are a few
// instructions off the instants they stand for.
const offsetSlack = 5 * time.Microsecond

// errOffOffset reports a chronyd that serves a clock off its offset.
var errOffOffset = errors.New("serves an offset")

// checkOffset queries the server a few times and fails unless the offset
// it was started to serve lies within every reply's bounds: the server's
// clock minus this machine's lies in [offset - rtt/2, offset + rtt/2] for
// each reply of an honest server (a causal bound that a busy machine only
// widens), so a server outside it serves a clock off its nominal offset.
func (s *Server) checkOffset() error {
	lo, hi := time.Duration(math.MinInt64), time.Duration(math.MaxInt64)
	answered := 0
	for range 20 {
		r, err := ntp.QueryWithOptions(s.Addr, ntp.QueryOptions{Timeout: 200 * time.Millisecond, GetSystemTime: time.Now})
		if err != nil || r.Validate() != nil {
			continue
		}
		answered++
		e := r.RTT/2 + r.Precision + offsetSlack
		lo, hi = max(lo, r.ClockOffset-e), min(hi, r.ClockOffset+e)
	}
	switch {
	case answered < 10:
		return fmt.Errorf("ntptest: chronyd on %s answered %d of 20 queries at start: %s", s.Addr, answered, s.LogTail(20))
	case s.Offset < lo || s.Offset > hi:
		return fmt.Errorf("ntptest: chronyd on %s %w in [%v, %v], not %v", s.Addr, errOffOffset, lo, hi, s.Offset)
	}
	return nil
}

// probeFree fails if anything answers an NTP query on addr.
func probeFree(addr string) error {
	if _, err := ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 50 * time.Millisecond}); err == nil {
		return fmt.Errorf("ntptest: something already answers NTP on %s", addr)
	}
	return nil
}

// FreeUDPPort returns a free loopback UDP port other than 123.
func FreeUDPPort() (int, error) {
	for range 100 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if port != 123 {
			return port, nil
		}
	}
	return 0, errors.New("ntptest: no free UDP port")
}

// Pause stops the server with SIGSTOP: its socket stays open but nothing
// is answered.
func (s *Server) Pause() error { return s.notRunning(s.proc.Pause()) }

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() error { return s.notRunning(s.proc.Resume()) }

func (s *Server) notRunning(err error) error {
	if errors.Is(err, proc.ErrNotRunning) {
		return fmt.Errorf("ntptest: chronyd %s is not running", s.Addr)
	}
	return err
}

// Kill sends SIGKILL and waits for the process to exit.
func (s *Server) Kill() { s.proc.Kill() }

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool { return s.proc.Running() }

// Stop kills the server; its directory is kept if keepDir is set.
func (s *Server) Stop(keepDir bool) {
	s.Kill()
	if !keepDir {
		os.RemoveAll(s.Dir)
	}
}

// LogTail returns the last lines of the server's log.
func (s *Server) LogTail(lines int) string {
	return proc.Tail(filepath.Join(s.Dir, "chronyd.log"), lines)
}
