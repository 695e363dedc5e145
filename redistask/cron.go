package redistask

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a periodic task is due. Next returns the first tick
// strictly after t. Ticks are pure functions of the schedule (not of when
// a scheduler started), so every replica computes the same ticks.
type Schedule interface {
	Next(t time.Time) time.Time
}

// ParseSchedule parses "@every <duration>" (ticks at multiples of the
// duration since the Unix epoch), "@hourly", "@daily", or a cron spec with
// 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
// first). Fields take *, lists (1,5), ranges (1-5) and steps (*/15, 1-30/5);
// day-of-week 0 or 7 is Sunday. Cron specs are read in UTC. Unlike
// classic cron, day-of-month and day-of-week must both match when both are
// restricted ("0 0 13 * 5" is Friday the 13th). A spec that never fires
// is an error.
func ParseSchedule(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case strings.HasPrefix(spec, "@every "):
		d, err := time.ParseDuration(strings.TrimSpace(spec[len("@every "):]))
		if err != nil || d < time.Millisecond {
			return nil, fmt.Errorf("%w: schedule %q: need a duration of at least 1ms", ErrBadOption, spec)
		}
		return every(d), nil
	case spec == "@hourly":
		spec = "0 * * * *"
	case spec == "@daily":
		spec = "0 0 * * *"
	}
	f := strings.Fields(spec)
	if len(f) == 5 {
		f = append([]string{"0"}, f...)
	}
	if len(f) != 6 {
		return nil, fmt.Errorf("%w: schedule %q: want 5 or 6 fields", ErrBadOption, spec)
	}
	limits := [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	var c cron
	for i, field := range f {
		bits, err := parseField(field, limits[i][0], limits[i][1])
		if err != nil {
			return nil, fmt.Errorf("%w: schedule %q: %v", ErrBadOption, spec, err)
		}
		c[i] = bits
	}
	if c[5]&(1<<7) != 0 {
		c[5] |= 1 // 7 is Sunday too
	}
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("%w: schedule %q never fires (day-of-month and month never meet)", ErrBadOption, spec)
	}
	return c, nil
}

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d)
}

// cron holds one bit set per field: second, minute, hour, dom, month, dow.
type cron [6]uint64

func parseField(s string, lo, hi int) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(s, ",") {
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad step %q", part)
			}
			step = n
		}
		a, b := lo, hi
		if rng != "*" {
			x, y, isRange := strings.Cut(rng, "-")
			var err error
			if a, err = strconv.Atoi(x); err != nil {
				return 0, fmt.Errorf("bad value %q", part)
			}
			b = a
			if isRange {
				if b, err = strconv.Atoi(y); err != nil {
					return 0, fmt.Errorf("bad range %q", part)
				}
			} else if hasStep {
				b = hi
			}
		}
		if a < lo || b > hi || a > b {
			return 0, fmt.Errorf("%q out of range %d-%d", part, lo, hi)
		}
		for v := a; v <= b; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

func (c cron) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case c[4]&(1<<int(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case c[3]&(1<<t.Day()) == 0 || c[5]&(1<<int(t.Weekday())) == 0:
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case c[2]&(1<<t.Hour()) == 0:
			t = t.Truncate(time.Hour).Add(time.Hour)
		case c[1]&(1<<t.Minute()) == 0:
			t = t.Truncate(time.Minute).Add(time.Minute)
		case c[0]&(1<<t.Second()) == 0:
			t = t.Add(time.Second)
		default:
			return t
		}
	}
	return time.Time{} // never (e.g. February 30th)
}
