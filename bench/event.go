package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/redis/go-redis/v9"
)

// events compares the event package with raw Redis Streams commands on
// the same server (ANCHORS.md section 5): batch publishing against
// pipelined XADD, group consumption with fenced commits against
// XREADGROUP + XACK, and publish-to-handler latency at low load.
func events(e *env) ([]comparison, error) {
	ctx := e.ctx
	rdb := e.one.Client()
	defer rdb.Close()
	c, err := event.New(rdb, event.WithPrefix("benchevent"))
	if err != nil {
		return nil, err
	}
	var out []comparison
	payload := []byte("payload-of-some-64-bytes-0123456789abcdef0123456789abcdef012345")
	const batch = 100

	// Publish: 100 events per call, keyed over 100 keys, 8 partitions.
	tp, err := c.CreateTopic(ctx, "pub", 8)
	if err != nil {
		return nil, err
	}
	evs := make([]event.Event, batch)
	for i := range evs {
		evs[i] = event.Event{Key: "key-" + strconv.Itoa(i), Payload: payload}
	}
	ours, err := throughput(e.d, batch, func() error { _, err := tp.PublishBatch(ctx, evs); return err })
	if err != nil {
		return nil, err
	}
	raw, err := throughput(e.d, batch, func() error {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range batch {
				p.XAdd(ctx, &redis.XAddArgs{Stream: "bench:ev:raw", Values: []any{"k", evs[i].Key, "v", payload}})
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	ours.unit, raw.unit = "msgs/s", "msgs/s"
	out = append(out, comparison{name: "event PublishBatch x100 vs raw XADD pipelined x100", ours: ours, peer: raw, target: ">= 0.5x"})
	rdb.Del(ctx, "bench:ev:raw")

	// Consume + commit: one partition each, prefilled with n events.
	const n = 100_000
	ctp, err := c.CreateTopic(ctx, "consume", 1)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i += batch {
		if _, err := ctp.PublishBatch(ctx, evs); err != nil {
			return nil, err
		}
	}
	var handled atomic.Int64
	cons, err := ctp.Consumer("bench", func(context.Context, *event.Event) error { handled.Add(1); return nil }, event.WithBatch(batch))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- cons.Run(cctx) }()
	for handled.Load() < n && time.Since(start) < 30*time.Second {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return nil, err
	}
	if handled.Load() < n {
		return nil, fmt.Errorf("consumer handled %d of %d events in 30s", handled.Load(), n)
	}
	oursC := result{value: float64(n) / el.Seconds(), unit: "msgs/s", extra: "1 partition, batch 100, fenced commit per batch"}
	stream := "bench:ev:rawgroup"
	for i := 0; i < n; i += batch {
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range batch {
				p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"k", "key", "v", payload}})
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := rdb.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		return nil, err
	}
	start, read := time.Now(), 0
	for read < n {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: batch, Block: -1}).Result()
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, batch)
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := rdb.XAck(ctx, stream, "g", ids...).Err(); err != nil {
			return nil, err
		}
		read += len(ids)
	}
	rawC := result{value: float64(read) / time.Since(start).Seconds(), unit: "msgs/s"}
	out = append(out, comparison{name: "event group consume+commit vs raw XREADGROUP x100 + XACK", ours: oursC, peer: rawC, target: ">= 0.5x"})
	rdb.Del(ctx, stream)

	// Latency at low load: one event every 2 ms, publish to handler.
	lat, err := eventLatency(ctx, c)
	if err != nil {
		return nil, err
	}
	rawLat, err := rawStreamLatency(ctx, rdb)
	if err != nil {
		return nil, err
	}
	out = append(out, comparison{name: "event publish-to-handler latency p50 vs raw XADD->XREAD BLOCK", ours: lat, peer: rawLat, target: "p50 <= 2 ms"})
	return out, nil
}

const eventLatencySamples = 500

func eventLatencyResult(ds []time.Duration) result {
	return result{value: float64(percentile(ds, 50).Microseconds()), unit: "µs",
		extra: fmt.Sprintf("p99 %v", percentile(ds, 99).Round(time.Microsecond))}
}

func eventLatency(ctx context.Context, c *event.Client) (result, error) {
	tp, err := c.CreateTopic(ctx, "latency", 4)
	if err != nil {
		return result{}, err
	}
	got := make(chan time.Duration, eventLatencySamples)
	ready := make(chan struct{}, 4)
	cons, err := tp.Consumer("bench", func(_ context.Context, ev *event.Event) error {
		ns, err := strconv.ParseInt(string(ev.Payload), 10, 64)
		if err != nil {
			return err
		}
		got <- time.Since(time.Unix(0, ns))
		return nil
	}, event.WithStart(event.End()), event.WithHooks(event.Hooks{OnAssign: func(int, uint64, event.Offset) { ready <- struct{}{} }}))
	if err != nil {
		return result{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cons.Run(cctx) }()
	for range 4 {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			return result{}, errors.New("latency consumer got no partitions")
		}
	}
	time.Sleep(50 * time.Millisecond)
	ds := make([]time.Duration, 0, eventLatencySamples)
	for i := range eventLatencySamples {
		if _, err := tp.Publish(ctx, event.Event{Key: strconv.Itoa(i), Payload: strconv.AppendInt(nil, time.Now().UnixNano(), 10)}); err != nil {
			return result{}, err
		}
		select {
		case d := <-got:
			ds = append(ds, d)
		case <-time.After(5 * time.Second):
			return result{}, errors.New("latency event not delivered")
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		return result{}, err
	}
	return eventLatencyResult(ds), nil
}

func rawStreamLatency(ctx context.Context, rdb *redis.Client) (result, error) {
	const stream = "bench:ev:rawlat"
	got := make(chan time.Duration, eventLatencySamples)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reader := make(chan struct{})
	defer func() { cancel(); <-reader }()
	go func() {
		defer close(reader)
		cursor := "$"
		for cctx.Err() == nil {
			res, err := rdb.XRead(cctx, &redis.XReadArgs{Streams: []string{stream, cursor}, Count: 100, Block: 200 * time.Millisecond}).Result()
			if err != nil {
				continue
			}
			for _, m := range res[0].Messages {
				ns, _ := strconv.ParseInt(m.Values["t"].(string), 10, 64)
				got <- time.Since(time.Unix(0, ns))
				cursor = m.ID
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	ds := make([]time.Duration, 0, eventLatencySamples)
	for range eventLatencySamples {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"t", time.Now().UnixNano()}}).Err(); err != nil {
			return result{}, err
		}
		select {
		case d := <-got:
			ds = append(ds, d)
		case <-time.After(5 * time.Second):
			return result{}, errors.New("raw latency event not delivered")
		}
		time.Sleep(2 * time.Millisecond)
	}
	rdb.Del(ctx, stream)
	return eventLatencyResult(ds), nil
}
