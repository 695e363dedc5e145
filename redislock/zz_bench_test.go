package redislock

import (
	"context"
	"testing"
	"time"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func BenchmarkZZOneNode(b *testing.B) {
	n := redistest.Standalone(b)
	l, err := New([]redis.UniversalClient{n.Client()}, WithPrefix("zz"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		lk, err := l.Acquire(ctx, "x", TTL(8*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		if err := lk.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
