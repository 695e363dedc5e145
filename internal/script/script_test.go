package script

import (
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { redistest.VerifyTestMain(m) }

func TestLoadRunsAndPreloads(t *testing.T) {
	s := Load(os.DirFS("testdata"), "ok.lua")
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"miniredis", func(t *testing.T) redis.UniversalClient {
			m := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: m.Addr()})
			t.Cleanup(func() { c.Close() })
			return c
		}},
		// The default user: no package calls Preload, so SCRIPT LOAD and
		// SCRIPT EXISTS are not among the commands the README grants.
		{"redis-server", func(t *testing.T) redis.UniversalClient { return redistest.Standalone(t).AdminClient() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client(t)
			ctx := t.Context()
			if err := Preload(ctx, c, s); err != nil {
				t.Fatal(err)
			}
			ok, err := s.Exists(ctx, c).Result()
			if err != nil || len(ok) != 1 || !ok[0] {
				t.Fatalf("script not cached after Preload: %v %v", ok, err)
			}
			if _, err := s.Run(ctx, c, []string{"k"}, "a").Result(); err != redis.Nil {
				t.Fatalf("first run = %v, want redis.Nil", err)
			}
			got, err := s.Run(ctx, c, []string{"k"}, "b").Text()
			if err != nil || got != "a" {
				t.Fatalf("second run = %q, %v; want a", got, err)
			}
		})
	}
}

func TestLoadPanicsOnBadScripts(t *testing.T) {
	for _, name := range []string{"bad.lua", "missing.lua"} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Load(%s) did not panic", name)
				}
			}()
			Load(os.DirFS("testdata"), name)
		})
	}
}
