package ntptest

import (
	"encoding/binary"
	"errors"
	"net"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// Reply is what a FakeServer answers to one request.
type Reply struct {
	// Drop sends nothing back.
	Drop bool
	// Stratum of the reply; 0 makes it a kiss-of-death, with Kiss as its
	// code ("RATE", "DENY", "RSTR").
	Stratum uint8
	Kiss    string
	// Offset is added to the machine's clock for the receive and transmit
	// timestamps.
	Offset time.Duration
	// Leap indicator (3 means unsynchronized).
	Leap uint8
	// RootDelay and RootDispersion reported.
	RootDelay, RootDispersion time.Duration
	// Poll is the poll exponent reported (log2 seconds).
	Poll int8
}

// FakeServer is a UDP NTP server on loopback that answers each request
// with the Reply its function returns (n counts requests from 1). It
// encodes real NTPv4 packets, so clients parse them as any server's.
type FakeServer struct {
	Addr string

	conn  net.PacketConn
	reply func(n int) Reply
	n     atomic.Int64
	wg    stdsync.WaitGroup
}

// Fake starts a FakeServer for the test; it is closed when the test ends.
func Fake(t testing.TB, reply func(n int) Reply) *FakeServer {
	t.Helper()
	f, err := StartFake(reply)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// StartFake starts a FakeServer; the caller must Close it.
func StartFake(reply func(n int) Reply) (*FakeServer, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &FakeServer{Addr: c.LocalAddr().String(), conn: c, reply: reply}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

// Requests returns how many requests the server has received.
func (f *FakeServer) Requests() int { return int(f.n.Load()) }

// Close stops the server and waits for its goroutine.
func (f *FakeServer) Close() {
	f.conn.Close()
	f.wg.Wait()
}

func (f *FakeServer) serve() {
	defer f.wg.Done()
	buf := make([]byte, 1024)
	for {
		n, from, err := f.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		recv := time.Now()
		if n < 48 {
			continue
		}
		r := f.reply(int(f.n.Add(1)))
		if r.Drop {
			continue
		}
		f.conn.WriteTo(Encode(buf[:48], r, recv), from)
	}
}

// Encode builds a 48-byte NTPv4 server reply to req (a client request)
// received at recv.
func Encode(req []byte, r Reply, recv time.Time) []byte {
	p := make([]byte, 48)
	p[0] = r.Leap<<6 | 4<<3 | 4 // leap, version 4, mode 4 (server)
	p[1] = r.Stratum
	p[2] = byte(r.Poll)
	p[3] = 0xec // precision -20: 2^-20 s, about 1µs
	binary.BigEndian.PutUint32(p[4:], shortFormat(r.RootDelay))
	binary.BigEndian.PutUint32(p[8:], shortFormat(r.RootDispersion))
	if r.Stratum == 0 {
		copy(p[12:16], r.Kiss)
	} else {
		copy(p[12:16], "FAKE")
	}
	ref := recv.Add(r.Offset).Add(-time.Second)
	binary.BigEndian.PutUint64(p[16:], timestamp(ref))
	copy(p[24:32], req[40:48]) // origin: the client's transmit timestamp
	binary.BigEndian.PutUint64(p[32:], timestamp(recv.Add(r.Offset)))
	binary.BigEndian.PutUint64(p[40:], timestamp(time.Now().Add(r.Offset)))
	return p
}

// ntpEpochOffset is the number of seconds from 1900 to 1970.
const ntpEpochOffset = 2208988800

// timestamp encodes t in NTP's 64-bit format (era 0).
func timestamp(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return sec<<32 | frac
}

// shortFormat encodes d in NTP's 32-bit 16.16 format, rounding up (a
// server must not understate its distance).
func shortFormat(d time.Duration) uint32 {
	return uint32(((uint64(d) << 16) + uint64(time.Second) - 1) / uint64(time.Second))
}
