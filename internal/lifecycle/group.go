// Package lifecycle tracks the background goroutines a value owns, so its
// Close can wait for them.
package lifecycle

import stdsync "sync"

// Group counts running goroutines like sync.WaitGroup, but Add may run
// concurrently with Wait (a goroutine started while Close waits is simply
// waited for too), which sync.WaitGroup forbids once its counter reached
// zero. The zero value is ready to use.
type Group struct {
	mu   stdsync.Mutex
	n    int
	cond *stdsync.Cond
}

// Add adds k to the count.
func (g *Group) Add(k int) {
	g.mu.Lock()
	g.n += k
	if g.n < 0 {
		g.mu.Unlock()
		panic("lifecycle: negative count")
	}
	if g.n == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

// Done subtracts one from the count.
func (g *Group) Done() { g.Add(-1) }

// Go runs f in a goroutine counted by g.
func (g *Group) Go(f func()) {
	g.Add(1)
	go func() {
		defer g.Done()
		f()
	}()
}

// Wait blocks until the count is zero.
func (g *Group) Wait() {
	g.mu.Lock()
	if g.cond == nil {
		g.cond = stdsync.NewCond(&g.mu)
	}
	for g.n > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}
