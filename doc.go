// Package sync is the facade of Go Sync: coordination primitives for
// distributed Go services, built on the Redis they already run.
//
// Import it as
//
//	gosync "github.com/go-sync/sync"
//
// New takes a shared redis.UniversalClient (standalone, Sentinel or Cluster)
// and hands out each primitive: Locker and FencedStore (redislock),
// Elector (redisleader), Producer, Worker and Inspector (redistask), Events
// (event), RedisClock (ntptime); each subpackage also stands alone. The
// caller owns the client: Close stops what the facade started and never
// closes the client.
//
// The interfaces of go-micro's sync package are available here on top of
// the primitives, so code written against them ports with little change:
// Lock (Acquire, Release, TTL, Wait, ErrLockTimeout), Leader (Elect,
// Follow, Group; Elected with Id, Reelect, Resign, Revoked), Task (Run,
// Status, WithPool; local with NewLocalTask, distributed with Sync.Task)
// and Time (NewNTPTime with WithServer, LocalTime).
//
// Metrics: WithHooks passes hook functions (Hooks) to every primitive;
// the module github.com/go-sync/sync/metrics fills them with Prometheus
// collectors, so this module does not depend on client_golang.
//
// Every key lives under a prefix (default "sync") as
// <prefix>:<kind>:{<name>}[:<part>]; the braces are a Redis Cluster hash tag
// so all keys of one lock, group, queue or partition share a slot.
package sync
