package sync_test

import (
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/internal/ntptest"
	"github.com/go-sync/sync/ntptime"
	"github.com/redis/go-redis/v9"
)

var fastPolling = gosync.WithNTPOptions(
	ntptime.WithPoll(50*time.Millisecond, 200*time.Millisecond),
	ntptime.WithBurst(2, 20*time.Millisecond),
	ntptime.WithTimeout(300*time.Millisecond),
)

func TestNTPTimeAgainstChrony(t *testing.T) {
	const off = 2500 * time.Millisecond
	servers := []*ntptest.Server{
		ntptest.Chrony(t, ntptest.Config{Offset: off}),
		ntptest.Chrony(t, ntptest.Config{Offset: off}),
		ntptest.Chrony(t, ntptest.Config{Offset: time.Minute}),
	}
	opts := []gosync.NTPOption{fastPolling}
	for _, s := range servers {
		opts = append(opts, gosync.WithServer(s.Addr))
	}
	nt, err := gosync.NewNTPTime(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()

	defer func() {
		if t.Failed() {
			for _, st := range nt.Servers() {
				t.Logf("server %s: reach %08b samples %d offset %v delay %v error %v falseticker %v last error %v",
					st.Addr, st.Reach, st.Samples, st.Offset, st.Delay, st.Error, st.Falseticker, st.LastErr)
			}
		}
	}()
	var clock gosync.Time = nt // the seed's interface
	w1 := time.Now()
	now, err := clock.Now()
	w2 := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	bound := nt.Clock().Now().Bound() + time.Millisecond
	if now.Before(w1.Add(off-bound)) || now.After(w2.Add(off+bound)) {
		t.Fatalf("Now = local clock %+v, want +2.5s within %v", now.Sub(w1), bound)
	}
	if st := nt.Servers(); !st[2].Falseticker {
		t.Fatalf("the +1m server is not a falseticker: %+v", st[2])
	}

	// Plugged into the facade.
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	s := gosync.New(c, gosync.WithClock(nt))
	defer s.Close()
	if got, err := s.Time().Now(); err != nil || time.Until(got) < 2*time.Second {
		t.Fatalf("facade Time().Now() = %v, %v", got, err)
	}
	if err := nt.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNTPTimeUnsynchronized(t *testing.T) {
	silent := ntptest.Fake(t, func(int) ntptest.Reply { return ntptest.Reply{Drop: true} })
	nt, err := gosync.NewNTPTime(gosync.WithServer(silent.Addr), fastPolling, gosync.WithStartWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	if _, err := nt.Now(); !errors.Is(err, ntptime.ErrUnsynchronized) {
		t.Fatalf("Now = %v, want ErrUnsynchronized", err)
	}
}

func TestNTPTimeTolerance(t *testing.T) {
	// A server that claims a 50ms root dispersion: beyond a 10ms tolerance.
	loose := func(int) ntptest.Reply { return ntptest.Reply{Stratum: 2, RootDispersion: 50 * time.Millisecond} }
	srv := ntptest.Fake(t, loose)
	strict, err := gosync.NewNTPTime(gosync.WithServer(srv.Addr), fastPolling, gosync.WithTolerance(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	if _, err := strict.Now(); !errors.Is(err, ntptime.ErrUnsynchronized) {
		t.Fatalf("Now with a 50ms bound and a 10ms tolerance = %v", err)
	}
	lax, err := gosync.NewNTPTime(gosync.WithServer(srv.Addr), fastPolling, gosync.WithTolerance(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer lax.Close()
	if _, err := lax.Now(); err != nil {
		t.Fatalf("Now with a 1s tolerance = %v", err)
	}
}

func TestNewNTPTimeValidates(t *testing.T) {
	if _, err := gosync.NewNTPTime(); !errors.Is(err, ntptime.ErrNoServers) {
		t.Fatalf("NewNTPTime() = %v, want ErrNoServers", err)
	}
	if _, err := gosync.NewNTPTime(gosync.WithServer("127.0.0.1:1"), gosync.WithTolerance(0)); err == nil {
		t.Fatal("accepted a zero tolerance")
	}
	if _, err := gosync.NewNTPTime(gosync.WithServer("127.0.0.1:1"), gosync.WithStartWait(-1)); err == nil {
		t.Fatal("accepted a negative start wait")
	}
}

func TestLocalTime(t *testing.T) {
	var clock gosync.Time = gosync.LocalTime()
	w1 := time.Now()
	now, err := clock.Now()
	w2 := time.Now()
	if err != nil || now.Before(w1.Round(0)) || now.After(w2.Round(0)) {
		t.Fatalf("LocalTime().Now() = %v, %v; want between %v and %v", now, err, w1, w2)
	}
}
