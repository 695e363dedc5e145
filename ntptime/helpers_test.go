package ntptime

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// testLogger logs through t.Log, so a failing test shows the clock's
// events.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func contextTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

var discardLogger = slog.New(slog.DiscardHandler)
