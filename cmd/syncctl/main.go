// Command syncctl shows and repairs the state Go Sync keeps in Redis:
// locks, leaders, task queues, dead tasks and event topics. Run
// `syncctl --help` for the commands, flags and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	redis.SetLogger(quiet{}) // errors reach the operator as syncctl's one line, not go-redis's log
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
