package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// rawRelease is the classic compare-and-delete release script.
var rawRelease = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// baselines measures raw Redis commands: the physical limits the library's
// figures are compared with.
func baselines(e *env) ([]comparison, error) {
	c := e.one.Client()
	ctx := e.ctx
	var out []comparison

	ping, err := throughput(e.d, 1, func() error { return c.Ping(ctx).Err() })
	if err != nil {
		return nil, err
	}
	ping.extra = fmt.Sprintf("%.0f µs/op", 1e6/ping.value)
	out = append(out, comparison{name: "raw PING round trip, 1 node", ours: ping})

	i := 0
	lock, err := throughput(e.d, 1, func() error {
		i++
		v := strconv.Itoa(i)
		ok, err := c.SetNX(ctx, "bench:raw:lock", v, 10*time.Second).Result()
		if err != nil || !ok {
			return fmt.Errorf("SET NX: %v %v", ok, err)
		}
		return rawRelease.Run(ctx, c, []string{"bench:raw:lock"}, v).Err()
	})
	if err != nil {
		return nil, err
	}
	lock.extra = fmt.Sprintf("%.0f µs/op", 1e6/lock.value)
	out = append(out, comparison{name: "raw SET NX PX + release script, 1 node", ours: lock})

	const batch = 100
	stream := "bench:raw:stream"
	xadd, err := throughput(e.d, batch, func() error {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for range batch {
				p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"n", "task", "p", "payload"}})
			}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	xadd.unit = "msgs/s"
	out = append(out, comparison{name: "raw XADD pipelined x100", ours: xadd})

	// Consume what was just added: XREADGROUP COUNT 100 + XACK.
	n, err := c.XLen(ctx, stream).Result()
	if err != nil {
		return nil, err
	}
	if err := c.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		return nil, err
	}
	start, read := time.Now(), int64(0)
	for read < n && time.Since(start) < e.d {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: batch, Block: -1}).Result()
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, batch)
		for _, m := range res[0].Messages {
			ids = append(ids, m.ID)
		}
		if err := c.XAck(ctx, stream, "g", ids...).Err(); err != nil {
			return nil, err
		}
		read += int64(len(ids))
	}
	consume := result{value: float64(read) / time.Since(start).Seconds(), unit: "msgs/s"}
	out = append(out, comparison{name: "raw XREADGROUP COUNT 100 + XACK", ours: consume})
	return out, c.Del(ctx, stream).Err()
}
