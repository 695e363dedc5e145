// Command bench compares Go Sync with its peers (redsync, bsm/redislock,
// asynq, raw Redis commands) on redis-servers it starts itself, in one run,
// and prints one line per comparison: our figure, the peer's, and the ratio
// (> 1 means ours is better). Absolute numbers drift between machines; the
// ratios are what the issues set targets for.
//
//	cd bench && go run . [-d 2s] [-run regexp] [-repeat n] [-cpuprofile file]
//
// With -repeat, the selected benchmarks run n times on the same servers
// and a last table gives each ratio's median and range over the runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime/pprof"
	"time"

	"github.com/go-sync/sync/internal/redistest"
)

// env is what every benchmark gets: fresh servers started for this run.
type env struct {
	ctx   context.Context
	d     time.Duration
	one   *redistest.Node   // standalone server
	three []*redistest.Node // three independent masters (Redlock)
}

type bench struct {
	name string
	run  func(e *env) ([]comparison, error)
}

var benches = []bench{
	{"baseline", baselines},
	// The lock benchmarks compare redislock with redsync v4, bsm/redislock
	// and raw SET NX + release script (ANCHORS.md section 2); -run lock
	// runs them all.
	{"lock1", lockUncontended1},
	{"lock3", lockUncontended3},
	{"lockwait", lockContended},
	{"lockmem", lockWaitMemory},
	{"leader", leaders},
	{"ntp", ntpTimes},
	{"task", tasks},
	{"event", events},
}

func main() {
	d := flag.Duration("d", 2*time.Second, "duration of each measurement")
	only := flag.String("run", "", "run only benchmarks whose name matches this regexp")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the selected benchmarks to this file")
	repeat := flag.Int("repeat", 1, "run the selected benchmarks this many times and summarise each ratio's spread")
	flag.Parse()
	re, err := regexp.Compile(*only)
	if err != nil {
		fatal(err)
	}
	e := &env{ctx: context.Background(), d: *d}
	e.one, err = redistest.StartServer(redistest.Config{})
	if err != nil {
		fatal(err)
	}
	defer e.one.Stop(false)
	for range 3 {
		n, err := redistest.StartServer(redistest.Config{})
		if err != nil {
			fatal(err)
		}
		defer n.Stop(false)
		e.three = append(e.three, n)
	}
	fmt.Printf("redis-server on %s; independent nodes %s %s %s; %v per measurement\n\n",
		e.one.Addr, e.three[0].Addr, e.three[1].Addr, e.three[2].Addr, *d)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}
	var runs [][]comparison
	for k := range max(*repeat, 1) {
		var all []comparison
		for _, b := range benches {
			if !re.MatchString(b.name) {
				continue
			}
			cs, err := b.run(e)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench %s: %v\n", b.name, err)
				os.Exit(1)
			}
			all = append(all, cs...)
		}
		if *repeat > 1 {
			fmt.Printf("run %d of %d\n", k+1, *repeat)
		}
		printReport(os.Stdout, all)
		fmt.Println()
		runs = append(runs, all)
	}
	if len(runs) > 1 {
		printSpread(os.Stdout, runs)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
