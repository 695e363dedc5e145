package event_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/event"
	"github.com/redis/go-redis/v9"
)

func Example() {
	m, _ := miniredis.Run()
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	c, _ := event.New(rdb)
	orders, _ := c.CreateTopic(ctx, "orders", 4)
	for _, p := range []string{"created", "paid", "shipped"} {
		orders.Publish(ctx, event.Event{Key: "order-42", Payload: []byte(p)})
	}
	// Idempotent publish: a retry with the same ID is not appended again.
	r1, _ := orders.Publish(ctx, event.Event{Key: "order-42", Payload: []byte("refunded"), ID: "refund-1"})
	r2, _ := orders.Publish(ctx, event.Event{Key: "order-42", Payload: []byte("refunded"), ID: "refund-1"})
	fmt.Println("retry duplicate:", r2.Duplicate, "same offset:", r1.Offset == r2.Offset)

	got := make(chan string)
	consumer, _ := orders.Consumer("billing", func(ctx context.Context, ev *event.Event) error {
		got <- string(ev.Payload)
		return nil
	}, event.WithLease(time.Second))
	ctx2, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- consumer.Run(ctx2) }()
	for range 4 {
		fmt.Println(<-got)
	}
	stop()
	<-done
	// Output:
	// retry duplicate: true same offset: true
	// created
	// paid
	// shipped
	// refunded
}
