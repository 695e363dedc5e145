package sync_test

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	gosync "github.com/go-sync/sync"
	"github.com/redis/go-redis/v9"
)

// A Sync is built around one shared client; here an embedded miniredis.
func Example() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close() // the caller owns the client

	s := gosync.New(client, gosync.WithPrefix("billing"))
	defer s.Close()

	fmt.Println("prefix:", s.Prefix())
	fmt.Println("redlock nodes:", len(s.Nodes()))
	// Output:
	// prefix: billing
	// redlock nodes: 1
}
