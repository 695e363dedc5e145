package ntptime

import (
	"cmp"
	"slices"
)

// interval is a closed interval of Unix nanoseconds.
type interval struct{ lo, hi int64 }

// selection is the outcome of Marzullo's algorithm.
type selection struct {
	lo, hi     int64  // hull of the points covered by at least need intervals
	majority   bool   // some point is covered by at least need intervals
	count      int    // the most intervals covering one point
	truechimer []bool // interval i covers a point that need intervals cover
}

// marzullo runs Marzullo's algorithm for the largest number of faults it
// can mask among n sources: fewer than half, so need = n/2 + 1 agreeing
// intervals (n may exceed len(iv): sources without an interval count as
// possibly faulty). If need intervals contain the true time, every point
// they all cover is covered by need intervals, so the true time lies in the
// hull of the points covered by need intervals. (A tighter answer, such as
// the region covered by the most intervals, can be wrong: a falseticker
// that overlaps every truechimer narrows it away from the truth.) An
// interval that covers none of those points is a falseticker. Touching
// intervals overlap. In each interval lo <= hi.
func marzullo(iv []interval, need int) selection {
	type edge struct {
		x     int64
		start int // 1 for a start, 0 for an end: starts sort first at equal x
	}
	edges := make([]edge, 0, 2*len(iv))
	for _, v := range iv {
		edges = append(edges, edge{v.lo, 1}, edge{v.hi, 0})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := cmp.Compare(a.x, b.x); c != 0 {
			return c
		}
		return cmp.Compare(b.start, a.start)
	})
	s := selection{truechimer: make([]bool, len(iv))}
	var regions []interval // maximal runs covered by at least need intervals
	n := 0
	for _, e := range edges {
		if e.start == 1 {
			n++
			s.count = max(s.count, n)
			if n == need {
				regions = append(regions, interval{lo: e.x})
			}
			continue
		}
		if n == need {
			regions[len(regions)-1].hi = e.x
		}
		n--
	}
	if len(regions) == 0 {
		return s
	}
	s.majority = true
	s.lo, s.hi = regions[0].lo, regions[len(regions)-1].hi
	for i, v := range iv {
		for _, r := range regions {
			if v.lo <= r.hi && v.hi >= r.lo {
				s.truechimer[i] = true
				break
			}
		}
	}
	return s
}
