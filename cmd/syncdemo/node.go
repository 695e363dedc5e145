package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	gosync "github.com/go-sync/sync"
	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redisleader"
	"github.com/go-sync/sync/redislock"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
)

// node is one simulated process: its own Redis connection and facade, a
// candidate in the election, a worker pool and a member of the consumer
// group. kill simulates a crash: from then on its connection drops every
// command, so it can neither renew nor release anything, and its goroutines
// end.
type node struct {
	d      *demo
	id     string
	client *redis.Client
	crash  crashHook
	s      *gosync.Sync

	locker   *redislock.Locker
	store    *redislock.FencedStore
	elector  *redisleader.Elector
	worker   *redistask.Worker
	topic    *event.Topic
	consumer *event.Consumer

	busy atomic.Int32 // handlers running

	ctx    context.Context
	cancel context.CancelFunc
	wg     stdsync.WaitGroup
}

func (d *demo) newNode(ctx context.Context, id string) (n *node, err error) {
	n = &node{d: d, id: id, client: redis.NewClient(d.srv.options())}
	n.client.AddHook(&n.crash)
	n.s = gosync.New(n.client, gosync.WithPrefix(d.cfg.prefix))
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.locker, err = n.s.Locker(); err != nil {
		return nil, err
	}
	if n.store, err = n.s.FencedStore(); err != nil {
		return nil, err
	}
	c := d.cfg
	if n.elector, err = n.s.Elector(electionGroup, redisleader.WithLeaseDuration(c.lease),
		redisleader.WithRenewDeadline(c.renewDeadline), redisleader.WithRetryPeriod(c.retryPeriod)); err != nil {
		return nil, err
	}
	if n.worker, err = n.s.Worker(taskQueue, redistask.WithConsumer(id), redistask.WithPool(c.pool),
		redistask.WithVisibilityTimeout(c.visibility), redistask.WithShutdownTimeout(c.visibility/2),
		redistask.WithPromoteInterval(50*time.Millisecond), redistask.WithDefaultTimeout(5*time.Second),
		redistask.WithBackoff(func(int, error) time.Duration { return 100 * time.Millisecond })); err != nil {
		return nil, err
	}
	if err = n.worker.Handle(taskName, n.post); err != nil {
		return nil, err
	}
	events, err := n.s.Events(event.WithBlock(50 * time.Millisecond))
	if err != nil {
		return nil, err
	}
	if n.topic, err = events.CreateTopic(ctx, topicName, c.partitions); err != nil {
		return nil, err
	}
	n.consumer, err = n.topic.Consumer(auditGroup, d.audit, event.WithMemberID(id), event.WithLease(c.lease),
		event.WithBatch(16), event.WithLeaveOnStop(true), event.WithHooks(event.Hooks{
			OnAssign: func(p int, _ uint64, _ event.Offset) { d.assigned(id, p) },
			OnRevoke: func(p int, _ error) { d.revoked(id, p) },
		}))
	if err != nil {
		return nil, err
	}
	return n, nil
}

// start runs the node: campaign (and lead), work, consume.
func (n *node) start() {
	n.wg.Go(n.campaign)
	n.wg.Go(func() { n.worker.Run(n.ctx) })
	n.wg.Go(func() { n.consumer.Run(n.ctx) })
}

// kill crashes the node: its connection fails every command from now on
// (nothing is resigned, released or acknowledged) and its goroutines end.
func (n *node) kill() {
	n.crash.dead.Store(true)
	n.cancel()
}

// stop shuts the node down gracefully: the leader resigns, workers finish
// their tasks, the consumer leaves the group.
func (n *node) stop() { n.cancel() }

func (n *node) dead() bool { return n.crash.dead.Load() }

// close waits for the node's goroutines and closes its facade and
// connection.
func (n *node) close() {
	n.cancel()
	n.wg.Wait()
	n.s.Close()
	n.client.Close()
}

// campaign campaigns until elected, leads until the leadership or the node
// ends, and campaigns again (after a lost leadership).
func (n *node) campaign() {
	for n.ctx.Err() == nil {
		ld, err := n.elector.Campaign(n.ctx, n.id)
		if err != nil {
			sleep(n.ctx, 50*time.Millisecond)
			continue
		}
		n.d.elected(n, ld)
		n.lead(ld)
		switch {
		case n.dead():
			return // a crash: no resign; the lease runs out on Redis
		case n.ctx.Err() != nil:
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			ld.Resign(ctx)
			cancel()
			n.d.leaderGone(n, ld, "resigned")
			return
		default:
			n.d.leaderGone(n, ld, fmt.Sprintf("lost the leadership (%v)", ld.Err()))
		}
	}
}

// lead runs the Scheduler while n leads (and until scheduling stops), then
// holds the leadership until it or the node ends.
func (n *node) lead(ld *redisleader.Leadership) {
	d := n.d
	ctx, cancel := context.WithCancel(ld.Context())
	defer cancel()
	defer context.AfterFunc(n.ctx, cancel)()
	defer context.AfterFunc(d.schedCtx, cancel)()
	if d.schedulerStarted() {
		func() {
			defer d.schedWG.Done()
			sched, err := redistask.NewScheduler(n.client, taskQueue, redistask.WithSchedulerPrefix(d.cfg.prefix))
			if err != nil {
				d.fail(err)
				return
			}
			for _, name := range d.periodic {
				if err := sched.Add(name, d.cfg.spec(), redistask.Task{Name: taskName, Payload: []byte(name)}); err != nil {
					d.fail(err)
					return
				}
			}
			sched.Run(ctx)
		}()
	}
	select {
	case <-ld.Done():
	case <-n.ctx.Done():
	}
}

// post is the periodic task's handler: it adds 1 to an account's balance
// under the account's lock, writing through the FencedStore with the
// lock's token, and publishes the new balance as an event keyed by the
// account, still under the lock and fenced by its token (so per account,
// events go out in token order).
func (n *node) post(ctx context.Context, t *redistask.Task) error {
	d := n.d
	name := string(t.Payload)
	account, _, _ := strings.Cut(name, "/")
	tick := tickID(name, t.EnqueuedAt)
	d.runs.Add(1)
	n.busy.Add(1)
	defer n.busy.Add(-1)
	if d.claimPause() {
		return n.pausedHolder(ctx, account)
	}
	lk, err := n.locker.Acquire(ctx, account, redislock.TTL(d.cfg.lockTTL))
	if err != nil {
		return err
	}
	defer release(lk)
	d.locks.Add(1)
	v, _, err := n.store.Read(ctx, account)
	if err != nil {
		return err
	}
	balance, _ := strconv.Atoi(v) // "" before the first write
	balance++
	if err := n.store.Write(ctx, account, lk.Token(), strconv.Itoa(balance)); err != nil {
		if errors.Is(err, redislock.ErrStaleToken) {
			d.rejected.Add(1)
		}
		return err
	}
	d.wrote(account)
	if !lk.Valid() {
		return fmt.Errorf("lock on %s lost before publishing", account) // retried; the write is fenced
	}
	id := eventID(account, lk.Token())
	// Fenced too: had the lock run out between the check and the
	// publish, a successor's event for the account would reject this one.
	rc, err := n.topic.Publish(ctx, event.Event{Key: account, ID: id,
		Fence:   event.Fence{Name: account, Token: lk.Token()},
		Payload: fmt.Appendf(nil, "%s balance=%d token=%d node=%s", account, balance, lk.Token(), n.id)})
	if err != nil {
		return err
	}
	d.publishedEvent(account, id, rc.Offset)
	d.finished(tick, n.id, time.Since(t.EnqueuedAt))
	return nil
}

// pausedHolder plays a holder that reads, then stops (a GC pause, a
// SIGSTOP) past its lock's TTL while others take the lock and write, and
// finally writes what it computed before the pause. The FencedStore
// rejects it: without fencing, that write would overwrite newer balances
// (a lost update). The task fails and is retried.
func (n *node) pausedHolder(ctx context.Context, account string) error {
	d := n.d
	lk, err := n.locker.Acquire(ctx, account, redislock.TTL(d.cfg.pauseTTL))
	if err != nil {
		d.pauseDone(false)
		return err
	}
	defer release(lk)
	d.locks.Add(1)
	v, _, err := n.store.Read(ctx, account)
	if err != nil {
		d.pauseDone(false)
		return err
	}
	balance, _ := strconv.Atoi(v)
	d.con.logf("%s locks %s with token %d (TTL %v), reads balance %d, then stalls (think: a long GC pause)",
		n.id, account, lk.Token(), d.cfg.pauseTTL, balance)
	paused := time.Now()
	var newer uint64
	for newer <= lk.Token() && time.Since(paused) < 5*time.Second {
		if !sleep(ctx, 20*time.Millisecond) {
			break
		}
		if _, tok, err := n.store.Read(ctx, account); err == nil {
			newer = tok
		}
	}
	d.con.logf("%s resumes after %v: lock valid=%v; meanwhile %s was written with token %d",
		n.id, time.Since(paused).Round(time.Millisecond), lk.Valid(), account, newer)
	err = n.store.Write(ctx, account, lk.Token(), strconv.Itoa(balance+1))
	if errors.Is(err, redislock.ErrStaleToken) {
		d.rejected.Add(1)
		d.pauseDone(true)
		d.con.more("its write of balance %d with token %d is rejected, as it would have overwritten newer balances:", balance+1, lk.Token())
		d.con.more("%v. The task is retried.", err)
		return err
	}
	d.pauseDone(false) // nobody wrote meanwhile: try again with a later task
	if err != nil {
		return err
	}
	d.wrote(account)
	return errors.New("paused holder: nobody wrote during the pause; the task runs again")
}

func release(lk *redislock.Lock) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	lk.Release(ctx)
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func tickID(periodic string, at time.Time) string {
	return periodic + "@" + strconv.FormatInt(at.UnixMilli(), 10)
}

func eventID(account string, token uint64) string {
	return account + "/" + strconv.FormatUint(token, 10)
}

// errCrashed is what a killed node's connection answers to every command.
var errCrashed = errors.New("syncdemo: node crashed")

// crashHook makes a connection fail every command once dead is set, as
// a crashed process's would; commands already sent complete.
type crashHook struct{ dead atomic.Bool }

func (h *crashHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h.dead.Load() {
			return nil, errCrashed
		}
		return next(ctx, network, addr)
	}
}

func (h *crashHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.dead.Load() {
			cmd.SetErr(errCrashed)
			return errCrashed
		}
		return next(ctx, cmd)
	}
}

func (h *crashHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.dead.Load() {
			for _, c := range cmds {
				c.SetErr(errCrashed)
			}
			return errCrashed
		}
		return next(ctx, cmds)
	}
}
