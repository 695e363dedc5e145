package redisleader_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/redisleader"
	"github.com/redis/go-redis/v9"
)

func Example() {
	m, _ := miniredis.Run()
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()

	e, err := redisleader.New([]redis.UniversalClient{client}, "scheduler")
	if err != nil {
		panic(err)
	}
	defer e.Close()

	ctx := context.Background()
	ld, err := e.Campaign(ctx, "node-1") // blocks until elected
	if err != nil {
		panic(err)
	}
	// Lead under ld.Context(): it ends if the leadership is lost. Fence
	// every write with ld.Term().
	fmt.Println("leader:", ld.ID(), "term:", ld.Term())
	cur, _ := e.Leader(ctx)
	fmt.Println("everyone sees:", cur.ID, cur.Term)
	fmt.Println("resign:", ld.Resign(ctx))
	// Output:
	// leader: node-1 term: 1
	// everyone sees: node-1 1
	// resign: <nil>
}
