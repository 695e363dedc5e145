// Package script loads the Lua scripts the packages embed. Every script is
// one .lua file whose header comment lists KEYS[n], ARGV[n] and what it
// returns; scripts never build key names, every key arrives through KEYS, so
// Redis Cluster can route them and check they share one slot.
//
// Scripts run through redis.Script.Run: EVALSHA, falling back to EVAL (which
// also loads it) when the server does not have the script cached, for
// example after a restart or on a new cluster node.
package script

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Load returns the script in file name of fsys. It panics if the file is
// missing or its header does not document KEYS, ARGV and the return value:
// both are programmer mistakes, caught when the package initialises.
func Load(fsys fs.FS, name string) *redis.Script {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		panic(fmt.Sprintf("script: %v", err))
	}
	src := string(b)
	if err := checkHeader(src); err != nil {
		panic(fmt.Sprintf("script: %s: %v", name, err))
	}
	return redis.NewScript(src)
}

func checkHeader(src string) error {
	var header []string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--") {
			break
		}
		header = append(header, line)
	}
	h := strings.Join(header, "\n")
	for _, want := range []string{"KEYS", "ARGV", "Returns"} {
		if !strings.Contains(h, want) {
			return fmt.Errorf("header comment does not mention %s", want)
		}
	}
	return nil
}

// Preload loads scripts into the script cache of c (every master of a
// cluster client), so the first call is a single EVALSHA round trip.
func Preload(ctx context.Context, c redis.UniversalClient, scripts ...*redis.Script) error {
	load := func(ctx context.Context, c redis.Scripter) error {
		for _, s := range scripts {
			if err := s.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return load(ctx, m) })
	}
	return load(ctx, c)
}
