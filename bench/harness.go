package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// result is one measured figure.
type result struct {
	value float64 // in unit
	unit  string  // "ops/s", "msgs/s", "µs", ...
	extra string  // free text: p99, allocations, ...
}

func (r result) String() string {
	if r.unit == "" {
		return "-"
	}
	s := fmt.Sprintf("%.4g %s", r.value, r.unit)
	if r.extra != "" {
		s += " (" + r.extra + ")"
	}
	return s
}

// higherIsBetter reports whether a larger value is the better one.
func (r result) higherIsBetter() bool { return strings.HasSuffix(r.unit, "/s") }

// comparison is one line of the report: our figure, the peer's, and the ratio
// ours/peer for throughputs (peer/ours for latencies), so > 1 means we win.
type comparison struct {
	name   string
	ours   result
	peer   result
	target string
}

func (c comparison) ratio() float64 {
	if c.peer.unit == "" || c.ours.value == 0 || c.peer.value == 0 {
		return math.NaN()
	}
	if c.ours.higherIsBetter() {
		return c.ours.value / c.peer.value
	}
	return c.peer.value / c.ours.value
}

func printReport(w io.Writer, cs []comparison) {
	fmt.Fprintf(w, "%-58s %-34s %-34s %8s  %s\n", "comparison", "ours", "peer", "ratio", "target")
	for _, c := range cs {
		r := "-"
		if v := c.ratio(); !math.IsNaN(v) {
			r = fmt.Sprintf("%.2fx", v)
		}
		fmt.Fprintf(w, "%-58s %-34s %-34s %8s  %s\n", c.name, c.ours, c.peer, r, c.target)
	}
}

// throughput runs op repeatedly for d (after a short warm-up) and returns
// operations per second, counting n operations per call.
func throughput(d time.Duration, n int, op func() error) (result, error) {
	warm := time.Now().Add(d / 10)
	for time.Now().Before(warm) {
		if err := op(); err != nil {
			return result{}, err
		}
	}
	start := time.Now()
	calls := 0
	for time.Since(start) < d {
		if err := op(); err != nil {
			return result{}, err
		}
		calls++
	}
	return result{value: float64(calls*n) / time.Since(start).Seconds(), unit: "ops/s"}, nil
}

// percentile returns the p-th percentile (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

// jain returns Jain's fairness index of xs: 1 when all are equal.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// printSpread summarises repeated runs: for each comparison with a ratio,
// the median, the lowest and the highest ratio, and how many runs met a
// ">= N" target. One run's ratio moves by about ±10% on a shared VM; the
// median over several runs is the figure to compare with a target.
func printSpread(w io.Writer, runs [][]comparison) {
	fmt.Fprintf(w, "%-58s %8s %8s %8s  %-8s %s\n", "ratio over runs", "median", "min", "max", "met", "target")
	for i, c := range runs[0] {
		var rs []float64
		met := 0
		want, hasTarget := targetRatio(c.target)
		for _, run := range runs {
			if i >= len(run) || run[i].name != c.name {
				continue
			}
			r := run[i].ratio()
			if math.IsNaN(r) {
				continue
			}
			rs = append(rs, r)
			if hasTarget && r >= want {
				met++
			}
		}
		if len(rs) == 0 {
			continue
		}
		slices.Sort(rs)
		med := rs[len(rs)/2]
		if len(rs)%2 == 0 {
			med = (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
		}
		m := "-"
		if hasTarget {
			m = fmt.Sprintf("%d/%d", met, len(rs))
		}
		fmt.Fprintf(w, "%-58s %7.2fx %7.2fx %7.2fx  %-8s %s\n", c.name, med, rs[0], rs[len(rs)-1], m, c.target)
	}
}

// targetRatio parses a target of the form ">= 1.0x" (anything after the
// number is ignored).
func targetRatio(t string) (float64, bool) {
	rest, ok := strings.CutPrefix(t, ">= ")
	if !ok {
		return 0, false
	}
	var v float64
	if _, err := fmt.Sscanf(rest, "%gx", &v); err != nil {
		return 0, false
	}
	return v, true
}
