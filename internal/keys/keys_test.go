package keys

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSlotKnownValues(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := []struct {
		key  string
		slot int
	}{
		{"123456789", 0x31C3 % SlotCount},
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", Slot("foo{}{bar}")}, // empty tag: whole key
		{"foo{{bar}}zap", Slot("{bar")},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.slot {
			t.Errorf("Slot(%q) = %d, want %d", tt.key, got, tt.slot)
		}
	}
	if HashTag("foo{}{bar}") != "foo{}{bar}" {
		t.Errorf("empty tag must hash the whole key")
	}
}

func TestEveryKeyOfAResourceSharesASlot(t *testing.T) {
	s := Must("app")
	names := []string{"a", "orders", "a}b", "{x}", "}", "{", "a:b:c", "ünï", "with space", "}}{{", `\`, `\}`, `}\`}
	for _, n := range names {
		base := Slot(s.LockKey(n))
		for _, k := range []string{s.LockFence(n), s.LockChannel(n), s.Key("lock", n, "x", "y")} {
			if Slot(k) != base {
				t.Errorf("name %q: key %q in slot %d, lock key in %d", n, k, Slot(k), base)
			}
		}
		if got, ok := s.Resource("lock", s.LockFence(n)); !ok || got != n {
			t.Errorf("Resource(%q) = %q, %v", s.LockFence(n), got, ok)
		}
	}
}

func TestDifferentNamesSpreadOverSlots(t *testing.T) {
	s := Must("sync")
	seen := map[int]bool{}
	for i := range 64 {
		seen[Slot(s.Key("event", "topic", string(rune('a'+i%26)), string(rune('0'+i/26))))] = true
	}
	if len(seen) != 1 {
		t.Fatalf("parts after the tag must not change the slot; saw %d slots", len(seen))
	}
	seen = map[int]bool{}
	for i := range 64 {
		seen[Slot(s.Key("event", "topic/"+string(rune('a'+i%26))+string(rune('0'+i/26))))] = true
	}
	if len(seen) < 32 {
		t.Fatalf("64 resources landed in only %d slots", len(seen))
	}
}

func TestPrefixValidation(t *testing.T) {
	for _, p := range []string{"", "a{b", "a}", "a b", "x\n", "*", "s?nc", "[st]ync", `a\b`} {
		if _, err := New(p); !errors.Is(err, ErrBadPrefix) {
			t.Errorf("New(%q) error = %v, want ErrBadPrefix", p, err)
		}
	}
	s, err := New("svc:prod")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.LockKey("job"), "svc:prod:lock:{job}"; got != want {
		t.Errorf("LockKey = %q, want %q", got, want)
	}
	if got, want := s.Pattern("lock"), "svc:prod:lock:{*"; got != want {
		t.Errorf("Pattern = %q, want %q", got, want)
	}
}

func TestDistinctNamesDistinctKeys(t *testing.T) {
	s := Must("p")
	names := []string{"}", `\}`, `\\}`, `\`, "a", `\a`, "}a", "{", "{}"}
	seen := map[string]string{}
	for _, n := range names {
		k := s.LockKey(n)
		if prev, dup := seen[k]; dup {
			t.Fatalf("names %q and %q share key %q", prev, n, k)
		}
		seen[k] = n
		if HashTag(k) == k {
			t.Errorf("name %q: key %q has an empty hash tag", n, k)
		}
	}
}

func TestKeyPanicsOnEmptyResource(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Key with an empty resource did not panic")
		}
	}()
	Must("p").Key("lock", "")
}

func TestResourceRejectsForeignKeys(t *testing.T) {
	s := Must("p")
	for _, k := range []string{"p:lock:{}", `p:lock:{\abc}`, "q:lock:{a}", "p:lock:a"} {
		if r, ok := s.Resource("lock", k); ok {
			t.Errorf("Resource(%q) = %q, true; want false", k, r)
		}
	}
}

// A name with "}:" cannot forge another resource's key: queue "q}:unique:x"
// and queue "q"'s part "unique:x}:stream" build different keys.
func TestNoCollisionThroughBraces(t *testing.T) {
	s := Must("sync")
	a := s.Key("task", "q}:unique:x", "stream")
	b := s.Key("task", "q", "unique", "x}:stream")
	if a == b {
		t.Fatalf("two resources share key %q", a)
	}
	if r, ok := s.Resource("task", a); !ok || r != "q}:unique:x" {
		t.Fatalf("Resource(%q) = %q %v", a, r, ok)
	}
	if r, ok := s.Resource("task", b); !ok || r != "q" {
		t.Fatalf("Resource(%q) = %q %v", b, r, ok)
	}
}
