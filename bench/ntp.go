package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"github.com/go-sync/sync/internal/ntptest"
	"github.com/go-sync/sync/ntptime"
)

// ntpTimes compares a reading of ntptime.Clock (an atomic anchor plus the
// monotonic clock: no I/O) with beevik/ntp's Time (one NTP query per
// call), both against a chronyd on loopback that the benchmark starts
// (ANCHORS.md section 6). Without chronyd it prints a skip line.
func ntpTimes(e *env) ([]comparison, error) {
	srv, err := ntptest.Start(ntptest.Config{})
	if errors.Is(err, ntptest.ErrNoChrony) {
		fmt.Printf("ntp: skipped: %v\n\n", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer srv.Stop(false)

	src, err := ntptime.NewNTP(ntptime.WithServer(srv.Addr))
	if err != nil {
		return nil, err
	}
	clk, err := ntptime.New(src)
	if err != nil {
		return nil, err
	}
	defer clk.Close()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := clk.WaitSynchronized(ctx); err != nil {
		return nil, fmt.Errorf("ntptime: first synchronization with %s: %w", srv.Addr, err)
	}

	var sink ntptime.Reading
	ours := perCall(e.d, func() error { sink = clk.Now(); return nil })
	allocs := testing.AllocsPerRun(10000, func() { sink = clk.Now() })
	ours.extra = fmt.Sprintf("%.0f allocs/op, bound ±%v", allocs, sink.Bound().Round(time.Microsecond))

	peer := perCall(e.d, func() error {
		_, err := ntp.Time(srv.Addr)
		return err
	})
	if peer.unit == "" {
		return nil, fmt.Errorf("beevik/ntp Time against %s failed", srv.Addr)
	}
	return []comparison{{
		name:   "time: ntptime Clock.Now vs beevik ntp.Time (chronyd loopback)",
		ours:   ours,
		peer:   peer,
		target: "<= 100 ns/op, 0 allocs",
	}}, nil
}

// perCall returns the mean latency of op in ns/op, measured for about d
// after a short warm-up, in batches so the clock reads do not dominate.
// It returns an empty result if op fails.
func perCall(d time.Duration, op func() error) result {
	warm := time.Now().Add(d / 10)
	for time.Now().Before(warm) {
		if op() != nil {
			return result{}
		}
	}
	calls, batch := 0, 1
	start := time.Now()
	for time.Since(start) < d {
		for range batch {
			if op() != nil {
				return result{}
			}
		}
		calls += batch
		if batch < 1<<16 {
			batch *= 2
		}
	}
	return result{value: float64(time.Since(start).Nanoseconds()) / float64(calls), unit: "ns/op"}
}
