// Package keys builds every Redis key and channel name Go Sync uses, in one
// place, so that the layout is documented once and every key a script
// touches shares one Redis Cluster hash slot.
//
// Layout: <prefix>:<kind>:{<resource>}[:<part>]. The prefix and kind never
// contain braces, so the first "{" of a key is always the one before the
// resource name; every key of one resource therefore hashes on the same tag,
// whatever bytes the resource name holds (Redis ends the tag at the first "}"
// after the first "{", which is the same position for every key of the
// resource). Every '}' and '\\' of a name is written with a leading '\\', so
// the tag is never empty (an empty tag would make Redis hash the whole key)
// and the name always ends at the first unescaped '}': distinct names stay
// distinct keys whatever follows them. An empty resource name is rejected
// by the packages before a key is built.
package keys

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the prefix used when the caller sets none.
const DefaultPrefix = "sync"

// ErrBadPrefix reports a prefix that cannot be used.
var ErrBadPrefix = errors.New("keys: invalid prefix")

// Space builds keys under one prefix. The zero value is not usable; use New.
type Space struct {
	prefix string
}

// New returns a Space for prefix. A prefix must be non-empty and must not
// contain '{', '}' (a brace would move the hash tag), glob characters
// ('*', '?', '[', ']', '\\': SCAN patterns of one prefix would match
// another's keys) or whitespace.
func New(prefix string) (Space, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return Space{}, err
	}
	return Space{prefix: prefix}, nil
}

// Must is New that panics on error, for prefixes fixed at compile time.
func Must(prefix string) Space {
	s, err := New(prefix)
	if err != nil {
		panic(err)
	}
	return s
}

// ValidatePrefix reports whether prefix can be used by New.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return fmt.Errorf("%w: empty", ErrBadPrefix)
	}
	if strings.ContainsAny(prefix, "{} \t\r\n*?[]\\") {
		return fmt.Errorf("%w: %q contains a brace, a glob character or whitespace", ErrBadPrefix, prefix)
	}
	return nil
}

// Prefix returns the prefix of s.
func (s Space) Prefix() string { return s.prefix }

// Key returns <prefix>:<kind>:{<resource>} followed by ":<part>" for each
// part, with '}' and '\\' in the resource escaped by a backslash, so the
// resource always ends at the first unescaped '}': two different
// resources never build the same key, whatever their parts. It panics on
// an empty resource: callers validate names first, and an empty hash tag
// would scatter a resource's keys over slots.
func (s Space) Key(kind, resource string, parts ...string) string {
	if resource == "" {
		panic("keys: empty resource name")
	}
	n := len(s.prefix) + len(kind) + 2*len(resource) + 4
	for _, p := range parts {
		n += len(p) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(s.prefix)
	b.WriteByte(':')
	b.WriteString(kind)
	b.WriteString(":{")
	for i := 0; i < len(resource); i++ {
		if c := resource[i]; c == '}' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(resource[i])
	}
	b.WriteByte('}')
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Pattern returns a SCAN/PSUBSCRIBE pattern matching every key of kind
// under the prefix: <prefix>:<kind>:{*. The brace keeps the pattern from
// matching the keys of a longer prefix such as <prefix>:<kind>.
func (s Space) Pattern(kind string) string {
	return s.prefix + ":" + kind + ":{*"
}

// Resource extracts the resource name from a key built by Key for kind, or
// reports false if key is not such a key.
func (s Space) Resource(kind, key string) (string, bool) {
	head := s.prefix + ":" + kind + ":{"
	if !strings.HasPrefix(key, head) {
		return "", false
	}
	rest := key[len(head):]
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\\' && i+1 < len(rest) && (rest[i+1] == '}' || rest[i+1] == '\\'):
			b.WriteByte(rest[i+1])
			i++
		case c == '\\':
			return "", false // Key never writes a lone backslash
		case c == '}':
			if b.Len() == 0 || (i+1 < len(rest) && rest[i+1] != ':') {
				return "", false
			}
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// Lock keys (package redislock).
//
//	LockKey(name)      string  holder's random value, PX = lease
//	LockFence(name)    string  integer fencing counter, no expiry (needs AOF to survive restarts)
//	LockChannel(name)  channel release notifications (PUBLISH, or SPUBLISH on Cluster)
func (s Space) LockKey(name string) string     { return s.Key("lock", name) }
func (s Space) LockFence(name string) string   { return s.Key("lock", name, "fence") }
func (s Space) LockChannel(name string) string { return s.Key("lock", name, "released") }

// Fence keys (storage-side fencing of a resource, package redislock).
//
//	FenceKey(resource) hash  {token: highest accepted token, value: the data}
func (s Space) FenceKey(resource string) string { return s.Key("fenced", resource) }
