package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sync/sync/event"
)

// published is an event as its publisher saw it appended.
type published struct {
	id     string
	offset event.Offset
}

// publishedEvent records an event appended for account.
func (d *demo) publishedEvent(account, id string, off event.Offset) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pubs[account] = append(d.pubs[account], published{id, off})
	d.published.Add(1)
}

// audit is the consumer group's handler. Per account, events must come in
// the order they were appended (offset order); finish also checks that
// none was skipped. A redelivery (at least once: a batch a crashed member
// had not committed comes again) is recognised by its event ID and counted
// apart. Tokens should increase too, since each event is published under
// the lock whose token it carries; one that does not comes from a holder
// that stalled past its TTL between its check of the lock and its
// publish, which the storage fence cannot stop: a consumer that applies
// events would drop it by its token.
func (d *demo) audit(_ context.Context, ev *event.Event) error {
	i := strings.LastIndexByte(ev.ID, '/')
	var tok uint64
	var err error
	if i < 0 || ev.ID[:i] != ev.Key {
		err = fmt.Errorf("event ID %q does not match key %q", ev.ID, ev.Key)
	} else {
		tok, err = strconv.ParseUint(ev.ID[i+1:], 10, 64)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		d.outOfOrder++
		d.firstBad = err.Error()
	case d.seen[ev.ID]:
		d.redelivered++
	default:
		d.seen[ev.ID] = true
		d.consumed++
		d.order[ev.Key] = append(d.order[ev.Key], ev.ID)
		if last := d.lastOffset[ev.Key]; !last.Less(ev.Offset) {
			d.outOfOrder++
			if d.firstBad == "" {
				d.firstBad = fmt.Sprintf("%s: offset %v after %v (partition %d)", ev.Key, ev.Offset, last, ev.Partition)
			}
		} else {
			d.lastOffset[ev.Key] = ev.Offset
		}
		if tok <= d.lastToken[ev.Key] {
			d.stale++
		} else {
			d.lastToken[ev.Key] = tok
		}
	}
	return nil
}

// assigned records that member owns partition p; after the kill, it
// reports the killed node's partitions taken over.
func (d *demo) assigned(member string, p int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.lastOwner[p]
	d.owner[p], d.lastOwner[p] = member, member
	if d.killed != nil && prev == d.killed.id && member != prev && !d.stopping {
		d.takeovers++
		d.con.logf("%s takes over partition %d from %s (its lease ran out), %v after the kill",
			member, p, prev, time.Since(d.killedAt).Round(10*time.Millisecond))
	}
}

func (d *demo) revoked(member string, p int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owner[p] == member {
		delete(d.owner, p)
	}
}
