package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/redistask"
)

// BenchmarkHooks measures what one hook call costs when metrics are
// plugged in; without hooks the primitives pay one nil check.
func BenchmarkHooks(b *testing.B) {
	m := New()
	lock, task, ev := m.LockHooks(), m.TaskHooks(), m.EventHooks()
	tk := &redistask.Task{Name: "welcome"}
	e := &event.Event{Topic: "orders", Attempt: 1, Offset: event.Offset{Ms: uint64(time.Now().UnixMilli())}}
	boom := errors.New("boom")
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"lock-acquire", func() { lock.OnAcquire("invoice-42", time.Millisecond, 200*time.Microsecond, nil) }},
		{"lock-acquire-failed", func() { lock.OnAcquire("invoice-42", time.Millisecond, 200*time.Microsecond, boom) }},
		{"task-start+done", func() {
			task.OnStart("emails", tk, time.Millisecond)
			task.OnDone("emails", tk, time.Millisecond, nil)
		}},
		{"event-publish", func() { ev.OnPublish("orders", event.Receipt{}, nil) }},
		{"event-consume", func() { ev.OnConsume("billing", e, time.Millisecond, nil) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.f()
			}
		})
	}
}
