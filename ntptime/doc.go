// Package ntptime provides synchronized time with error bounds, in the
// spirit of Spanner's TrueTime and AWS ClockBound: a reading is an
// interval [Earliest, Latest] with a best estimate and a status
// (synchronized, holdover, unsynchronized), with After/Before helpers and
// a commit wait; and a hybrid logical clock on top of it.
//
// A Clock takes its time from a Source: NTP servers (NewNTP, over
// github.com/beevik/ntp), the clock of a Redis server (NewRedis, the TIME
// command: a shared reference for services that share only a Redis), or
// the local clock with an assumed bound (NewLocal). An HLC (NewHLC) runs
// on any of them.
//
// # Guarantees
//
// If the assumptions below hold, the true time lies in [Earliest, Latest]
// of every Reading whose Status is not Unsynchronized before the first
// synchronization (that one is unbounded).
//
// Clock.Now does no I/O, takes no lock and does not allocate (about 55 ns,
// as much as time.Now). Each synchronization publishes an anchor (a
// monotonic instant, the true time then and the error bound then) with one
// atomic store; Now adds the monotonic time elapsed since the anchor and
// widens the bound by the drift rate (default 50 ppm) times that time.
// Stepping the system clock does not move readings: only the monotonic
// clock is read between synchronizations. A new sample is intersected
// with the held interval, so Earliest never decreases while the sources
// stay consistent; a sample disjoint from it (one of them was wrong) is
// taken alone and logged.
//
// Status is Synchronized after a successful synchronization, Holdover
// (free-running) when the last one failed or none has completed for twice
// the poll interval plus one second (the bound keeps widening at the drift
// rate), and
// Unsynchronized before the first one or once the bound passes the
// tolerance (WithMaxError, default 1s). CommitWait(ctx, t) returns once t
// is surely past, as Spanner's commit wait does.
//
// NTP: each reply is validated (beevik's Validate: stratum, leap,
// freshness, root distance; kiss-of-death codes: RATE doubles the server's
// poll interval and ends its burst, DENY and RSTR drop the server for
// good) and turned into an interval per RFC 5905. From the local
// monotonic instants m1 (query sent) and m4 (reply read) and the server's
// receive and transmit times T2 and T3, the network took
// delay = (m4-m1) - (T3-T2) both ways together, so at m4 the server's
// clock read between T3 and T3+delay; the bound adds the server's root
// delay/2 + root dispersion (beevik's RootDistance is that plus rtt/2),
// its precision, and the drift over the exchange. Using the monotonic
// clock for m1 and m4 means a step of the system clock during the
// exchange cannot corrupt a sample; a reply claiming more server time
// than the exchange took is rejected. Per server the last 8 samples are
// kept and the one whose bound, aged to now, is smallest is used (the
// least round-trip delay, older samples penalized by the drift, as RFC
// 5905's clock filter does). The servers' intervals are intersected with
// Marzullo's algorithm tuned to mask any minority of falsetickers: the
// result is the hull of the points covered by more than half of the
// servers in service (those not dropped; a server that does not answer
// counts against the majority), and a server whose interval covers none of
// them is a falseticker. With no such majority the source fails and the
// clock holds over. Polling is polite: a burst of 4 queries 2s apart at
// start, then an interval per server that starts at 64s and doubles after
// each reply consistent with the last up to 1024s, back to 64s when one
// is not, jittered by ±12.5%; lost replies change nothing.
//
// Redis: TIME is read a few times, and the round trip with the least
// round-trip time is used: at its end Redis's clock read between T and
// T+rtt+1µs. The interval bounds Redis's clock, not UTC, unless
// WithRedisError adds how far Redis's clock may be from UTC.
//
// HLC: timestamps pack 48 bits of milliseconds since the Unix epoch and a
// 16-bit logical counter into a uint64 that compares in causal order: Now
// returns a timestamp greater than all before; Update(remote) one greater
// than remote too; a remote timestamp more than the max offset (default
// 500ms) ahead of the physical clock is rejected with an *OffsetError and
// changes nothing; a timestamp's physical part is at least the physical
// reading and at most the largest one seen (locally or in an accepted
// remote timestamp), plus 1ms per 65536 timestamps issued in one
// millisecond (the counter carries).
//
// # Assumptions (read these before relying on the bounds)
//
//   - The local monotonic clock's rate is off by at most the drift rate.
//     Go's monotonic clock is CLOCK_MONOTONIC, which Linux slews together
//     with the system clock: while an NTP daemon corrects a large offset by
//     slewing (chronyd slews up to 83 ms/s by default, ntpd 500 ppm), the
//     monotonic rate is off by that much. Set WithDriftPPM accordingly, or
//     have the daemon step large offsets.
//   - CLOCK_MONOTONIC stops while the machine is suspended; a VM paused or
//     live-migrated may also lose time. Readings then lag the true time by
//     the lost time, beyond the bound, until the next synchronization. A
//     paused process (SIGSTOP, a GC pause) is fine: it reads the clock when
//     it resumes.
//   - NTP: more than half of the servers in service are truechimers: their
//     clocks are within their reported root distance of UTC, and they stamp
//     receipt and transmission between our query and their reply.
//   - Redis: the bound is relative to Redis's clock; on a Redis Cluster the
//     nodes' clocks must agree to within WithRedisError.
//   - Local: the system clock is within the assumed bound of UTC.
//
// # Keys
//
// None: the Redis source only runs TIME.
package ntptime
