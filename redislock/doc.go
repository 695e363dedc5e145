// Package redislock provides fenced distributed locks on Redis: a
// single-instance lock over one Redis, or the Redlock algorithm over N
// independent Redis masters, with fencing tokens, a watchdog, a lost-lock
// signal and notification-driven waiting.
//
// # Guarantees
//
// A Lock returned by Acquire or TryAcquire is held on a majority (N/2+1) of
// the nodes until its validity deadline, and no other client of this package
// (or of redsync, on the same key) can be granted the same name on a majority
// before that deadline. Every grant carries a fencing token (uint64) that
// strictly increases across successive holders of the same name, on one node
// and on N nodes, including after a paused holder's lock expired.
//
// Validity is computed as in antirez's Redlock: deadline = start + TTL -
// drift, drift = TTL*0.01 + 2ms, where start is read from the monotonic clock
// before the first request is sent. Lock.Done and Lock.Context end when the
// deadline passes without a renewal, when a renewal learns that the lock is
// gone, or when the lock is released; Lock.Valid compares the deadline with
// the monotonic clock at the moment of the call.
//
// # Assumptions (read these before relying on mutual exclusion)
//
// Mutual exclusion rests on timing: the holder's process is not paused, and
// the nodes' clocks do not run faster than real time by more than the drift
// allowance, for longer than the validity period. A process paused past its
// deadline (a GC pause, SIGSTOP, a VM migration) wakes up believing nothing;
// Lock.Valid and Lock.Done tell it, but a write already in flight cannot be
// recalled. That is what fencing tokens are for: send the token with every
// write to the protected resource and have the resource reject tokens lower
// than the highest it has accepted (FencedStore does that for a resource
// kept in Redis; for SQL, see below). With fencing, safety no longer depends
// on timing; without it, Redlock is an efficiency lock.
//
// Token monotonicity needs the counters to survive restarts: run every
// node with appendonly yes and appendfsync always (everysec can lose the
// last second of counter writes in a crash). What happens without it: a
// token is guaranteed to be stored only on the majority that granted it,
// so a node of that majority restarting empty can leave the latest token
// on fewer than a majority, and a later grant through the other nodes can
// repeat it or go below it (a single node restarting empty restarts its
// counter at 0). To narrow that window, after every grant the counter is
// also raised, in the background, on the nodes that were not part of the
// majority; this makes a repeat unlikely but is no guarantee. The lock
// itself (mutual exclusion) has the same need, as in antirez's Redlock:
// a node restarted empty must stay down for a TTL, or run with AOF.
//
// # Fencing tokens on N nodes
//
// Taking the max of independent per-node INCRs is not monotonic. Instead,
// the acquire script runs on every node with a proposal p (the highest
// counter this Locker has seen for the name, plus one): where it sets the
// lock it raises the counter to max(counter+1, p) and returns the value it
// wrote; where another holder has it, it returns the counter it found (so
// the next proposal starts above it). The token t is the highest value
// written.
// If a majority of the nodes now hold a counter >= t, t is granted in one
// round trip (the common case). Otherwise a second round raises the counter
// to t on the nodes where the lock is held (only while it is held there);
// if that cannot reach a majority before the deadline, the acquisition
// fails and the lock is released. Any two majorities share a node, and on
// that node a later holder's script runs after the earlier holder's counter
// write, so every later grant sees a counter >= t and issues a larger token.
// On one node no proposal is needed, and no script: SET NX PX, INCR and
// PTTL go in one pipeline (one round trip), and INCR's reply is the token.
// Redis runs one connection's pipelined commands in order, and a holder
// uses its token only after both replies, before it releases, so the next
// holder's SET can only succeed after the previous holder's INCR ran; a
// holder whose key expired before its INCR ran got the reply after its
// deadline and discards the grant. An attempt that finds the lock taken
// moves the counter too: tokens strictly increase but are not dense. A
// lock key without a TTL (perhaps of another type) or a corrupt counter
// sends the attempt on to the acquire script, which says which.
// Lock tokens are exact below 2^53 (Lua numbers are doubles; at a million
// grants a second that is 285 years). FencedStore compares tokens as
// decimal strings, exact for every uint64.
//
// # Storage-side fencing
//
// FencedStore guards a value kept in Redis: Write accepts a write only if its
// token is >= the highest token the resource has accepted, atomically, and
// returns ErrStaleToken otherwise. For SQL, keep the token beside the row and
// make the write conditional:
//
//	UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence <= $2
//
// and treat "0 rows affected" as a stale token (the lock was lost; stop).
//
// # Waiting
//
// Release publishes a notification on the name's channel (PUBLISH, or
// SPUBLISH on a Redis Cluster client, inside the release script). The
// waiters of one Locker share one subscription per node; within a Locker,
// waiters on one name are served in arrival order, and only the head of the
// queue retries, at once when notified, otherwise when the holder's
// remaining TTL has run out (which also catches expiry and releases made by
// other libraries). A blocked Acquire ends when the lock is held, the
// context ends (the error satisfies errors.Is(err, ctx.Err())), or the wait
// bound passes (ErrWaitTimeout).
//
// Slow and hung nodes: an attempt returns as soon as its outcome is
// decided (a majority granted, or too few nodes can still grant). A node
// that has not answered within a tenth of the TTL (at least 50ms) counts
// as failed. When a majority has answered without deciding (a split vote:
// some granted, some taken), the other nodes get as long again as that
// majority took, at least 50ms, and then the attempt fails as taken: a
// hung node holds a split vote up that long, not for the client's read
// timeout. A node that left an attempt unanswered that way is not waited
// for at all on the next split votes, until it answers again. What a
// failed attempt set is released at once on the nodes that answered, and
// on the others as they answer. After a split vote a waiter pauses for a
// random while (up to twice 50ms, or four times what the answers took)
// before it tries again, release notifications notwithstanding: the
// contenders would otherwise retry together and split again. A waiter subscribes on
// every node and needs confirmations from a majority (waiting half a
// second at most) before its next attempt: a release reaches a majority,
// and two majorities share a node.
//
// Handoff: when a Lock is released while a waiter of the same Locker queues
// for its name, Release acquires the lock for that waiter in one round trip
// (the acquire script with the releasing value as precondition: the key
// passes from one holder to the next without becoming free, and the counter
// moves as for any grant), instead of a release and then an acquire. The
// releasing Lock has ended before the next holder's begins, and the next
// token is larger. After 16 handoffs in a row a Release frees the key and
// announces it, so that waiters of other Lockers (and other processes) get
// a chance; there is no order across Lockers.
//
// # Keys (all under the Locker's prefix, default "sync")
//
//	<prefix>:lock:{<name>}           string  holder's random value, PX = TTL
//	<prefix>:lock:{<name>}:fence     string  fencing counter, no expiry
//	<prefix>:lock:{<name>}:released  channel release notifications
//	<prefix>:fenced:{<resource>}     hash    FencedStore: token and value
//
// A redsync Mutex created with Locker.Key(name) as its name uses the same
// key, so the two exclude each other during a migration (redsync issues no
// tokens, and its releases send no notification: our waiters fall back to
// the TTL).
//
// # Scripts
//
// acquire.lua (on N nodes, for a handoff, and to diagnose an odd key on
// one node), extend.lua, release.lua, raise.lua (the second fencing round)
// and fenced_write.lua; each file's header lists its KEYS, ARGV and return
// value.
package redislock
