// Package sync is the facade of Go Sync: coordination primitives for
// distributed Go services, built on the Redis they already run.
//
// Import it as
//
//	gosync "github.com/go-sync/sync"
//
// New takes a shared redis.UniversalClient (standalone, Sentinel or Cluster)
// and hands out each primitive; every subpackage (redislock, redisleader,
// redistask, event, ntptime) also stands alone. The caller owns the client:
// Close stops what the facade started and never closes the client.
//
// The interfaces of go-micro's sync package (Lock, Leader, Task, Time) are
// available here on top of the primitives, so code written against them
// ports with little change.
//
// Every key lives under a prefix (default "sync") as
// <prefix>:<kind>:{<name>}[:<part>]; the braces are a Redis Cluster hash tag
// so all keys of one lock, group, queue or partition share a slot.
package sync
