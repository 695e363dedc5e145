package ntptime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/beevik/ntp"
)

// NTP polling defaults: a start-up burst of DefaultBurst queries
// DefaultBurstInterval apart, then between DefaultMinPoll and
// DefaultMaxPoll per server (RFC 5905's 64 s and 1024 s).
const (
	DefaultMinPoll       = 64 * time.Second
	DefaultMaxPoll       = 1024 * time.Second
	DefaultBurst         = 4
	DefaultBurstInterval = 2 * time.Second
	DefaultNTPTimeout    = 5 * time.Second
	DefaultSamplesKept   = 8
)

// NTPOption configures NewNTP.
type NTPOption func(*ntpOptions)

type ntpOptions struct {
	servers          []string
	minPoll, maxPoll time.Duration
	burst            int
	burstInterval    time.Duration
	timeout          time.Duration
	kept             int
}

// WithServer adds NTP servers ("host", "host:port" or "[v6]:port"; port
// 123 by default). Give several: their intervals are intersected and
// falsetickers dropped, which needs more than half of them to agree.
func WithServer(addrs ...string) NTPOption {
	return func(o *ntpOptions) { o.servers = append(o.servers, addrs...) }
}

// WithPoll sets the range of the adaptive poll interval of each server
// (default 64s to 1024s): it starts at min, doubles after each reply
// consistent with the last, and drops back to min when one is not.
// Intervals are jittered by ±12.5%. Keep the defaults for servers you do
// not run. NewNTP fails unless 0 < min <= max.
func WithPoll(min, max time.Duration) NTPOption {
	return func(o *ntpOptions) { o.minPoll, o.maxPoll = min, max }
}

// WithBurst sets the start-up burst: the first n queries of each server
// are sent interval apart (default 4, 2s), so the clock synchronizes in
// seconds. n = 0 disables the burst. NewNTP fails for n < 0 or, when
// n > 0, interval <= 0.
func WithBurst(n int, interval time.Duration) NTPOption {
	return func(o *ntpOptions) { o.burst, o.burstInterval = n, interval }
}

// WithTimeout sets how long a query waits for its reply (default 5s).
func WithTimeout(d time.Duration) NTPOption { return func(o *ntpOptions) { o.timeout = d } }

// WithSamplesKept sets how many recent samples are kept per server
// (default 8); the one with the smallest error bound now is used.
func WithSamplesKept(n int) NTPOption { return func(o *ntpOptions) { o.kept = n } }

// NTPSource is a Source over NTP servers, queried with
// github.com/beevik/ntp. Each server's replies are validated (a
// kiss-of-death RATE slows it down, DENY or RSTR drops it) and turned into
// intervals per RFC 5905; each server's best recent sample is aged to the
// present, and the servers' intervals are intersected with Marzullo's
// algorithm, dropping falsetickers. It is safe for concurrent use.
type NTPSource struct {
	o    ntpOptions
	dial func(ctx context.Context, addr string) (net.Conn, error)

	round stdsync.Mutex // one round of queries at a time

	mu      stdsync.Mutex // guards the fields below
	servers []*server
	now     time.Duration // Mono at the end of the last round
	env     Env           // of the last round
}

// server is the state of one NTP server.
type server struct {
	addr        string
	samples     []ntpSample // the most recent, oldest first
	reach       uint8       // one bit per poll, 1 for a usable reply (RFC 5905)
	polls       int
	poll        time.Duration // current poll interval
	burst       int           // burst queries left
	next        time.Duration // Mono when the next query is due
	dropped     error         // non-nil once the server refused service
	lastErr     error
	falseticker bool
}

// ntpSample is one reply turned into an interval.
type ntpSample struct {
	mono   time.Duration // local Mono when the reply arrived
	unix   int64         // estimate of true time at mono, Unix ns
	err    time.Duration // error bound at mono
	delay  time.Duration // round-trip delay, server time excluded
	offset time.Duration // unix minus the local system clock at mono
}

// NewNTP returns an NTP source over the servers given with WithServer. It
// does no I/O (the Clock's first synchronization sends the first
// queries). It fails with ErrNoServers if no server was given, and with
// an error naming the option when one is out of range.
func NewNTP(opts ...NTPOption) (*NTPSource, error) {
	o := ntpOptions{
		minPoll: DefaultMinPoll, maxPoll: DefaultMaxPoll,
		burst: DefaultBurst, burstInterval: DefaultBurstInterval,
		timeout: DefaultNTPTimeout, kept: DefaultSamplesKept,
	}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	switch {
	case len(o.servers) == 0:
		return nil, fmt.Errorf("%w: NewNTP needs WithServer", ErrNoServers)
	case o.minPoll <= 0 || o.maxPoll < o.minPoll:
		return nil, fmt.Errorf("ntptime: WithPoll(%v, %v): need 0 < min <= max", o.minPoll, o.maxPoll)
	case o.burst < 0 || (o.burst > 0 && o.burstInterval <= 0):
		return nil, fmt.Errorf("ntptime: WithBurst(%d, %v): need n >= 0 and a positive interval", o.burst, o.burstInterval)
	case o.timeout <= 0:
		return nil, fmt.Errorf("ntptime: WithTimeout(%v): need a positive timeout", o.timeout)
	case o.kept < 1:
		return nil, fmt.Errorf("ntptime: WithSamplesKept(%d): need at least 1", o.kept)
	}
	s := &NTPSource{o: o, dial: dialUDP}
	seen := map[string]string{}
	for _, a := range o.servers {
		key, err := serverKey(a)
		if err != nil {
			return nil, fmt.Errorf("ntptime: WithServer: %w", err)
		}
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("ntptime: WithServer: %q and %q are the same server", prev, a)
		}
		seen[key] = a
		s.servers = append(s.servers, &server{addr: a, poll: o.minPoll, burst: o.burst})
	}
	return s, nil
}

// ctxConn keeps a deadline in the past once ctx has ended, even if the
// NTP client sets its own deadline after the cancellation.
type ctxConn struct {
	net.Conn
	ctx context.Context
}

func (c ctxConn) SetDeadline(t time.Time) error {
	if c.ctx.Err() != nil {
		t = time.Unix(1, 0)
	}
	return c.Conn.SetDeadline(t)
}

// errPanicByte reports a reply that would crash beevik/ntp v1.6.0: it
// converts the poll and precision exponents with a shift by -t, which is
// negative for -128 (found by FuzzNTPReply).
var errPanicByte = errors.New("malformed reply: poll or precision exponent -128")

func (c ctxConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err == nil && n >= 4 && (b[2] == 0x80 || b[3] == 0x80) {
		return 0, errPanicByte
	}
	return n, err
}

func dialUDP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "udp", addr)
}

// Sample queries the servers that are due (all of them at the first call),
// then combines every server's best sample: each is aged to the present,
// and Marzullo's algorithm keeps the hull of the points where more than
// half of the servers (those not dropped) agree. It fails with
// ErrNoServers when every server was dropped, ErrNoSample when no server
// has a usable sample, and ErrNoMajority when no more than half of the
// servers agree (servers that did not answer count as disagreeing).
func (s *NTPSource) Sample(ctx context.Context, env Env) (Sample, error) {
	s.round.Lock()
	defer s.round.Unlock()

	start := env.Clock.Mono()
	s.mu.Lock()
	var due []*server
	for _, sv := range s.servers {
		if sv.dropped == nil && sv.next <= start {
			due = append(due, sv)
		}
	}
	s.mu.Unlock()

	type result struct {
		resp *ntp.Response
		smp  ntpSample
		err  error
		at   time.Duration
	}
	results := make([]result, len(due))
	var wg stdsync.WaitGroup
	for i, sv := range due {
		wg.Go(func() {
			r, smp, err := s.query(ctx, sv.addr, env)
			results[i] = result{r, smp, err, env.Clock.Mono()}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Sample{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sv := range due {
		s.record(sv, results[i].resp, results[i].smp, results[i].err, results[i].at, env)
	}
	now := env.Clock.Mono()
	s.now, s.env = now, env
	return s.combine(now, env)
}

// query sends one NTP query and turns a valid reply into a sample. The
// local times of transmission and receipt are read from env.Clock's
// monotonic clock, so a step of the system clock during the exchange does
// not corrupt the sample.
func (s *NTPSource) query(ctx context.Context, addr string, env Env) (resp *ntp.Response, smp ntpSample, err error) {
	var (
		calls    int
		m1, m4   time.Duration
		wall4    time.Time
		stopDial func() bool
	)
	// A parser panic on bytes from the network must not take the process
	// down: it is this server's failure.
	defer func() {
		if p := recover(); p != nil {
			if stopDial != nil {
				stopDial()
			}
			resp, smp, err = nil, ntpSample{}, fmt.Errorf("reply from %s crashed the NTP parser: %v", addr, p)
		}
	}()
	opt := ntp.QueryOptions{
		Version: 4,
		Timeout: s.o.timeout,
		// Called twice by beevik/ntp: when the query is sent and when the
		// reply is read. Supplying it also turns off kernel timestamps,
		// which are wall-clock readings we could not pair with Mono.
		GetSystemTime: func() time.Time {
			m, w := env.Clock.Mono(), env.Clock.Wall()
			if calls == 0 {
				m1 = m
			} else {
				m4, wall4 = m, w
			}
			calls++
			return w.Round(0).UTC()
		},
		Dialer: func(_, raddr string) (net.Conn, error) {
			c, err := s.dial(ctx, raddr)
			if err != nil {
				return nil, err
			}
			// Cancellation ends the read at once.
			stopDial = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
			return ctxConn{c, ctx}, nil
		},
	}
	resp, err = ntp.QueryWithOptions(addr, opt)
	if stopDial != nil {
		stopDial()
	}
	if ctx.Err() != nil {
		return nil, ntpSample{}, ctx.Err()
	}
	if err != nil {
		return nil, ntpSample{}, err
	}
	if err := resp.Validate(); err != nil {
		if errors.Is(err, ntp.ErrKissOfDeath) {
			return resp, ntpSample{}, fmt.Errorf("%w %q from %s", ErrKissOfDeath, resp.KissCode, addr)
		}
		return resp, ntpSample{}, fmt.Errorf("invalid reply from %s: %w", addr, err)
	}
	if calls != 2 {
		return resp, ntpSample{}, fmt.Errorf("ntptime: internal error: %d local timestamps for one NTP exchange", calls)
	}
	smp, err = sampleFromReply(resp, m1, m4, wall4, env)
	if err != nil {
		return resp, ntpSample{}, fmt.Errorf("reply from %s: %w", addr, err)
	}
	return resp, smp, nil
}

// sampleFromReply turns a validated reply into an interval at m4 (RFC
// 5905). Between the local instants m1 (sent) and m4 (received) the server
// read T2 on receipt and T3 on sending; the network took
// delay = (m4-m1) - (T3-T2), both ways together, so the reply flew for
// between 0 and delay, and true time at m4 lay in [T3, T3+delay] if the
// server's clock was true. Add the server's own distance from UTC
// (rootDelay/2 + rootDispersion, what beevik's RootDistance adds to rtt/2),
// its precision, and the local drift over the exchange.
func sampleFromReply(r *ntp.Response, m1, m4 time.Duration, wall4 time.Time, env Env) (ntpSample, error) {
	t2, t3 := r.Timestamps.ServerRecv, r.Timestamps.ServerXmit
	if r.Precision < 0 || r.Precision > time.Second {
		// beevik/ntp decodes exponents up to 127 with a shift that
		// overflows; no real clock is coarser than a second.
		return ntpSample{}, fmt.Errorf("implausible precision %v", r.Precision)
	}
	if m4 < m1 {
		return ntpSample{}, errors.New("monotonic clock ran backwards")
	}
	delay := (m4 - m1) - t3.Sub(t2)
	if delay < -(r.Precision + time.Microsecond) {
		return ntpSample{}, fmt.Errorf("server spent %v on a %v exchange", t3.Sub(t2), m4-m1)
	}
	delay = max(delay, 0)
	if r.RootDelay < 0 || r.RootDispersion < 0 {
		return ntpSample{}, errors.New("negative root delay or dispersion")
	}
	unix := t3.UnixNano() + int64(delay/2)
	e := delay - delay/2 + r.RootDelay/2 + r.RootDispersion + r.Precision + env.Age(m4-m1)
	return ntpSample{mono: m4, unix: unix, err: e, delay: delay, offset: time.Duration(unix - wall4.UnixNano())}, nil
}

// record updates a server's state after one query: keep the sample, adapt
// the poll interval, or handle a kiss-of-death.
func (s *NTPSource) record(sv *server, resp *ntp.Response, smp ntpSample, err error, at time.Duration, env Env) {
	sv.polls++
	sv.reach <<= 1
	sv.lastErr = err
	grow, reset := false, false
	if err == nil {
		sv.reach |= 1
		if prev, ok := sv.best(at, env); ok {
			if consistent(prev, smp, env) {
				grow = true
			} else {
				env.Logger.Warn("ntptime: NTP server moved outside its last interval; polling faster",
					"server", sv.addr, "offset", smp.offset)
				reset = true
			}
		}
		sv.samples = append(sv.samples, smp)
		if len(sv.samples) > s.o.kept {
			sv.samples = slices.Delete(sv.samples, 0, len(sv.samples)-s.o.kept)
		}
	} else if resp != nil && errors.Is(err, ErrKissOfDeath) {
		switch resp.KissCode {
		case "DENY", "RSTR":
			sv.dropped = err
			sv.samples = nil
			env.Logger.Warn("ntptime: NTP server refused service; dropping it", "server", sv.addr, "code", resp.KissCode)
			return
		case "RATE":
			sv.burst = 0
			sv.poll = min(max(2*sv.poll, s.o.minPoll), s.o.maxPoll)
			sv.next = at + sv.poll
			env.Logger.Warn("ntptime: NTP server asks for a lower rate; backing off", "server", sv.addr, "poll", sv.poll)
			return
		default:
			env.Logger.Warn("ntptime: kiss-of-death from NTP server", "server", sv.addr, "code", resp.KissCode)
		}
	}
	if sv.reach == 0 && sv.polls >= 8 {
		sv.samples = nil // unreachable for 8 polls: its old samples no longer count
	}
	if sv.burst > 0 {
		sv.burst--
		if sv.burst > 0 {
			sv.next = at + s.o.burstInterval
			return
		}
		grow = false // the burst is over: start polling at the minimum
	}
	switch {
	case reset:
		sv.poll = s.o.minPoll
	case grow:
		sv.poll = min(2*sv.poll, s.o.maxPoll)
	}
	sv.next = at + jitter(sv.poll)
}

// consistent reports whether a new sample's interval overlaps the previous
// one's, aged to the new one's instant.
func consistent(prev, cur ntpSample, env Env) bool {
	el := cur.mono - prev.mono
	pc := prev.unix + int64(el)
	pe := prev.err + env.Age(el)
	return pc-int64(pe) <= cur.unix+int64(cur.err) && cur.unix-int64(cur.err) <= pc+int64(pe)
}

// jitter returns d scaled by a random factor in [0.875, 1.125).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.875 + rand.Float64()/4))
}

// best returns the server's sample whose error bound, aged to now, is the
// smallest: the least round-trip delay, older samples being penalized by
// the drift rate as in RFC 5905's clock filter.
func (sv *server) best(now time.Duration, env Env) (ntpSample, bool) {
	var b ntpSample
	var be time.Duration
	found := false
	for _, smp := range sv.samples {
		e := smp.err + env.Age(now-smp.mono)
		if !found || e < be {
			b, be, found = smp, e, true
		}
	}
	return b, found
}

// combine ages every server's best sample to now and intersects them.
// Called with s.mu held.
func (s *NTPSource) combine(now time.Duration, env Env) (Sample, error) {
	var (
		ivs   []interval
		cands []*server
		errs  []error
		live  int
		heard bool // some server answered one of its last 3 polls
	)
	for _, sv := range s.servers {
		sv.falseticker = false
		if sv.dropped != nil {
			errs = append(errs, fmt.Errorf("%s: dropped: %w", sv.addr, sv.dropped))
			continue
		}
		live++
		if sv.lastErr != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sv.addr, sv.lastErr))
		}
		smp, ok := sv.best(now, env)
		if !ok {
			continue
		}
		if sv.reach&0b111 == 0 {
			// Silent for its last 3 polls: it counts against the
			// majority, not for it.
			continue
		}
		heard = true
		el := now - smp.mono
		c := smp.unix + int64(el)
		e := int64(smp.err + env.Age(el))
		ivs = append(ivs, interval{c - e, c + e})
		cands = append(cands, sv)
	}
	if live == 0 {
		return Sample{}, fmt.Errorf("%w: %w", ErrNoServers, errors.Join(errs...))
	}
	if len(ivs) == 0 {
		return Sample{}, fmt.Errorf("%w from %d NTP server(s): %w", ErrNoSample, live, errors.Join(errs...))
	}
	if !heard {
		// The kept samples are still valid, but the Clock can age its own
		// anchor as well: report the loss, so readings say Holdover.
		return Sample{}, fmt.Errorf("%w: no NTP server answered its last 3 polls: %w", ErrNoSample, errors.Join(errs...))
	}
	// More than half of the servers still in service must agree: one
	// server that answers while the others do not could be a falseticker.
	need := live/2 + 1
	sel := marzullo(ivs, need)
	for i, sv := range cands {
		if sel.majority && !sel.truechimer[i] {
			sv.falseticker = true
			env.Logger.Info("ntptime: NTP server is a falseticker", "server", sv.addr)
		}
	}
	if !sel.majority {
		return Sample{}, fmt.Errorf("%w: at most %d of %d server(s) agree (%d answering with a usable sample), %d needed%s",
			ErrNoMajority, sel.count, live, len(ivs), need, causes(errs))
	}
	mid := sel.lo + (sel.hi-sel.lo)/2
	return Sample{Mono: now, Time: time.Unix(0, mid).UTC(), Error: time.Duration(sel.hi - mid)}, nil
}

// Next returns the time until the next server is due: the burst interval
// at start-up, then each server's adaptive poll interval.
func (s *NTPSource) Next() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := time.Duration(-1)
	for _, sv := range s.servers {
		if sv.dropped == nil && (first < 0 || sv.next < first) {
			first = sv.next
		}
	}
	if first < 0 {
		return s.o.maxPoll
	}
	return max(first-s.now, 0)
}

// ServerStatus describes one server after the last round.
type ServerStatus struct {
	Addr        string
	Reach       uint8         // one bit per recent poll, 1 for a usable reply, newest lowest
	Poll        time.Duration // current poll interval
	Samples     int           // samples kept
	Offset      time.Duration // best sample: true time minus the local system clock
	Delay       time.Duration // best sample: round-trip delay
	Error       time.Duration // best sample: error bound when measured
	Falseticker bool          // left out by the last intersection
	Dropped     error         // non-nil once the server refused service (DENY, RSTR)
	LastErr     error         // the last query's error, nil if it succeeded
}

// Servers returns the state of each server, in the order given.
func (s *NTPSource) Servers() []ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServerStatus, len(s.servers))
	for i, sv := range s.servers {
		st := ServerStatus{Addr: sv.addr, Reach: sv.reach, Poll: sv.poll, Samples: len(sv.samples),
			Falseticker: sv.falseticker, Dropped: sv.dropped, LastErr: sv.lastErr}
		if smp, ok := sv.best(s.now, s.env); ok {
			st.Offset, st.Delay, st.Error = smp.offset, smp.delay, smp.err
		}
		out[i] = st
	}
	return out
}

// causes formats the servers' errors for a message, or nothing.
func causes(errs []error) string {
	if len(errs) == 0 {
		return ""
	}
	return ": " + errors.Join(errs...).Error()
}

// serverKey normalises a server address ("host" or "host:port", port 123
// by default) so that one server listed twice is noticed: each server is
// one vote in the majority.
func serverKey(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("empty server address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if strings.ContainsAny(addr, "[]") || strings.Count(addr, ":") == 1 {
			return "", fmt.Errorf("malformed server address %q: %v", addr, err)
		}
		host, port = strings.Trim(addr, "[]"), "123" // no port given
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || host == "" {
		return "", fmt.Errorf("malformed server address %q", addr)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	return strings.ToLower(host) + ":" + strconv.Itoa(n), nil
}
