package redistest

import (
	"context"
	"fmt"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	prefixOf stdsync.Map // testing.TB -> string
	prefixes atomic.Int64
)

// Prefix returns a key prefix unique to the test (and to this run of it,
// so -count=N and a shared cluster never mix runs), stable for the test's
// lifetime and valid for keys.New. It matches PrefixPattern, the keys the
// restricted ACL user may touch (see ACLEnv); so does Prefix(t)+"-"+word,
// for tests that need several prefixes.
func Prefix(t testing.TB) string {
	if p, ok := prefixOf.Load(t); ok {
		return p.(string)
	}
	b := []byte(fmt.Sprintf("%s%s-%d", prefixRoot, t.Name(), prefixes.Add(1)))
	for i, c := range b {
		switch c {
		case '{', '}', ' ', '\t', '*', '?', '[', ']', '\\':
			b[i] = '_'
		}
	}
	prefixOf.Store(t, string(b))
	t.Cleanup(func() { prefixOf.Delete(t) })
	return string(b)
}

// WaitFor polls cond every 5ms and fails the test if it is not true
// within d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Run runs f (a component's Run method) in a goroutine until stop is
// called or the test ends; stop cancels f's context, waits for f, and
// reports a non-nil result as a test error. stop is idempotent.
func Run(t testing.TB, f func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once stdsync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
