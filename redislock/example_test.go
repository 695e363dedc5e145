package redislock_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

func Example() {
	m, _ := miniredis.Run()
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()

	// One client: a single-instance lock. Pass several independent
	// masters for Redlock.
	locker, err := redislock.New([]redis.UniversalClient{client})
	if err != nil {
		panic(err)
	}
	defer locker.Close()
	store, _ := redislock.NewFencedStore(client, "")

	ctx := context.Background()
	lk, err := locker.Acquire(ctx, "invoice-42", redislock.TTL(10*time.Second), redislock.AutoRenew())
	if err != nil {
		panic(err)
	}
	// Work under lk.Context(): it ends if the lock is lost. Send the token
	// with every write to the protected resource.
	if err := store.Write(lk.Context(), "invoice-42", lk.Token(), "paid"); err != nil {
		panic(err)
	}
	fmt.Println("token:", lk.Token())
	fmt.Println("release:", lk.Release(ctx))

	// A write with an older token is refused by the store.
	next, _ := locker.Acquire(ctx, "invoice-42")
	store.Write(ctx, "invoice-42", next.Token(), "refunded")
	err = store.Write(ctx, "invoice-42", lk.Token(), "paid again")
	fmt.Println("stale write rejected:", errors.Is(err, redislock.ErrStaleToken))
	next.Release(ctx)
	// Output:
	// token: 1
	// release: <nil>
	// stale write rejected: true
}

func ExampleLocker_TryAcquire() {
	m, _ := miniredis.Run()
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	a, _ := redislock.New([]redis.UniversalClient{client}, redislock.WithOwner("a"))
	defer a.Close()
	b, _ := redislock.New([]redis.UniversalClient{client}, redislock.WithOwner("b"))
	defer b.Close()

	ctx := context.Background()
	lk, _ := a.TryAcquire(ctx, "report")
	_, err := b.TryAcquire(ctx, "report")
	fmt.Println(errors.Is(err, redislock.ErrTaken))
	lk.Release(ctx)
	// Output: true
}
