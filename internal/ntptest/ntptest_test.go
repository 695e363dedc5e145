package ntptest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/go-sync/sync/internal/redistest"
)

func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }

func query(addr string) (*ntp.Response, error) {
	return ntp.QueryWithOptions(addr, ntp.QueryOptions{Timeout: 300 * time.Millisecond})
}

func TestChronyServesLocalClock(t *testing.T) {
	s := Chrony(t, Config{})
	if s.Port == 123 || !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("address %s", s.Addr)
	}
	r, err := query(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.Stratum != 8 {
		t.Fatalf("stratum %d, want 8 (local stratum 8)", r.Stratum)
	}
	if r.ClockOffset.Abs() > r.RootDistance+time.Millisecond {
		t.Fatalf("offset %v from a server on this machine", r.ClockOffset)
	}
	conf, err := os.ReadFile(s.Dir + "/chrony.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bindaddress 127.0.0.1", "allow 127.0.0.1", "cmdport 0", "local stratum 8"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("chrony.conf lacks %q", want)
		}
	}
}

func TestChronyFaketimeOffset(t *testing.T) {
	s := Chrony(t, Config{Offset: 2500 * time.Millisecond})
	r, err := query(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.ClockOffset - 2500*time.Millisecond; d.Abs() > r.RTT/2+time.Millisecond {
		t.Fatalf("offset %v, want 2.5s within half the round trip (%v)", r.ClockOffset, r.RTT)
	}
}

// TestCheckOffset checks the start-up check that replaces a chronyd
// serving a clock off its nominal offset: it passes the offset the server
// serves and fails one 1 ms away (the check's bounds are about 0.02 ms
// wide on an idle machine, and wider under load).
func TestCheckOffset(t *testing.T) {
	const off = 2500 * time.Millisecond
	s := Chrony(t, Config{Offset: off})
	if err := s.checkOffset(); err != nil {
		t.Fatalf("the served offset fails the check: %v", err)
	}
	for _, wrong := range []time.Duration{off - time.Millisecond, off + time.Millisecond} {
		s.Offset = wrong
		err := s.checkOffset()
		if err == nil || !strings.Contains(err.Error(), "serves an offset in") {
			t.Fatalf("checked against %v: %v, want an offset error", wrong, err)
		}
	}
	for off, want := range map[time.Duration]bool{0: true, -time.Second: true, 750 * time.Millisecond: false,
		time.Second: false, 1100 * time.Millisecond: false, 1250 * time.Millisecond: true} {
		if consistentOffset(off) != want {
			t.Errorf("consistentOffset(%v) = %v", off, !want)
		}
	}
}

func TestChronyPauseResumeKill(t *testing.T) {
	s := Chrony(t, Config{})
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(s.Addr); err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(s.Addr); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("running after Kill")
	}
	if err := s.Pause(); err == nil {
		t.Fatal("Pause of a killed server succeeded")
	}
}

func TestChronyRateLimitDrops(t *testing.T) {
	s := Chrony(t, Config{RateLimit: "interval 3 burst 1 leak 4"})
	answered := 0
	for range 8 {
		if r, err := ntp.QueryWithOptions(s.Addr, ntp.QueryOptions{Timeout: 50 * time.Millisecond}); err == nil && r.Validate() == nil {
			answered++
		}
	}
	// The readiness probe used the burst; about every 16th is leaked.
	if answered > 4 {
		t.Fatalf("%d of 8 rapid queries answered by a rate-limited server", answered)
	}
}

func TestFakeServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply Reply
		check func(*ntp.Response, error) string
	}{
		{"offset", Reply{Stratum: 2, Offset: 3 * time.Second}, func(r *ntp.Response, err error) string {
			if err != nil || r.Validate() != nil || (r.ClockOffset-3*time.Second).Abs() > time.Millisecond {
				return "want a valid reply 3s ahead"
			}
			return ""
		}},
		{"rate", Reply{Kiss: "RATE"}, func(r *ntp.Response, err error) string {
			if err != nil || !r.IsKissOfDeath() || r.KissCode != "RATE" {
				return "want a RATE kiss-of-death"
			}
			return ""
		}},
		{"deny", Reply{Kiss: "DENY"}, func(r *ntp.Response, err error) string {
			if err != nil || r.KissCode != "DENY" {
				return "want a DENY kiss-of-death"
			}
			return ""
		}},
		{"unsynchronized", Reply{Stratum: 2, Leap: 3}, func(r *ntp.Response, err error) string {
			if err != nil || r.Validate() != ntp.ErrInvalidLeapSecond {
				return "want leap 3"
			}
			return ""
		}},
		{"drop", Reply{Drop: true}, func(r *ntp.Response, err error) string {
			if err == nil {
				return "want a timeout"
			}
			return ""
		}},
		{"root distance", Reply{Stratum: 3, RootDelay: 10 * time.Millisecond, RootDispersion: 5 * time.Millisecond}, func(r *ntp.Response, err error) string {
			if err != nil || (r.RootDelay-10*time.Millisecond).Abs() > 16*time.Microsecond || (r.RootDispersion-5*time.Millisecond).Abs() > 16*time.Microsecond {
				return "want root delay 10ms and dispersion 5ms"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Fake(t, func(int) Reply { return tc.reply })
			r, err := ntp.QueryWithOptions(f.Addr, ntp.QueryOptions{Timeout: 100 * time.Millisecond})
			if msg := tc.check(r, err); msg != "" {
				t.Fatalf("%s; got %+v, %v", msg, r, err)
			}
			if f.Requests() != 1 {
				t.Fatalf("%d requests", f.Requests())
			}
		})
	}
}

func TestFaketimeSpec(t *testing.T) {
	for d, want := range map[time.Duration]string{
		2500 * time.Millisecond:  "+2.5s",
		-1500 * time.Millisecond: "-1.5s",
		time.Minute:              "+60s",
	} {
		if got := faketimeSpec(d); got != want {
			t.Errorf("faketimeSpec(%v) = %q, want %q", d, got, want)
		}
	}
}
