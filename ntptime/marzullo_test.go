package ntptime

import (
	"slices"
	"testing"
)

func TestMarzullo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		iv       []interval
		lo, hi   int64
		count    int
		truth    []bool
		majority bool
	}{
		{"one", []interval{{5, 9}}, 5, 9, 1, []bool{true}, true},
		{"nested: hull of the pairwise overlaps", []interval{{0, 10}, {2, 8}, {4, 6}}, 2, 8, 3, []bool{true, true, true}, true},
		{"touching", []interval{{0, 5}, {5, 9}}, 5, 5, 2, []bool{true, true}, true},
		{"falseticker", []interval{{8, 12}, {11, 13}, {10, 12}, {60, 61}}, 11, 12, 3, []bool{true, true, true, false}, true},
		{"two disagree", []interval{{0, 1}, {5, 6}}, 0, 0, 1, []bool{false, false}, false},
		{"two regions share a wide interval", []interval{{0, 10}, {1, 2}, {8, 9}}, 1, 9, 2, []bool{true, true, true}, true},
		{"no majority of four", []interval{{0, 2}, {1, 3}, {10, 12}, {11, 13}}, 0, 0, 2, []bool{false, false, false, false}, false},
		{"majority of five", []interval{{0, 4}, {1, 5}, {2, 6}, {50, 51}, {-40, -39}}, 2, 4, 3, []bool{true, true, true, false, false}, true},
		{"falseticker overlapping all truechimers", []interval{{923, 1016}, {957, 1072}, {926, 1022}, {869, 959}}, 926, 1016, 4, []bool{true, true, true, true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := marzullo(tc.iv, len(tc.iv)/2+1)
			if s.lo != tc.lo || s.hi != tc.hi || s.count != tc.count || !slices.Equal(s.truechimer, tc.truth) || s.majority != tc.majority {
				t.Fatalf("got [%d, %d] count %d truechimers %v majority %v; want [%d, %d] count %d truechimers %v majority %v",
					s.lo, s.hi, s.count, s.truechimer, s.majority, tc.lo, tc.hi, tc.count, tc.truth, tc.majority)
			}
		})
	}
}

// TestMarzulloContainsTruth checks the guarantee on many random cases: if
// more than half of the intervals contain the truth, so does the result.
func TestMarzulloContainsTruth(t *testing.T) {
	seed := uint64(1)
	rnd := func(n int64) int64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int64(seed>>33) % n
	}
	for i := range 20000 {
		n := 1 + int(rnd(7))
		const truth = 1000
		good := n/2 + 1
		iv := make([]interval, n)
		for j := range iv {
			if j < good {
				iv[j] = interval{truth - rnd(100), truth + rnd(100)}
			} else {
				c := rnd(3000)
				e := rnd(200)
				iv[j] = interval{c - e, c + e}
			}
		}
		s := marzullo(iv, len(iv)/2+1)
		if !s.majority {
			t.Fatalf("case %d: %v: no majority although %d of %d contain the truth", i, iv, good, n)
		}
		if s.lo > truth || s.hi < truth {
			t.Fatalf("case %d: %v: result [%d, %d] lost the truth", i, iv, s.lo, s.hi)
		}
		for j := range good {
			if !s.truechimer[j] {
				t.Fatalf("case %d: %v: correct interval %d called a falseticker", i, iv, j)
			}
		}
	}
}
