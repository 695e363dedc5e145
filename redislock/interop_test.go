package redislock

import (
	"errors"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
)

// A redsync Mutex on Locker.Key(name) and our lock on name exclude each
// other, so users can migrate one service at a time.
func TestRedsyncInterop(t *testing.T) {
	for _, b := range []backend{oneBackend, threeBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			nodes := b.nodes(t)
			l := newLocker(t, nodes)
			var pools []redsyncredis.Pool
			for _, n := range nodes {
				pools = append(pools, goredis.NewPool(n.(*redis.Client)))
			}
			rs := redsync.New(pools...)
			m := rs.NewMutex(l.Key("shared"), redsync.WithTries(1), redsync.WithExpiry(time.Minute))

			if err := m.LockContext(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := l.TryAcquire(ctx, "shared"); !errors.Is(err, ErrTaken) {
				t.Fatalf("our TryAcquire while redsync holds = %v, want ErrTaken", err)
			}
			// Our waiter gets it once redsync unlocks (redsync sends no
			// notification: the fallback retry at the holder's TTL, or a
			// release seen by polling, must catch it; a short TTL keeps it quick).
			if ok, err := m.UnlockContext(ctx); !ok || err != nil {
				t.Fatalf("redsync unlock: %v %v", ok, err)
			}
			lk, err := l.Acquire(ctx, "shared", MaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.LockContext(ctx); err == nil {
				t.Fatal("redsync locked a name we hold")
			}
			if err := lk.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if err := m.LockContext(ctx); err != nil {
				t.Fatalf("redsync after our release: %v", err)
			}
			m.UnlockContext(ctx)
		})
	}
}
