package ntptime

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/ntptest"
)

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"0.0", "1714564800123.7", "281474976710655.65535", "007.01", "1.65536", "", ".", "1e3.2", "-1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTimestamp(s)
		var viaText Timestamp
		errText := viaText.UnmarshalText([]byte(s))
		if (err == nil) != (errText == nil) || viaText != ts {
			t.Fatalf("ParseTimestamp and UnmarshalText disagree on %q: %v/%v, %v/%v", s, ts, err, viaText, errText)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidTimestamp) {
				t.Fatalf("ParseTimestamp(%q) = %v, not ErrInvalidTimestamp", s, err)
			}
			return
		}
		txt, _ := ts.MarshalText()
		back, err := ParseTimestamp(string(txt))
		if err != nil || back != ts {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, ts, txt, back, err)
		}
		if ts.Millis() < 0 || ts.Millis() > maxPhysical {
			t.Fatalf("%q: millis %d out of range", s, ts.Millis())
		}
		_ = ts.String()
	})
}

func FuzzTimestampBinary(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ts Timestamp
		err := ts.UnmarshalBinary(b)
		if len(b) != 8 {
			if !errors.Is(err, ErrInvalidTimestamp) {
				t.Fatalf("UnmarshalBinary(%x) = %v", b, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, _ := ts.MarshalBinary()
		if string(out) != string(b) {
			t.Fatalf("%x -> %v -> %x", b, ts, out)
		}
		// Bytewise order is timestamp order.
		var other Timestamp
		other.UnmarshalBinary([]byte{0x80, 0, 0, 0, 0, 0, 0, 0})
		ob, _ := other.MarshalBinary()
		if (string(out) < string(ob)) != (ts < other) {
			t.Fatalf("byte order and timestamp order disagree for %x", b)
		}
		_ = ts.String()
	})
}

// replayConn is a net.Conn that answers the one request written to it
// with fuzzed bytes, optionally echoing the request's transmit timestamp
// into the origin field so that the reply gets past the match check.
type replayConn struct {
	reply       []byte
	matchOrigin bool
	req         []byte
	served      bool
}

func (c *replayConn) Write(b []byte) (int, error) {
	c.req = append([]byte(nil), b...)
	return len(b), nil
}
func (c *replayConn) Read(b []byte) (int, error) {
	if c.served {
		return 0, os.ErrDeadlineExceeded
	}
	c.served = true
	r := append([]byte(nil), c.reply...)
	if c.matchOrigin && len(r) >= 32 && len(c.req) >= 48 {
		copy(r[24:32], c.req[40:48])
	}
	return copy(b, r), nil
}
func (c *replayConn) Close() error { return nil }
func (c *replayConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *replayConn) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 123}
}
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzNTPReply feeds arbitrary reply bytes through beevik/ntp's parser and
// this package's validation, sample and selection code: nothing may
// panic, and an accepted reply must yield a sane interval.
func FuzzNTPReply(f *testing.F) {
	req := make([]byte, 48)
	now := time.Now()
	for _, r := range []ntptest.Reply{
		{Stratum: 2},
		{Stratum: 2, Offset: 3 * time.Second, RootDelay: time.Millisecond, RootDispersion: 2 * time.Millisecond},
		{Stratum: 0, Kiss: "RATE"},
		{Stratum: 0, Kiss: "DENY"},
		{Stratum: 16},
		{Stratum: 2, Leap: 3},
		{Stratum: 3, Offset: -time.Hour},
	} {
		f.Add(ntptest.Encode(req, r, now), true)
	}
	f.Add([]byte{}, true)
	f.Add(make([]byte, 48), false)
	f.Fuzz(func(t *testing.T, reply []byte, matchOrigin bool) {
		src, err := NewNTP(WithServer("127.0.0.1:123"), WithTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		src.dial = func(context.Context, string) (net.Conn, error) {
			return &replayConn{reply: reply, matchOrigin: matchOrigin}, nil
		}
		env := Env{Clock: SystemClock(), DriftPPM: DefaultDriftPPM, Logger: discardLogger}
		s, err := src.Sample(context.Background(), env)
		if err != nil {
			return
		}
		if s.Error < 0 {
			t.Fatalf("accepted reply %x gave a negative bound %v", reply, s.Error)
		}
		if s.Mono > env.Clock.Mono() {
			t.Fatalf("sample from the future")
		}
		st := src.Servers()[0]
		if st.Samples != 1 || st.Delay < 0 || st.Error < 0 {
			t.Fatalf("server status %+v", st)
		}
		_ = checkSample(s, env.Clock.Mono()) // may reject an out-of-range time, must not panic
	})
}
