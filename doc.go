// Package sync is the facade of Go Sync: coordination primitives for
// distributed Go services, built on the Redis they already run.
//
// Import it as
//
//	gosync "github.com/go-sync/sync"
//
// New takes a shared redis.UniversalClient (standalone, Sentinel or Cluster)
// and hands out each primitive (today: the redislock Locker and
// FencedStore, and the clock); each subpackage also stands alone. Leader
// election, tasks, the event stream and NTP time are being built as
// redisleader, redistask, event and ntptime. The caller owns the client:
// Close stops what the facade started and never closes the client.
//
// The interfaces of go-micro's sync package are available here on top of
// the primitives, so code written against them ports with little change:
// Lock (Acquire, Release, TTL, Wait, ErrLockTimeout) and Time today.
//
// Every key lives under a prefix (default "sync") as
// <prefix>:<kind>:{<name>}[:<part>]; the braces are a Redis Cluster hash tag
// so all keys of one lock, group, queue or partition share a slot.
package sync
