package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	stdsync "sync"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/redislock"
)

// demoLocks shows workers taking a fenced lock to update a shared ledger,
// then a holder paused past its TTL being rejected by the storage fence.
func demoLocks(ctx context.Context, s *gosync.Sync, out io.Writer) error {
	locker, err := s.Locker()
	if err != nil {
		return err
	}
	store, err := s.FencedStore()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== redislock: fenced locks ==")
	const workers, rounds = 3, 5
	var wg stdsync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if err := increment(ctx, locker, store, w); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	v, token, err := store.Read(ctx, "ledger")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d workers x %d increments under lock \"ledger\": counter = %s (want %d), last token %d, %v\n",
		workers, rounds, v, workers*rounds, token, time.Since(start).Round(time.Millisecond))

	// A holder pauses past its TTL; meanwhile another takes the lock and
	// writes. The paused holder's late write carries an old token.
	slow, err := locker.Acquire(ctx, "ledger", redislock.TTL(200*time.Millisecond))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "slow holder got token %d, then pauses for 400ms (TTL 200ms)\n", slow.Token())
	time.Sleep(400 * time.Millisecond)
	fast, err := locker.Acquire(ctx, "ledger", redislock.MaxWait(5*time.Second))
	if err != nil {
		return err
	}
	if err := store.Write(ctx, "ledger", fast.Token(), "100"); err != nil {
		return err
	}
	fmt.Fprintf(out, "next holder got token %d and wrote 100\n", fast.Token())
	fast.Release(ctx)
	fmt.Fprintf(out, "slow holder wakes: Valid()=%v, Err()=%v\n", slow.Valid(), slow.Err())
	err = store.Write(ctx, "ledger", slow.Token(), "stale")
	if !errors.Is(err, redislock.ErrStaleToken) {
		return fmt.Errorf("stale write was not rejected: %v", err)
	}
	fmt.Fprintf(out, "its write with token %d is rejected: %v\n", slow.Token(), err)
	return nil
}

func increment(ctx context.Context, locker *redislock.Locker, store *redislock.FencedStore, w int) error {
	lk, err := locker.Acquire(ctx, "ledger", redislock.TTL(2*time.Second))
	if err != nil {
		return fmt.Errorf("worker %d: %w", w, err)
	}
	defer lk.Release(context.WithoutCancel(ctx))
	v, _, err := store.Read(ctx, "ledger")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(v)
	return store.Write(ctx, "ledger", lk.Token(), strconv.Itoa(n+1))
}
