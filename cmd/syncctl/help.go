package main

import (
	"fmt"
	"strings"
)

const helpMain = `syncctl shows and repairs the state Go Sync keeps in Redis: locks, leaders,
task queues, dead tasks and event topics. It only reads, except for
'dead requeue' and 'dead delete', which ask first.

Usage:
  syncctl [flags] COMMAND [ARGUMENTS] [flags]

Commands:
%s
  help [COMMAND]              this text, or a command's with examples

Flags (anywhere on the line):
  --redis URL     the Redis to read; repeat it, or separate URLs with commas,
                  for independent Redlock nodes (env SYNCCTL_REDIS):
                    redis://[user:password@]host:port[/db]   one server
                    rediss://...                             one server, TLS
                    unix:///run/redis.sock                   a unix socket
                    redis+cluster://host:port                Redis Cluster, from any node
                                                             (rediss+cluster:// for TLS)
  --cluster       treat every --redis URL as a seed node of one Redis Cluster
  --prefix P      the key prefix the application passed to WithPrefix
                  (default "sync"; env SYNCCTL_PREFIX)
  --json          JSON on stdout instead of tables, for scripts
  --yes, -y       do not ask before requeue or delete
  --timeout D     bound on each round of Redis work (default 10s): the
                  connection check, each node's scan, each lock or group
                  read. A lock node that does not answer within it is left
                  out for the rest of the command, with a warning
  --limit N       dead list: at most N tasks (default 100)
  --all           dead requeue, dead delete: every dead task of the queue

Names are found with SCAN over the keys under the prefix (every master of a
cluster). With several independent nodes, locks and leaders are read from
all of them, and a lock counts as held when a majority agree (a node that
is down or hung is reported on stderr and skipped); queues and
topics are read from the first node, as the library's producers, workers
and event clients use one client.

Exit status:
  0  done
  1  the operation failed, what was named does not exist, or the answer
     to a confirmation was not yes; for a listing (locks, leaders,
     queues, topics): some rows could not be read (a foreign or corrupt
     key under the prefix). Those rows are printed with an ERROR column
     (an "error" field in --json), the others as usual
  2  usage error: unknown command or flag, bad URL or prefix; or a
     destructive command without --yes while stdin is not a terminal
  3  cannot reach Redis: connection refused, timeout, authentication
     failed, or fewer than a majority of the lock nodes answer (in time)
Errors are one line on stderr; results go to stdout. Table cells show
control and other non-printable characters as Go escapes (\x1b, \n, \t,
\x00; a backslash as \\); --json gives the values as they are.

Examples:
  syncctl --redis redis://10.0.0.5:6379/0 locks
  syncctl --redis redis://a:6379,redis://b:6379,redis://c:6379 locks show invoice-42
  syncctl --redis redis+cluster://10.0.0.7:7000 --prefix billing queues
  export SYNCCTL_REDIS=redis://localhost:6379
  syncctl dead list emails --json | jq -r '.[].error'
  syncctl dead requeue emails --all --yes
`

const helpLocksList = `Lists every lock under the prefix (every name that has a lock key or a
fencing counter, so locks that are free now are listed too):

  NAME      the lock name given to Acquire
  STATE     held (a majority of nodes agree on one holder), free, or
            split (some nodes hold it, no majority: an acquisition in
            progress or a lock being lost)
  OWNER     the holder's owner id (redislock.Owner / WithOwner), or -
  TOKEN     the holder's fencing token; for a free lock the last token
            issued (the next holder gets a larger one)
  TTL       how long a majority still holds it; "none" when held by a key
            without expiry (not written by Go Sync, or PERSISTed by hand),
            - when not held
  ERROR     only when a lock could not be read: why (its STATE is error)

Example:
  syncctl --redis redis://localhost:6379 locks
  syncctl locks --json   # [{"name", "state", "owner", "holder", "token", "ttl_ms",
                         #   "no_expiry" (when true), "error" (when set)}]
`

const helpLocksShow = `Shows one lock on every node and the quorum view: which holder a
majority agrees on, its token and remaining TTL. With several independent
nodes (Redlock), each node's holder value, fencing counter and TTL are
listed, including nodes that cannot be read; a TTL of "none" is a holder
key without expiry. Exits 1 if the lock has never been taken.

Example:
  syncctl --redis redis://a:6379,redis://b:6379,redis://c:6379 locks show invoice-42
`

const helpLeaders = `Lists the election groups under the prefix with their current leader:
candidate id, term (the fencing token of the leadership; it grows with
every new leader), when it was elected, and the remaining lease. A group
without a leader now shows -. With GROUP, only that group; exits 1 if the
group has never had a leader.

Example:
  syncctl leaders
  syncctl leaders scheduler --json   # [{"group", "leader", "term", "since", "lease_ms"}]
`

const helpQueues = `Lists the task queues under the prefix:

  LENGTH    tasks in the stream: ready and in flight
  PENDING   delivered to a worker, not yet acknowledged (in flight)
  LAG       ready, not yet delivered to any worker
  DELAYED   waiting for their run-at time
  RETRY     waiting for their next attempt after a failure
  DEAD      in the dead-letter stream (see 'syncctl dead list QUEUE')
  OLDEST    age of the oldest task in the stream

With QUEUE, also each consumer (worker) with its in-flight tasks and how
long it has been idle. Exits 1 if the queue does not exist.

Example:
  syncctl queues
  syncctl queues emails --json
`

const helpDeadList = `Lists the dead-lettered tasks of QUEUE, oldest first, at most --limit
(default 100): dead-letter id (what requeue and delete take), when it
died, the task name and id, attempts, why (failed, unknown-name, corrupt,
reclaimed) and the last error (shortened in the table, whole in --json).

Example:
  syncctl dead list emails --limit 20
  syncctl dead list emails --json | jq -r '.[] | .id + " " + .error'
`

const helpDeadRequeue = `Moves dead tasks back to QUEUE with their attempts reset, so workers run
them again: the ids given (from 'dead list'), or every dead task with --all.
Prints each new entry id. Asks for confirmation on the terminal unless
--yes; without a terminal and without --yes it refuses (exit 2). Exits 1
if an id does not exist (the others are still requeued).

Example:
  syncctl dead requeue emails 1718000000000-0 1718000000001-0
  syncctl dead requeue emails --all --yes
`

const helpDeadDelete = `Deletes dead tasks of QUEUE for good: the ids given, or every dead task
with --all. Asks for confirmation on the terminal unless --yes; without a
terminal and without --yes it refuses (exit 2). Exits 1 if an id does not
exist (the others are still deleted).

Example:
  syncctl dead delete emails 1718000000000-0
  syncctl dead delete emails --all --yes
`

const helpTopics = `Lists the event topics under the prefix: partitions, events retained and
consumer groups. With TOPIC, each partition (events, first and last
offset) and each consumer group: live members and, per partition, the
owning member, its fencing token, the committed offset, the lag (events
after the committed offset; counting stops at 100000, shown as >=) and
the remaining lease. Exits 1 if the topic does not exist.

Example:
  syncctl topics
  syncctl topics orders --json
`

// help prints the main help, or a command's (or a command group's).
func (c *cli) help(pos []string) {
	var words []string
	for _, w := range pos {
		if w != "help" {
			words = append(words, w)
		}
	}
	var match []*command
	for _, cmd := range commands {
		n := min(len(words), len(cmd.words))
		if len(words) > 0 && strings.Join(words[:n], " ") == strings.Join(cmd.words[:n], " ") {
			match = append(match, cmd)
		}
	}
	if len(match) == 0 {
		var b strings.Builder
		for i, cmd := range commands {
			if i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "  %-27s %s", strings.Join(append(append([]string{}, cmd.words...), cmd.args), " "), cmd.short)
		}
		fmt.Fprintf(c.stdout, helpMain, b.String())
		return
	}
	for i, cmd := range match {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintf(c.stdout, "Usage: syncctl %s %s\n\n%s", strings.Join(cmd.words, " "), cmd.args, cmd.help)
	}
	fmt.Fprintln(c.stdout, "\nFlags, URLs and exit status: syncctl --help")
}
