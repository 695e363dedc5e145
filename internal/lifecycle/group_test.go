package lifecycle

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGroupWaitsForAll(t *testing.T) {
	var g Group
	var done atomic.Int32
	for range 50 {
		g.Go(func() { time.Sleep(time.Millisecond); done.Add(1) })
	}
	g.Wait()
	if done.Load() != 50 {
		t.Fatalf("Wait returned after %d of 50", done.Load())
	}
}

// Add while Wait runs, after the count reached zero: allowed (a
// sync.WaitGroup panics here).
func TestGroupAddDuringWait(t *testing.T) {
	var g Group
	for range 1000 {
		g.Go(func() {})
		waited := make(chan struct{})
		go func() { g.Wait(); close(waited) }()
		g.Go(func() {})
		<-waited
	}
	g.Wait()
}

func TestGroupNegativePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	var g Group
	g.Done()
}
