package sync

import (
	"context"
	"strings"
	"testing"

	"github.com/go-sync/sync/internal/redistest"
	"github.com/go-sync/sync/redistask"
)

// The ACL run (GO_SYNC_ACL=1) catches the library stepping outside what
// the README lists: here the README's grant is narrowed on purpose, as if
// a command were missing from it, and the library's calls are refused,
// from a client or from a script, and recorded in the ACL LOG, which the
// harness checks after every test. A prefix outside the test prefixes
// stands for a key outside the README's patterns.
func TestACLCatchesWhatTheREADMEDoesNotList(t *testing.T) {
	node := redistest.Standalone(t, redistest.WithACL())
	c := node.Client()
	ctx := t.Context()
	admin := node.AdminClient()
	revoke := func(t *testing.T, cmd string) {
		t.Helper()
		if err := admin.Do(ctx, "ACL", "SETUSER", redistest.ACLUser, "-"+cmd).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Do(context.Background(), "ACL", "SETUSER", redistest.ACLUser, "+"+cmd) })
	}
	expectDenied := func(t *testing.T, err error, object string) {
		t.Helper()
		if err == nil || !(strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "user executing the script can't")) {
			t.Fatalf("err = %v, want an ACL refusal", err)
		}
		d, lerr := node.ACLDenials(context.Background())
		if lerr != nil || len(d) == 0 || !strings.Contains(strings.Join(d, "\n"), `"`+object+`"`) {
			t.Fatalf("ACL LOG = %q, %v; want a refusal of %q", d, lerr, object)
		}
		node.ResetACLLog(context.Background()) // expected: keep the harness's check quiet
	}

	t.Run("command", func(t *testing.T) {
		revoke(t, "xadd")
		s := New(c, WithPrefix(redistest.Prefix(t)))
		defer s.Close()
		pr, err := s.Producer()
		if err != nil {
			t.Fatal(err)
		}
		_, err = pr.Push(ctx, "q", redistask.Task{Name: "t"})
		expectDenied(t, err, "xadd")
	})
	t.Run("command from a script", func(t *testing.T) {
		revoke(t, "set") // acquire.lua sets the lock key
		s := New(c, WithPrefix(redistest.Prefix(t)))
		defer s.Close()
		locker, err := s.Locker()
		if err != nil {
			t.Fatal(err)
		}
		_, err = locker.TryAcquire(ctx, "x")
		expectDenied(t, err, "set")
	})
	t.Run("key", func(t *testing.T) {
		s := New(c, WithPrefix("elsewhere"))
		defer s.Close()
		locker, err := s.Locker()
		if err != nil {
			t.Fatal(err)
		}
		_, err = locker.TryAcquire(ctx, "x")
		expectDenied(t, err, "elsewhere:lock:{x}")
	})
	// With the grant as the README has it, the same calls pass.
	s := New(c, WithPrefix(redistest.Prefix(t)))
	defer s.Close()
	locker, err := s.Locker()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locker.TryAcquire(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}
