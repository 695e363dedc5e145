package redistask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// The RunCommand calls of one Producer on one queue share a listener: one
// goroutine on one connection, popping the reports of every waiting call
// with one BLPOP over all their reply keys (they share the queue's hash
// tag, so this works on Redis Cluster too). A call that starts while the
// listener is blocked adds a wake-up to the listener's wake key in the
// round trip that pushes its runs (the key is first in the BLPOP), so the
// listener takes the new reply key in at once. The listener ends, and
// deletes its wake key, when no call is left waiting; the next call starts
// a new one.
//
// Before, each waiting call held a pooled connection in its own BLPOP, and
// 50 concurrent calls on a client shared with workers left the workers no
// connection (42 of 50 calls timed out).

// listenWait is the longest BLPOP of a listener: how long it may outlive
// its last call, and how often an idle listener polls.
const listenWait = 250 * time.Millisecond

// listenBackoff is the pause after a BLPOP error, which every waiting call
// has been told of.
const listenBackoff = 100 * time.Millisecond

// wakeTTL bounds how long a wake key left behind (its listener died with
// its process) survives.
const wakeTTL = time.Minute

type replyListener struct {
	p    *Producer
	wake string // the wake key

	mu      stdsync.Mutex
	calls   map[string]*replyWaiter // by reply key
	running bool
}

// replyWaiter is one RunCommand call's mailbox.
type replyWaiter struct {
	msgs chan string // reports, "<index>:<outcome>"
	errs chan error  // BLPOP errors; buffered for one
}

// listener returns the Producer's listener for queue k.
func (p *Producer) listener(k queueKeys) *replyListener {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if l := p.listeners[k.queue]; l != nil {
		return l
	}
	var b [8]byte
	rand.Read(b[:])
	l := &replyListener{p: p, wake: k.space.Key("task", k.queue, "wake", hex.EncodeToString(b[:])), calls: map[string]*replyWaiter{}}
	if p.listeners == nil {
		p.listeners = map[string]*replyListener{}
	}
	p.listeners[k.queue] = l
	return l
}

// register adds a call waiting for n runs' reports on key, starting the
// listener if it is not running.
func (l *replyListener) register(key string, n int) *replyWaiter {
	// Room for every run to report twice (a reclaimed run may): the
	// listener never blocks on a call.
	w := &replyWaiter{msgs: make(chan string, 2*n), errs: make(chan error, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[key] = w
	if !l.running {
		l.running = true
		go l.run()
	}
	return w
}

func (l *replyListener) unregister(key string) {
	l.mu.Lock()
	delete(l.calls, key)
	l.mu.Unlock()
}

// wakeUp queues the commands that wake the listener up, for a call's
// first round trip.
func (l *replyListener) wakeUp(ctx context.Context, pipe redis.Pipeliner) {
	pipe.RPush(ctx, l.wake, "1")
	pipe.PExpire(ctx, l.wake, wakeTTL)
}

// minReadTimeout is the least client read timeout RunCommand works with:
// go-redis sends the listener's BLPOP through Do, unaware that it blocks,
// so it would cut off a BLPOP of listenWait (which Redis ends at its next
// tick, up to 100ms late by default) under a shorter read timeout.
const minReadTimeout = 2 * listenWait

// readTimeout returns c's read timeout, 0 for the default (3s) or none,
// when c is one of go-redis's clients.
func readTimeout(c redis.UniversalClient) time.Duration {
	var rt time.Duration
	switch c := c.(type) {
	case *redis.Client:
		rt = c.Options().ReadTimeout
	case *redis.ClusterClient:
		rt = c.Options().ReadTimeout
	case *redis.Ring:
		rt = c.Options().ReadTimeout
	}
	return max(rt, 0)
}

func (l *replyListener) run() {
	ctx := context.Background()
	wait := strconv.FormatFloat(listenWait.Seconds(), 'f', 3, 64)
	for {
		l.mu.Lock()
		if len(l.calls) == 0 {
			l.running = false
			l.mu.Unlock()
			// A wake-up left by a call that failed before it waited.
			// A call starting now starts a listener of its own, which
			// reads every reply key afresh: deleting its wake-up is
			// harmless.
			l.p.client.Del(ctx, l.wake)
			return
		}
		args := make([]any, 0, len(l.calls)+3)
		args = append(args, "BLPOP", l.wake)
		for key := range l.calls {
			args = append(args, key)
		}
		l.mu.Unlock()
		v, err := l.p.client.Do(ctx, append(args, wait)...).StringSlice()
		switch {
		case errors.Is(err, redis.Nil):
			continue
		case err != nil:
			l.fail(err)
			time.Sleep(listenBackoff)
			continue
		case len(v) != 2 || v[0] == l.wake:
			continue
		}
		l.mu.Lock()
		w := l.calls[v[0]]
		l.mu.Unlock()
		if w != nil { // else a report for a call that gave up
			select {
			case w.msgs <- v[1]:
			default: // a third report of one run: never counted
			}
		}
	}
}

// fail tells every waiting call of a BLPOP error.
func (l *replyListener) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.calls {
		select {
		case w.errs <- err:
		default:
		}
	}
}
