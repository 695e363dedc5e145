// Package event is an ordered, partitioned event stream on Redis Streams:
// Kafka's consumer model (log semantics, consumer groups with one owner
// per partition, committed offsets, replay) on Redis or Redis Cluster.
//
// # Model
//
// A topic has a fixed number of partitions, each one Redis stream. An
// event with a key goes to partition FNV-1a-32(key) mod P (PartitionFor),
// so events with the same key are appended, and consumed, in publish
// order; its offset is the stream entry ID, which encodes the append time
// in milliseconds (Redis's clock). PublishBatch pipelines: one round trip
// per node, grouped by partition, slice order kept within a partition.
//
// # Guarantees
//
//   - Ordering: within a partition, consumers see events in offset order,
//     and a handler error stops the partition at that event (retried with
//     backoff) instead of skipping it. Events of different partitions
//     have no order.
//   - Exclusive ownership: in a consumer group, a partition is owned by
//     one member at a time through a fenced lease (redislock, one lock per
//     group and partition). Every commit carries the owner's fencing
//     token and is accepted only if no owner with a higher token has
//     claimed the partition (one script in the partition's slot), so a
//     member paused past its lease (GC, SIGSTOP) cannot move the group's
//     offset after its successor claimed the partition: ErrStaleToken.
//   - Delivery is at least once: the offset is committed after the
//     handlers of a batch returned, so a crash redelivers at most one
//     batch per partition to the next owner, in order. Handlers must be
//     idempotent (or fence their own writes with Event's partition
//     ownership: see Hooks.OnAssign's token).
//   - Rebalancing: members heartbeat in a membership set (scores are
//     Redis-clock expiries); each member targets ceil(P/members)
//     partitions, hands extras back and takes free ones with TryAcquire.
//     A crashed member's leases and membership expire after one lease
//     (WithLease), then its partitions are taken over.
//   - Idempotent publishing: an event with an ID is appended at most once
//     per dedupe window (WithDedupeWindow): the check, the append and the
//     marker are one script in the partition's slot. A retry of a publish
//     whose reply was lost returns the first append's Receipt with
//     Duplicate set. Use ID = producer + "/" + sequence for Kafka-style
//     producer sequences. The key must be the same on retries (the ID is
//     deduplicated per partition).
//   - Fenced publishing: an event with a Fence (a name and a fencing
//     token, such as a redislock Lock's token or a redisleader term) is
//     appended only if its token is at least the highest the partition
//     has accepted for that name; the check, the raise and the append are
//     one script in the partition's slot. A publisher paused past its
//     lease therefore cannot append after its successor did on that
//     partition (ErrStaleToken, nothing written). The fence is per
//     partition: it orders one partition's publishers (events with the
//     same key); a deposed holder can still append to a partition its
//     successor has not published to. A retry of an accepted publish
//     with an ID is a duplicate, not stale.
//   - Retention (Topic.Trim) by length and by age never removes an event
//     after the lowest committed offset of any group holding offsets on
//     the partition, unless Retention.IgnoreGroups is set.
//
// # Durability
//
// Redis acknowledges writes from memory. What each setting gives:
//
//   - Default: Publish returns once the master appended the event. A
//     master crash before the write reached disk or a replica loses it;
//     on a failover, the promoted replica may lack the last events, and
//     their offsets can be reused by later events.
//   - WithReplicas(n, timeout): Publish also sends WAIT n timeout on the
//     same connection, after the appends, and returns ErrNotReplicated if
//     fewer than n replicas had received them. This narrows the failover
//     window (a replica that acknowledged can be promoted with the
//     events) but is not a consensus commit: WAIT does not make replicas
//     fsync, Redis may still promote a replica that did not acknowledge,
//     and a timed-out WAIT does not roll the append back.
//   - appendonly yes with appendfsync always (server configuration):
//     an acknowledged event survives a crash and restart of the master;
//     with everysec, the last second may be lost. Fencing tokens (the
//     lease counters) need the same setting to stay monotonic across
//     restarts.
//
// # Tracing
//
// With WithPropagator, Publish stores the W3C trace context of its ctx
// (traceparent, and tracestate up to 512 bytes) in the entry's tp and ts
// fields, and consumers and subscribers put it in their handler's context
// as the remote parent; dead-lettering keeps it. The propagator is a small
// interface (package tracing), so this package does not depend on
// OpenTelemetry; github.com/go-sync/sync/otelsync adapts OpenTelemetry's
// propagators. Entries without the fields, and readers that ignore them,
// work as before.
//
// # Assumptions
//
// A topic's partition count never changes (CreateTopic refuses another
// count). Redis's clock orders offsets: a clock step backwards is absorbed
// by Redis (IDs never go down) but makes FromTime approximate.
//
// # Keys (prefix default "sync"; each partition is its own hash tag, so
// partitions spread over Cluster slots and every key of a partition
// shares its slot)
//
//	<prefix>:event:{<topic>}:meta                   hash    {partitions}
//	<prefix>:event:{<topic>}:group:<group>:members  zset    live members, score = expiry (Redis ms)
//	<prefix>:event:{<topic>/<p>}                    stream  partition p: fields k (key), v (payload), i (event ID),
//	                                                        tp, ts (W3C traceparent, tracestate; only when set)
//	<prefix>:event:{<topic>/<p>}:dedupe:<id>        string  offset of event ID, PX = dedupe window
//	<prefix>:event:{<topic>/<p>}:offsets            hash    group -> committed offset
//	<prefix>:event:{<topic>/<p>}:tokens             hash    group -> highest owner fencing token
//	<prefix>:event:{<topic>/<p>}:fences             hash    fence name -> highest publish token
//	<prefix>:event:{<topic>/<p>/<group>}            string  partition lease (redislock, kind "event")
//	<prefix>:event:{<topic>/<p>/<group>}:fence      string  lease fencing counter
//
// # Scripts
//
// publish.lua (idempotent and fenced append), claim.lua (new owner), commit.lua
// (fenced commit), member.lua (membership heartbeat), trim.lua
// (retention), lagcount.lua (read-only: counts a group's lag in events,
// for Topic.Stats) and lag.lua (read-only: a group's committed, next and
// last ids, for Topic.Lag); each file's header lists its KEYS, ARGV and
// return value.
package event
