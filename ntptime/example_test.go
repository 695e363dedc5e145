package ntptime_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/ntptest"
	"github.com/go-sync/sync/ntptime"
	"github.com/redis/go-redis/v9"
)

// A Clock over the local clock, trusted to within 20ms, and a commit wait:
// take the latest possible time as a timestamp, then wait until it is
// surely past before making the write visible.
func Example() {
	src, err := ntptime.NewLocal(20 * time.Millisecond)
	if err != nil {
		panic(err)
	}
	clk, err := ntptime.New(src)
	if err != nil {
		panic(err)
	}
	defer clk.Close()
	ctx := context.Background()
	if err := clk.WaitSynchronized(ctx); err != nil {
		panic(err)
	}

	r := clk.Now()
	fmt.Println("status:", r.Status)
	fmt.Println("true time inside:", r.Contains(time.Now()))

	commitTS := r.Latest
	if err := clk.CommitWait(ctx, commitTS); err != nil {
		panic(err)
	}
	fmt.Println("commit timestamp surely past:", clk.Now().After(commitTS))
	// Output:
	// status: synchronized
	// true time inside: true
	// commit timestamp surely past: true
}

// Three NTP servers, one of them a falseticker: the clock follows the two
// that agree. (FakeServers on loopback stand in for your servers here;
// give yours to WithServer and keep the default polling.)
func ExampleNewNTP() {
	good := func(int) ntptest.Reply {
		return ntptest.Reply{Stratum: 2, Offset: 2 * time.Second, RootDispersion: 10 * time.Millisecond}
	}
	bad := func(int) ntptest.Reply {
		return ntptest.Reply{Stratum: 2, Offset: time.Minute, RootDispersion: 10 * time.Millisecond}
	}
	a, _ := ntptest.StartFake(good)
	defer a.Close()
	b, _ := ntptest.StartFake(bad)
	defer b.Close()
	c, _ := ntptest.StartFake(good)
	defer c.Close()

	src, err := ntptime.NewNTP(ntptime.WithServer(a.Addr, b.Addr, c.Addr), ntptime.WithPoll(time.Second, 4*time.Second))
	if err != nil {
		panic(err)
	}
	clk, err := ntptime.New(src)
	if err != nil {
		panic(err)
	}
	defer clk.Close()
	if err := clk.WaitSynchronized(context.Background()); err != nil {
		panic(err)
	}
	r := clk.Now()
	fmt.Println("status:", r.Status)
	fmt.Println("2s ahead of the local clock:", r.Contains(time.Now().Add(2*time.Second)))
	for _, s := range src.Servers() {
		fmt.Println("falseticker:", s.Falseticker)
	}
	// Output:
	// status: synchronized
	// 2s ahead of the local clock: true
	// falseticker: false
	// falseticker: true
	// falseticker: false
}

// Services that share only a Redis agree on its clock.
func ExampleNewRedis() {
	m, _ := miniredis.Run()
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close() // the caller owns the client

	src, err := ntptime.NewRedis(client)
	if err != nil {
		panic(err)
	}
	clk, err := ntptime.New(src)
	if err != nil {
		panic(err)
	}
	defer clk.Close()
	clk.WaitSynchronized(context.Background())
	r := clk.Now()
	fmt.Println(r.Status, r.Bound() < 100*time.Millisecond)
	// Output: synchronized true
}

// Hybrid logical clocks order causally related events even when the
// physical clocks disagree, and refuse timestamps from too far ahead.
func ExampleHLC() {
	phys, _ := ntptime.NewLocal(time.Millisecond)
	alice, _ := ntptime.NewHLC(phys)
	bob, _ := ntptime.NewHLC(phys, ntptime.WithMaxOffset(250*time.Millisecond))

	sent := alice.Now()
	received, _ := bob.Update(sent)
	reply := bob.Now()
	fmt.Println("send < receive < reply:", sent < received && received < reply)

	future, _ := ntptime.NewTimestamp(time.Now().Add(time.Hour), 0)
	_, err := bob.Update(future)
	var oe *ntptime.OffsetError
	fmt.Println("rejected:", errors.As(err, &oe), errors.Is(err, ntptime.ErrMaxOffset))
	// Output:
	// send < receive < reply: true
	// rejected: true true
}

func ExampleTimestamp() {
	ts, _ := ntptime.NewTimestamp(time.Date(2024, 5, 1, 12, 0, 0, 123e6, time.UTC), 7)
	text, _ := ts.MarshalText()
	back, _ := ntptime.ParseTimestamp(string(text))
	fmt.Println(ts)
	fmt.Println(string(text), back == ts)
	fmt.Printf("%#016x\n", uint64(ts))
	// Output:
	// 2024-05-01T12:00:00.123Z+7
	// 1714564800123.7 true
	// 0x018f34069e7b0007
}
