package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/go-sync/sync/event"
	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redistask"
	"github.com/redis/go-redis/v9"
)

// Go Sync runs over go-redis's TLS unchanged: against a TLS-only
// redis-server whose certificate comes from a CA made by the test, a
// client with that CA in its TLSConfig takes a lock, runs a task and
// consumes an event; one without the CA fails its handshake.
func TestTLS(t *testing.T) {
	ctx := t.Context()
	certs := redistest.NewTLS(t)
	node := redistest.Standalone(t, redistest.WithTLS(certs))

	o := redistest.Options(node.Addr) // as the restricted user under GO_SYNC_ACL=1
	o.TLSConfig = &tls.Config{RootCAs: certs.CA, MinVersion: tls.VersionTLS12}
	client := redis.NewClient(o)
	defer client.Close()
	s := New(client, WithPrefix(redistest.Prefix(t)))
	defer s.Close()

	locker, err := s.Locker()
	if err != nil {
		t.Fatal(err)
	}
	lk, err := locker.TryAcquire(ctx, "invoice-42")
	if err != nil {
		t.Fatalf("lock over TLS: %v", err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}

	pr, err := s.Producer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Push(ctx, "emails", redistask.Task{Name: "welcome", Payload: []byte("42")}); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	w, err := s.Worker("emails")
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 1)
	w.Handle("welcome", func(_ context.Context, tk *redistask.Task) error { ran <- string(tk.Payload); return nil })
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	select {
	case p := <-ran:
		if p != "42" {
			t.Fatalf("task payload %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no task ran over TLS")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ev, err := s.Events(event.WithBlock(50 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := ev.CreateTopic(ctx, "orders", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Publish(ctx, event.Event{Key: "order-1", Payload: []byte("created")}); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got string
	err = tp.Subscribe(sctx, event.Beginning(), func(_ context.Context, e *event.Event) error {
		got = string(e.Payload)
		cancel()
		return nil
	})
	if err != nil || got != "created" {
		t.Fatalf("consume over TLS: %q, %v", got, err)
	}

	// Without the CA the handshake fails, and so does the lock.
	bad := redistest.Options(node.Addr)
	bad.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	bad.MaxRetries = -1
	untrusting := redis.NewClient(bad)
	defer untrusting.Close()
	var unknown x509.UnknownAuthorityError
	if err := untrusting.Ping(ctx).Err(); !errors.As(err, &unknown) {
		t.Fatalf("PING without the CA = %v, want an unknown-authority TLS error", err)
	}
	l2, err := New(untrusting, WithPrefix(redistest.Prefix(t))).Locker()
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, err := l2.TryAcquire(ctx, "invoice-43"); !errors.As(err, &unknown) {
		t.Fatalf("lock without the CA = %v, want an unknown-authority TLS error", err)
	}
	// Nor does plain TCP get an answer from a TLS-only server.
	plain := redistest.Options(node.Addr)
	plain.MaxRetries = -1
	plainClient := redis.NewClient(plain)
	defer plainClient.Close()
	if err := plainClient.Ping(ctx).Err(); err == nil {
		t.Fatal("a plain-TCP client was answered by the TLS-only server")
	}
}
