package redistest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// LeakOptions are the goleak options every package's TestMain uses. The one
// goroutine ignored belongs to go-redis: after a failed dial its pool probes
// the server once a second until it answers or the pool is closed, and may
// still be asleep for up to a second after Close.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	}
}

// VerifyTestMain runs the tests and fails if any goroutine outlives them.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, LeakOptions()...) }

// Main runs the tests, then teardown and the shared cluster's shutdown,
// then checks that no goroutine outlived the tests.
func Main(m *testing.M, teardown func()) {
	code := m.Run()
	if teardown != nil {
		teardown()
	}
	if !stopShared() && code == 0 {
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(LeakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
