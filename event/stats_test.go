package event

import (
	"context"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	for _, b := range realBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			rdb := b.client(t)
			c := newClient(t, rdb)
			tp := newTopic(t, c, "orders", 2)
			st, err := tp.Stats(ctx)
			if err != nil || st.Topic != "orders" || len(st.Partitions) != 2 || len(st.Groups) != 0 || st.Partitions[1].Length != 0 {
				t.Fatalf("empty topic: %+v, %v", st, err)
			}
			var evs []Event
			for range 5 {
				evs = append(evs, Event{Key: "a"})
			}
			rs, err := tp.PublishBatch(ctx, evs)
			if err != nil {
				t.Fatal(err)
			}
			p := rs[0].Partition
			// A group positioned before the third event lags by three there
			// and by nothing in the empty partition.
			if err := tp.ResetGroup(ctx, "audit", FromOffset(rs[2].Offset)); err != nil {
				t.Fatal(err)
			}
			st, err = tp.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ps := st.Partitions[p]
			if ps.Length != 5 || ps.First != rs[0].Offset || ps.Last != rs[4].Offset {
				t.Fatalf("partition %d: %+v, want 5 events %v..%v", p, ps, rs[0].Offset, rs[4].Offset)
			}
			if len(st.Groups) != 1 || st.Groups[0].Group != "audit" || len(st.Groups[0].Members) != 0 {
				t.Fatalf("groups: %+v", st.Groups)
			}
			gp := st.Groups[0].Partitions[p]
			if !gp.HasCommitted || gp.Lag != 3 || gp.LagCapped || gp.Owner != "" || gp.Token != 0 {
				t.Fatalf("audit in partition %d: %+v, want lag 3", p, gp)
			}
			if other := st.Groups[0].Partitions[1-p]; other.Lag != 0 {
				t.Fatalf("audit in the empty partition: %+v", other)
			}

			// A running member owns both partitions and catches up.
			cons, err := tp.Consumer("billing", func(context.Context, *Event) error { return nil },
				WithMemberID("m1"), WithLease(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			stop := run(t, cons)
			var gs GroupStats
			waitFor(t, 10*time.Second, "m1 to own both partitions and catch up", func() bool {
				st, err := tp.Stats(ctx)
				if err != nil || len(st.Groups) != 2 {
					return false
				}
				gs = st.Groups[1]
				for _, gp := range gs.Partitions {
					if gp.Owner != "m1" || gp.Token == 0 || gp.Lag != 0 || gp.LeaseTTL <= 0 {
						return false
					}
				}
				return gs.Group == "billing" && len(gs.Members) == 1 && gs.Members[0] == "m1" && gs.Partitions[p].Committed == rs[4].Offset
			})
			stop()
			st, err = tp.Stats(ctx)
			if err != nil || st.Groups[1].Partitions[p].Owner != "" || len(st.Groups[1].Members) != 0 {
				t.Fatalf("after the member left: %+v, %v", st.Groups[1], err)
			}
		})
	}
}

func TestLagScriptStopsAtTheLimit(t *testing.T) {
	ctx := t.Context()
	rdb := oneBackend.client(t)
	c := newClient(t, rdb)
	tp := newTopic(t, c, "big", 1)
	evs := make([]Event, 2500)
	rs, err := tp.PublishBatch(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		after        Offset
		limit, wants int64
	}{
		{Offset{}, 10_000, 2500},
		{Offset{}, 1200, 1200},
		{rs[0].Offset, 10_000, 2499},
		{rs[1499].Offset, 1000, 1000},
		{rs[2499].Offset, 10, 0},
	} {
		n, err := lagCountScript.Run(ctx, rdb, []string{tp.StreamKey(0)}, tt.after.String(), tt.limit).Int64()
		if err != nil || n != tt.wants {
			t.Errorf("lag after %v, limit %d = %d, %v; want %d", tt.after, tt.limit, n, err, tt.wants)
		}
	}
}
