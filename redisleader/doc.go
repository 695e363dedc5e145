// Package redisleader elects one leader per named group on Redis: a
// leadership is a long-held, renewed, fenced redislock lease plus an
// announcement that anyone can read and observe.
//
// # Guarantees
//
// Campaign blocks until the candidate leads the group or its context ends.
// Every leadership carries a term (uint64) that strictly increases with
// every new leader of the group: it is the lock's fencing token, so it is
// the token to send with everything the leader writes (see
// redislock.FencedStore). On 1 node, on N independent nodes (Redlock
// quorum) and on Redis Cluster (hash tags).
//
// A leadership ends (Done closes, Context is cancelled, Err says why) when
// it is resigned, when a renewal finds the lease gone, or when no renewal
// has succeeded for RenewDeadline. Because RenewDeadline < LeaseDuration
// (minus the Redlock drift allowance), the leader steps down before its
// lease could expire on Redis and another candidate could be elected:
// LeaseDuration > RenewDeadline > RetryPeriod, as in client-go's
// leaderelection, validated by New. The deadline is kept on the monotonic
// clock, and Valid and Context().Err() read it at the moment of the call:
// a leader paused (SIGSTOP, GC, VM freeze) past its deadline sees at its
// first check that it no longer leads. Work already sent cannot be
// recalled; the term fences it at the storage.
//
// Resign releases the lease and wakes the waiting candidates at once
// (redislock's release notification), so the next leader is elected in
// about one round trip. After a crash, the next leader is elected when the
// lease runs out (waiting candidates retry at the lease's expiry).
//
// # Observation
//
// Leader reads the current leader (id, term, since) from Redis: the
// announcement is valid only while the lease it names is still held, and
// on N nodes a majority must agree. Observe streams every change of leader
// in term order: each new leader appends its announcement to a capped
// Redis stream per group, which observers read with a blocking XREAD (the
// notification), and on every timeout, error or reconnect they also do a
// reconciling read of every node, so an observer that was disconnected
// converges to the latest leader. While connected an observer sees every
// leader (the stream keeps the last 64 announcements); terms delivered are
// strictly increasing.
//
// # Assumptions
//
// Those of redislock: bounded clock drift and pauses for mutual exclusion
// of leaders in real time; fencing by term for safety when that fails;
// AOF on the nodes for terms to survive restarts.
//
// # Keys (prefix default "sync")
//
//	<prefix>:leader:{<group>}           string  the lease (redislock), holder value "<id>:<random>"
//	<prefix>:leader:{<group>}:fence     string  term counter (redislock fencing counter)
//	<prefix>:leader:{<group>}:released  channel resign notification (redislock)
//	<prefix>:leader:{<group>}:info      hash    announcement {id, term, since (unix ms), holder}
//	<prefix>:leader:{<group>}:history   stream  announcements, MAXLEN ~64
//
// # Scripts
//
// announce.lua (raise the announcement if the term is newer, append to the
// history) and read.lua (the announcement plus the lease holder, atomically).
package redisleader
