package event

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/go-sync/sync/internal/script"
	"github.com/go-sync/sync/redislock"
	"github.com/redis/go-redis/v9"
)

var lagCountScript = script.Load(scriptFS, "scripts/lagcount.lua")

// LagLimit is where Stats stops counting a group's lag in a partition
// (GroupPartition.LagCapped): counting is a scan of the events after the
// committed offset, inside Redis.
const LagLimit = 100_000

// TopicStats describes a topic at one moment, for operators.
type TopicStats struct {
	Topic      string
	Partitions []PartitionStats // one per partition, in order
	Groups     []GroupStats     // groups holding offsets or owner tokens, by name
}

// PartitionStats describes one partition.
type PartitionStats struct {
	Partition int
	Length    int64  // events retained
	First     Offset // oldest retained event; zero when empty
	Last      Offset // newest event; zero when empty
}

// GroupStats describes one consumer group of a topic.
type GroupStats struct {
	Group      string
	Members    []string         // live members, sorted
	Partitions []GroupPartition // one per partition, in order
}

// GroupPartition is a consumer group's state in one partition.
type GroupPartition struct {
	Partition int
	// Owner is the member holding the partition's lease; "" when none does.
	Owner string
	// LeaseTTL is the lease's remaining time; 0 when there is no owner.
	LeaseTTL time.Duration
	// Token is the highest owner fencing token registered in the
	// partition; 0 when the group never claimed it.
	Token uint64
	// Committed is the committed offset (the last event handled);
	// HasCommitted is false when the group has none in this partition.
	Committed    Offset
	HasCommitted bool
	// Lag is the number of retained events after Committed (all of them
	// without a committed offset); when LagCapped, counting stopped at
	// LagLimit and the lag is at least that.
	Lag       int64
	LagCapped bool
}

// Stats reads the topic's partitions and consumer groups: lengths, first
// and last offsets, each group's live members and, per partition, its
// owner, token, committed offset and lag. It changes nothing. Errors:
// ErrCorrupt for a stored offset or token this package did not write,
// ErrWrongType, Redis's error.
func (t *Topic) Stats(ctx context.Context) (TopicStats, error) {
	st := TopicStats{Topic: t.name, Partitions: make([]PartitionStats, t.n)}
	var (
		xlen    = make([]*redis.IntCmd, t.n)
		first   = make([]*redis.XMessageSliceCmd, t.n)
		last    = make([]*redis.XMessageSliceCmd, t.n)
		offsets = make([]*redis.MapStringStringCmd, t.n)
		tokens  = make([]*redis.MapStringStringCmd, t.n)
	)
	_, err := t.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range t.n {
			xlen[i] = p.XLen(ctx, t.streamKey(i))
			first[i] = p.XRangeN(ctx, t.streamKey(i), "-", "+", 1)
			last[i] = p.XRevRangeN(ctx, t.streamKey(i), "+", "-", 1)
			offsets[i] = p.HGetAll(ctx, t.offsetsKey(i))
			tokens[i] = p.HGetAll(ctx, t.tokensKey(i))
		}
		return nil
	})
	if err != nil {
		return TopicStats{}, wrapErr(err)
	}
	groups := map[string]bool{}
	for i := range t.n {
		ps := PartitionStats{Partition: i, Length: xlen[i].Val()}
		if m := first[i].Val(); len(m) > 0 {
			ps.First, _ = ParseOffset(m[0].ID)
		}
		if m := last[i].Val(); len(m) > 0 {
			ps.Last, _ = ParseOffset(m[0].ID)
		}
		st.Partitions[i] = ps
		for g := range offsets[i].Val() {
			groups[g] = true
		}
		for g := range tokens[i].Val() {
			groups[g] = true
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		gs, err := t.groupStats(ctx, g, st.Partitions, offsets, tokens)
		if err != nil {
			return TopicStats{}, err
		}
		st.Groups = append(st.Groups, gs)
	}
	return st, nil
}

func (t *Topic) groupStats(ctx context.Context, group string, parts []PartitionStats, offsets, tokens []*redis.MapStringStringCmd) (GroupStats, error) {
	gs := GroupStats{Group: group, Partitions: make([]GroupPartition, t.n)}
	if err := validateGroup(group); err == nil {
		m, err := t.Members(ctx, group)
		if err != nil {
			return GroupStats{}, err
		}
		slices.Sort(m)
		gs.Members = m
	}
	holders := make([]*redis.StringCmd, t.n)
	ttls := make([]*redis.DurationCmd, t.n)
	_, err := t.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range t.n {
			lease := t.c.keys.Key(kind, t.leaseName(i, group))
			holders[i] = p.Get(ctx, lease)
			ttls[i] = p.PTTL(ctx, lease)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return GroupStats{}, wrapErr(err)
	}
	for i := range t.n {
		gp := GroupPartition{Partition: i}
		if h := holders[i].Val(); h != "" {
			gp.Owner = redislock.OwnerOf(h)
			gp.LeaseTTL = max(ttls[i].Val(), 0)
		}
		if s, ok := tokens[i].Val()[group]; ok {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return GroupStats{}, fmt.Errorf("%w: owner token %q of %q in partition %d", ErrCorrupt, s, group, i)
			}
			gp.Token = v
		}
		if s, ok := offsets[i].Val()[group]; ok {
			off, err := ParseOffset(s)
			if err != nil {
				return GroupStats{}, fmt.Errorf("%w: committed offset %q of %q in partition %d", ErrCorrupt, s, group, i)
			}
			gp.Committed, gp.HasCommitted = off, true
		}
		p := parts[i]
		switch {
		case p.Length == 0 || !gp.Committed.Less(p.Last):
			gp.Lag = 0
		case gp.Committed.Less(p.First):
			gp.Lag = p.Length
		default:
			n, err := lagCountScript.Run(ctx, t.c.rdb, []string{t.streamKey(i)}, gp.Committed.String(), LagLimit).Int64()
			if err != nil {
				return GroupStats{}, wrapErr(err)
			}
			gp.Lag, gp.LagCapped = n, n >= LagLimit
		}
		gs.Partitions[i] = gp
	}
	return gs, nil
}
