package event

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// published is one acknowledged publish.
type published struct {
	Key string
	Seq int
	Off Offset
}

// delivery is one handler call, in the global order they happened.
type delivery struct {
	Member string
	Key    string
	Seq    int
	Off    Offset
}

// check judges a history of publishes and deliveries independently of the
// implementation: every published event is delivered at least once, with
// the offset it was published at; nothing unpublished is delivered; and
// per key, publish order is kept with nothing skipped: a delivery of
// sequence s (other than the key's first) comes after some delivery of
// s-1 (redelivery of earlier events after a crash is allowed, jumping
// over an undelivered event is not).
func check(pubs []published, dels []delivery) []string {
	var bad []string
	type ks struct {
		key string
		seq int
	}
	pubAt := map[ks]Offset{}
	first := map[string]int{}
	for _, p := range pubs {
		k := ks{p.Key, p.Seq}
		if _, dup := pubAt[k]; dup {
			bad = append(bad, fmt.Sprintf("%s#%d published twice", p.Key, p.Seq))
		}
		pubAt[k] = p.Off
		if f, ok := first[p.Key]; !ok || p.Seq < f {
			first[p.Key] = p.Seq
		}
	}
	seen := map[ks]bool{}
	for i, d := range dels {
		k := ks{d.Key, d.Seq}
		off, ok := pubAt[k]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("delivery %d: %s#%d was never published", i, d.Key, d.Seq))
			continue
		case off != d.Off:
			bad = append(bad, fmt.Sprintf("delivery %d: %s#%d at offset %v, published at %v", i, d.Key, d.Seq, d.Off, off))
		}
		if d.Seq != first[d.Key] && !seen[ks{d.Key, d.Seq - 1}] {
			bad = append(bad, fmt.Sprintf("delivery %d (%s): %s#%d before any delivery of #%d", i, d.Member, d.Key, d.Seq, d.Seq-1))
		}
		seen[k] = true
	}
	var missing []string
	for k := range pubAt {
		if !seen[k] {
			missing = append(missing, fmt.Sprintf("%s#%d", k.key, k.seq))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		bad = append(bad, fmt.Sprintf("%d published events never delivered: %v", len(missing), missing[:min(len(missing), 10)]))
	}
	return bad
}

// parseRecord parses "member|key|seq|offset" as written by recordDelivery.
func parseRecord(s string) (delivery, error) {
	f := strings.Split(s, "|")
	if len(f) != 4 {
		return delivery{}, fmt.Errorf("bad record %q", s)
	}
	seq, err := strconv.Atoi(f[2])
	if err != nil {
		return delivery{}, err
	}
	off, err := ParseOffset(f[3])
	if err != nil {
		return delivery{}, err
	}
	return delivery{Member: f[0], Key: f[1], Seq: seq, Off: off}, nil
}

// parsePayload splits "<key>:<seq>".
func parsePayload(b []byte) (string, int, error) {
	k, s, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", 0, fmt.Errorf("bad payload %q", b)
	}
	n, err := strconv.Atoi(s)
	return k, n, err
}

func TestChecker(t *testing.T) {
	o := func(n uint64) Offset { return Offset{Ms: 1000, Seq: n} }
	pubs := []published{{"a", 1, o(1)}, {"b", 1, o(2)}, {"a", 2, o(3)}, {"a", 3, o(4)}}
	d := func(key string, seq int, off uint64) delivery { return delivery{"m", key, seq, o(off)} }
	tests := []struct {
		name string
		dels []delivery
		want string // substring of the first complaint; "" for a good history
	}{
		{"in order", []delivery{d("a", 1, 1), d("b", 1, 2), d("a", 2, 3), d("a", 3, 4)}, ""},
		{"redelivery after crash", []delivery{d("a", 1, 1), d("a", 2, 3), d("b", 1, 2), d("a", 2, 3), d("a", 3, 4)}, ""},
		{"lost event", []delivery{d("a", 1, 1), d("a", 2, 3), d("a", 3, 4)}, "never delivered"},
		{"skip", []delivery{d("a", 1, 1), d("b", 1, 2), d("a", 3, 4), d("a", 2, 3)}, "a#3 before any delivery of #2"},
		{"reordered", []delivery{d("a", 2, 3), d("a", 1, 1), d("b", 1, 2), d("a", 3, 4)}, "a#2 before any delivery of #1"},
		{"wrong offset", []delivery{d("a", 1, 1), d("b", 1, 2), d("a", 2, 9), d("a", 3, 4)}, "published at"},
		{"phantom", []delivery{d("a", 1, 1), d("b", 1, 2), d("a", 2, 3), d("a", 3, 4), d("c", 1, 5)}, "never published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := check(pubs, tt.dels)
			if tt.want == "" {
				if len(bad) > 0 {
					t.Fatalf("good history judged bad: %v", bad)
				}
				return
			}
			if len(bad) == 0 || !strings.Contains(bad[0], tt.want) {
				t.Fatalf("want complaint %q, got %v", tt.want, bad)
			}
		})
	}
	t.Run("duplicate publish", func(t *testing.T) {
		bad := check(append(pubs, published{"a", 1, o(9)}), nil)
		if len(bad) == 0 || !strings.Contains(bad[0], "published twice") {
			t.Fatalf("got %v", bad)
		}
	})
}
