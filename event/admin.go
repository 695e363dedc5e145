package event

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

func itoa(i int) string { return strconv.Itoa(i) }

// Committed returns the group's committed offset per partition (the
// offset of the last event handled; the zero Offset for "before the
// first"). Partitions the group never owned are absent.
func (t *Topic) Committed(ctx context.Context, group string) (map[int]Offset, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	cmds := make([]*redis.StringCmd, t.n)
	_, err := t.c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for p := range t.n {
			cmds[p] = pipe.HGet(ctx, t.offsetsKey(p), group)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrapErr(err)
	}
	out := map[int]Offset{}
	for p, c := range cmds {
		s, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, wrapErr(err)
		}
		if out[p], err = ParseOffset(s); err != nil {
			return nil, fmt.Errorf("%w: committed offset %q", ErrCorrupt, s)
		}
	}
	return out, nil
}

// Members returns the group's live members.
func (t *Topic) Members(ctx context.Context, group string) ([]string, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	now, err := t.c.rdb.Time(ctx).Result()
	if err != nil {
		return nil, err
	}
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	m, err := t.c.rdb.ZRangeByScore(ctx, t.membersKey(group), &redis.ZRangeBy{Min: "(" + ms, Max: "+inf"}).Result()
	return m, wrapErr(err)
}

// ResetGroup moves the group's offset in every partition to pos (for
// End, the last event now; for offsets and times, just before them), so
// the group next consumes from there. Run it while the group has no
// members: it returns ErrGroupActive otherwise (the check and the reset
// are not atomic; a member joining meanwhile may commit over the reset).
func (t *Topic) ResetGroup(ctx context.Context, group string, pos Position) error {
	m, err := t.Members(ctx, group)
	if err != nil {
		return err
	}
	if len(m) > 0 {
		return fmt.Errorf("%w: %q has %d", ErrGroupActive, group, len(m))
	}
	for p := range t.n {
		off, err := t.resolve(ctx, p, pos)
		if err != nil {
			return err
		}
		if err := t.c.rdb.HSet(ctx, t.offsetsKey(p), group, off.String()).Err(); err != nil {
			return wrapErr(err)
		}
	}
	return nil
}

// DeleteGroup forgets the group's committed offsets, so retention no
// longer waits for it. Owner tokens are kept (they must never go down).
func (t *Topic) DeleteGroup(ctx context.Context, group string) error {
	if err := validateGroup(group); err != nil {
		return err
	}
	_, err := t.c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for p := range t.n {
			pipe.HDel(ctx, t.offsetsKey(p), group)
		}
		return nil
	})
	return wrapErr(err)
}

// Retention says which events Trim removes.
type Retention struct {
	MaxLen int64         // keep at most this many events per partition; 0: no length limit
	MaxAge time.Duration // remove events older than this (by offset time, Redis's clock); 0: no age limit
	// IgnoreGroups trims even events that a group has not committed yet.
	// By default Trim never removes an event after the lowest committed
	// offset of any group that has one (a group created from Beginning
	// holds everything until it commits; DeleteGroup releases that hold).
	IgnoreGroups bool
}

// Trim removes old events from every partition per r and returns how
// many it removed. Each partition is one script (XTRIM MINID), so it is
// safe while publishers and consumers run. Call it periodically (for
// example from a redistask periodic task). Errors: ErrBadOption for a
// negative limit; Redis's error.
func (t *Topic) Trim(ctx context.Context, r Retention) (int64, error) {
	if r.MaxLen < 0 || r.MaxAge < 0 {
		return 0, fmt.Errorf("%w: retention %+v", ErrBadOption, r)
	}
	if r.MaxLen == 0 && r.MaxAge == 0 {
		return 0, nil
	}
	minid := ""
	if r.MaxAge > 0 {
		now, err := t.c.rdb.Time(ctx).Result()
		if err != nil {
			return 0, err
		}
		minid = Offset{Ms: uint64(max(now.Add(-r.MaxAge).UnixMilli(), 0))}.String()
	}
	ignore := "0"
	if r.IgnoreGroups {
		ignore = "1"
	}
	var total int64
	for p := range t.n {
		res, err := trimScript.Run(ctx, t.c.rdb, []string{t.streamKey(p), t.offsetsKey(p)}, r.MaxLen, minid, ignore).Slice()
		if err != nil {
			return total, wrapErr(err)
		}
		n, _ := res[0].(int64)
		total += n
	}
	return total, nil
}

// PartitionLag is how far a consumer group is behind in one partition.
type PartitionLag struct {
	Partition int
	Committed Offset // the group's committed offset
	Next      Offset // the first event after Committed; zero when the group is caught up
	Last      Offset // the partition's last event; zero when it is empty
	// Behind is the age, by Redis's clock, of the oldest event the group
	// has not handled (Next); zero when the group is caught up.
	Behind time.Duration
}

// Lag returns how far group is behind in each partition it has a
// committed offset in (those it never owned are absent), in partition
// order. It costs one pipelined round trip (one per node on a cluster):
// per partition a script reading the committed offset, the ids of the
// next and last events (no payloads) and Redis's time. Errors:
// ErrInvalidGroup, ErrCorrupt, Redis's error.
func (t *Topic) Lag(ctx context.Context, group string) ([]PartitionLag, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	cmds := make([]*redis.Cmd, t.n)
	_, err := t.c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for p := range t.n {
			cmds[p] = lagScript.Eval(ctx, pipe, []string{t.streamKey(p), t.offsetsKey(p)}, group)
		}
		return nil
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	var out []PartitionLag
	for p, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			return nil, wrapErr(err)
		}
		if len(res) != 4 {
			return nil, fmt.Errorf("%w: lag reply %v", ErrCorrupt, res)
		}
		committed, _ := res[0].(string)
		if committed == "" {
			continue
		}
		l := PartitionLag{Partition: p}
		var offs [3]Offset
		for i := range offs {
			s, _ := res[i].(string)
			if s == "" {
				continue
			}
			if offs[i], err = ParseOffset(s); err != nil {
				return nil, fmt.Errorf("%w: offset %q", ErrCorrupt, s)
			}
		}
		l.Committed, l.Next, l.Last = offs[0], offs[1], offs[2]
		if now, _ := res[3].(int64); l.Next != (Offset{}) {
			l.Behind = max(time.Duration(now-int64(l.Next.Ms))*time.Millisecond, 0)
		}
		out = append(out, l)
	}
	return out, nil
}
