package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sync/sync/redistask"
)

// report is what the showcase measured and checked.
type report struct {
	Elapsed time.Duration

	Killed     string        // the leader killed
	KilledTerm uint64        // its term
	NewLeader  string        // the first leader after the kill
	NewTerm    uint64        // its term
	KilledAt   time.Duration // since the start
	LeaseLeft  time.Duration // of its lease, at the kill
	Failover   time.Duration // from the kill to the new leader's election

	Pushed, Done int   // periodic tasks enqueued (ticks claimed in Redis), and done
	Runs         int64 // handler runs (retries and re-runs included)
	Twice        int   // tasks whose handler succeeded more than once
	InFlight     int64 // tasks the killed node held
	Reclaim      time.Duration
	P50, P90     time.Duration // latency from tick to done
	P99, Max     time.Duration

	Locks, Writes, Rejected int64 // locks granted, fenced writes accepted and rejected
	Ledger                  map[string]int
	LostUpdates             int // accounts whose balance is not their accepted writes

	Published, Consumed, Redelivered int
	OutOfOrder                       int // events consumed out of their key's offset order
	Skipped                          int // accounts whose consumed sequence is not their published one
	Stale                            int // events whose token is not above their key's previous one
	Takeovers                        int // partitions of the killed node taken over

	Queue redistask.Stats
}

// finish reads the final state, prints the summary and checks it.
func (d *demo) finish(ctx context.Context) (*report, error) {
	var failures []string
	failf := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	st, err := d.inspector.Stats(ctx, taskQueue)
	if err != nil {
		return nil, err
	}
	ledger := map[string]int{}
	for _, a := range d.accounts {
		v, _, err := d.store.Read(ctx, a)
		if err != nil {
			return nil, err
		}
		ledger[a], _ = strconv.Atoi(v)
	}

	// Every tick of the run, counted again; and which of the ticks done
	// were enqueued (all, unless a handler ran a task never enqueued).
	pushed, err := d.ticks.total(ctx, d.srv.client, time.Now())
	if err != nil {
		return nil, err
	}

	d.mu.Lock()
	r := &report{Elapsed: d.con.elapsed(), KilledTerm: d.killTerm, NewTerm: d.nextTerm, Failover: d.failover,
		Pushed: pushed, Done: len(d.done), Twice: d.extra, Runs: d.runs.Load(), InFlight: d.inFlight, Reclaim: d.reclaim,
		Locks: d.locks.Load(), Rejected: d.rejected.Load(), Ledger: ledger,
		Published: int(d.published.Load()), Consumed: d.consumed, Redelivered: d.redelivered, OutOfOrder: d.outOfOrder, Stale: d.stale,
		Takeovers: d.takeovers, Queue: st}
	if d.killed != nil {
		r.Killed, r.KilledAt, r.LeaseLeft = d.killed.id, d.killedAt.Sub(d.con.start), d.leaseLeft
	}
	if d.next != nil {
		r.NewLeader = d.next.id
	}
	if d.err != nil {
		failf("%v", d.err)
	}
	var lat []time.Duration
	var ids []string
	for id, l := range d.done {
		lat = append(lat, l)
		ids = append(ids, id)
	}
	var balances []string
	for _, a := range d.accounts {
		r.Writes += d.writes[a]
		balances = append(balances, fmt.Sprintf("%s %d", a, ledger[a]))
		if int64(ledger[a]) != d.writes[a] {
			r.LostUpdates++
			failf("%s: balance %d, but %d writes were accepted", a, ledger[a], d.writes[a])
		}
	}
	firstBad := d.firstBad
	for _, a := range d.accounts {
		pubs := slices.Clone(d.pubs[a])
		slices.SortFunc(pubs, func(x, y published) int {
			switch {
			case x.offset.Less(y.offset):
				return -1
			case y.offset.Less(x.offset):
				return 1
			}
			return 0
		})
		want := make([]string, len(pubs))
		for i, p := range pubs {
			want[i] = p.id
		}
		if got := d.order[a]; !slices.Equal(want, got) {
			r.Skipped++
			i := 0
			for i < len(want) && i < len(got) && want[i] == got[i] {
				i++
			}
			failf("%s: %d events published, %d consumed, in the same order up to #%d", a, len(want), len(got), i)
		}
	}
	d.mu.Unlock()
	enqueued, err := d.ticks.enqueued(ctx, d.srv.client, ids)
	if err != nil {
		return nil, err
	}
	slices.Sort(lat)
	r.P50, r.P90, r.P99, r.Max = pct(lat, 50), pct(lat, 90), pct(lat, 99), pct(lat, 100)

	switch {
	case r.Killed == "":
		failf("no leader was killed")
	case r.NewLeader == "":
		failf("no leader was elected after %s was killed", r.Killed)
	case r.NewTerm <= r.KilledTerm:
		failf("the new leader's term %d is not above the killed leader's %d", r.NewTerm, r.KilledTerm)
	}
	if r.Pushed == 0 {
		failf("no periodic task was enqueued")
	}
	notDone := r.Pushed - enqueued
	if r.Done != enqueued || notDone != 0 {
		failf("%d tasks enqueued, %d done, of which %d were enqueued", r.Pushed, r.Done, enqueued)
	}
	if r.Rejected < 1 {
		failf("no stale write was rejected")
	}
	if r.OutOfOrder > 0 {
		failf("%d events out of per-key order, first: %s", r.OutOfOrder, firstBad)
	}
	if r.Consumed != r.Published {
		failf("%d events published, %d consumed", r.Published, r.Consumed)
	}
	if st.Length != 0 || st.Pending != 0 || st.Retry != 0 || st.Dead != 0 {
		failf("queue not empty: %+v", st)
	}

	c := d.cfg
	runs := fmt.Sprintf("         %d handler runs, with the stalled holder's retry; the killed node held no task", r.Runs)
	if r.InFlight > 0 {
		runs = fmt.Sprintf("         %d handler runs, with the stalled holder's retry and the %s of the killed node (reclaimed after %v)",
			r.Runs, plural(int(r.InFlight), "in-flight task"), r.Reclaim.Round(10*time.Millisecond))
	}
	if r.Twice > 0 {
		runs += fmt.Sprintf(";\n         %s finished twice (at least once: the killed node finished, but could not acknowledge)", plural(r.Twice, "task"))
	}
	staleNote := "every account's events carry increasing lock tokens"
	if r.Stale > 0 {
		staleNote = fmt.Sprintf("%s published by a holder that stalled past its lock's TTL before publishing (a consumer drops them by token)",
			plural(r.Stale, "event"))
	}
	slowest := ""
	if r.InFlight > 0 {
		slowest = fmt.Sprintf(" (the killed node's tasks waited for the reclaim, %v)", r.Reclaim.Round(10*time.Millisecond))
	}
	lines := []string{
		"",
		fmt.Sprintf("== summary (%v) ==", r.Elapsed.Round(10*time.Millisecond)),
		fmt.Sprintf("leader   %s led with term %d until killed at %v; %s was elected with term %d %v later",
			r.Killed, r.KilledTerm, r.KilledAt.Round(10*time.Millisecond), r.NewLeader, r.NewTerm, r.Failover.Round(time.Millisecond)),
		fmt.Sprintf("         (failover: the rest of the dead leader's lease, %v of %v, plus the election; ticks due meanwhile were skipped)",
			r.LeaseLeft.Round(time.Millisecond), c.lease),
		fmt.Sprintf("tasks    %d enqueued by the leaders' Schedulers (%d periodic tasks %s), %d done, %d not done",
			r.Pushed, len(d.periodic), c.spec(), r.Done, notDone),
		runs,
		fmt.Sprintf("latency  tick to done: p50 %v, p90 %v, p99 %v, max %v%s",
			round(r.P50), round(r.P90), round(r.P99), round(r.Max), slowest),
		fmt.Sprintf("locks    %d granted; fenced writes: %d accepted, %d rejected (stale token)", r.Locks, r.Writes, r.Rejected),
		fmt.Sprintf("ledger   %s: each balance equals its accepted writes (lost updates: %d)", strings.Join(balances, ", "), r.LostUpdates),
		fmt.Sprintf("events   %d published, %d consumed, out of per-key order: %d, skipped: %d; %d redelivered (at least once)",
			r.Published, r.Consumed, r.OutOfOrder, r.Skipped, r.Redelivered),
		fmt.Sprintf("         tokens: %s", staleNote),
		fmt.Sprintf("group    %s of the killed node taken over after its lease (%v)", plural(r.Takeovers, "partition"), c.lease),
		fmt.Sprintf("queue    length %d, pending %d, retry %d, dead %d", st.Length, st.Pending, st.Retry, st.Dead),
	}
	if len(failures) == 0 {
		lines = append(lines, "result   every check passed")
	} else {
		lines = append(lines, "result   FAILED: "+strings.Join(failures, "; "))
	}
	for _, l := range lines {
		d.con.println(l)
	}
	if len(failures) > 0 {
		return r, errors.New(strings.Join(failures, "; "))
	}
	return r, nil
}

// pct returns the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

// round keeps three significant digits or so.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
