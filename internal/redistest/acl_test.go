package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The README's example ACL rule is the one the harness builds from its
// table, so the documentation and the tested grant never drift apart.
func TestREADMEExampleRule(t *testing.T) {
	readme, err := ReadREADME()
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGrants(readme)
	if err != nil {
		t.Fatal(err)
	}
	want := "ACL SETUSER gosync on >secret " + strings.Join(g.Rule("billing", nil), " ")
	_, rest, _ := strings.Cut(readme, "<!-- acl-example:begin -->")
	example, _, _ := strings.Cut(rest, "<!-- acl-example:end -->")
	example = strings.TrimSpace(example)
	example = strings.TrimPrefix(example, "```text")
	example = strings.TrimSuffix(example, "```")
	if got := strings.Join(strings.Fields(example), " "); got != want {
		t.Fatalf("README example rule:\n%s\nthe table grants:\n%s", got, want)
	}
	for _, must := range []string{"evalsha", "eval", "hello", "cluster|slots"} {
		if !slices.Contains(g.Commands, must) {
			t.Errorf("README ACL table lacks %s", must)
		}
	}
	if !slices.Equal(g.Keys, []string{"<prefix>:*"}) || !slices.Equal(g.Channels, []string{"<prefix>:*"}) {
		t.Errorf("keys %q, channels %q; want everything under <prefix>: and nothing else", g.Keys, g.Channels)
	}
}

func TestParseGrantsRejects(t *testing.T) {
	for name, md := range map[string]string{
		"no markers":   "| x | `GET` |",
		"lower case":   "<!-- acl:begin -->\nKeys: `~<prefix>:*`\n| x | `get` |\n<!-- acl:end -->",
		"stray word":   "<!-- acl:begin -->\nKeys: `~<prefix>:*` `GET`\n| x | `GET` |\n<!-- acl:end -->",
		"no key":       "<!-- acl:begin -->\n| x | `GET` |\n<!-- acl:end -->",
		"no commands":  "<!-- acl:begin -->\nKeys: `~<prefix>:*`\n<!-- acl:end -->",
		"three words":  "<!-- acl:begin -->\nKeys: `~<prefix>:*`\n| x | `A B C` |\n<!-- acl:end -->",
		"unterminated": "<!-- acl:begin -->\nKeys: `~<prefix>:*`\n| x | `GET` |",
	} {
		if _, err := ParseGrants(md); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	g, err := ParseGrants("<!-- acl:begin -->\nKeys: `~<prefix>:*`. Channels: `&<prefix>:*`.\n| sent by | commands | on |\n|---|---|---|\n| a | `GET` `XGROUP CREATE` `GET` | `k` |\n<!-- acl:end -->")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.Rule("p", nil), " "); got != "resetkeys ~p:* resetchannels &p:* -@all +get +xgroup|create" {
		t.Fatalf("rule %q", got)
	}
}

var (
	luaCall    = regexp.MustCompile(`redis\.p?call\(\s*([^,)]+)`)
	luaLiteral = regexp.MustCompile(`^['"]([A-Za-z]+)['"]$`)
	luaQuoted  = regexp.MustCompile(`"([A-Z]+)"`)
)

// Every command a package's Lua scripts call is listed in that package's
// row of the README's table. A command name passed in ARGV[n] must be
// named, in double quotes, on the script header's ARGV[n] line.
func TestScriptsCallListedCommands(t *testing.T) {
	readme, err := ReadREADME()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ScriptCommands(readme)
	if err != nil {
		t.Fatal(err)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "*", "scripts", "*.lua"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts found under %s: %v", root, err)
	}
	for _, f := range files {
		pkg := filepath.Base(filepath.Dir(filepath.Dir(f)))
		name := pkg + "/" + filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		calls := luaCall.FindAllStringSubmatch(src, -1)
		if len(calls) == 0 {
			t.Errorf("%s calls no command", name)
		}
		for _, c := range calls {
			arg := strings.TrimSpace(c[1])
			var cmds []string
			if m := luaLiteral.FindStringSubmatch(arg); m != nil {
				cmds = []string{strings.ToUpper(m[1])}
			} else {
				for _, line := range strings.Split(src, "\n") {
					if strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(line, "--")), arg+" ") {
						for _, q := range luaQuoted.FindAllStringSubmatch(line, -1) {
							cmds = append(cmds, q[1])
						}
					}
				}
				if len(cmds) == 0 {
					t.Errorf("%s calls redis.call(%s ...): its header must name the possible commands in double quotes on the %s line", name, arg, arg)
				}
			}
			for _, cmd := range cmds {
				if !slices.Contains(rows[pkg], cmd) {
					t.Errorf("%s calls %s, which the README's row for `%s` does not list", name, cmd, pkg)
				}
			}
		}
	}
}

// The restricted user is a real restriction: it cannot touch keys or
// channels outside the test prefixes nor run commands the README does not
// list, from a client or from a script, and what it was refused fails the
// test through the ACL LOG check.
func TestACLRestrictionIsLive(t *testing.T) {
	n := Standalone(t, WithACL())
	ctx := t.Context()
	c := n.Client(func(o *redis.Options) { o.MaxRetries = -1 })
	if c.Options().Username != ACLUser {
		t.Fatalf("Client logs in as %q", c.Options().Username)
	}
	mine := Prefix(t) + ":k"
	if err := c.Set(ctx, mine, "v", 0).Err(); err != nil {
		t.Fatalf("SET under the test prefix: %v", err)
	}
	if err := c.Publish(ctx, Prefix(t)+":lock:{x}:released", "v").Err(); err != nil {
		t.Fatalf("PUBLISH under the test prefix: %v", err)
	}
	denied := []struct {
		what string
		do   func() error
	}{
		{"key outside the prefixes", func() error { return c.Set(ctx, "other:k", "v", 0).Err() }},
		{"key of the default prefix", func() error { return c.Get(ctx, "sync:lock:{x}").Err() }},
		{"key the prefix without its colon", func() error { return c.Get(ctx, Prefix(t)).Err() }},
		{"channel outside the prefixes", func() error { return c.Publish(ctx, "other", "v").Err() }},
		{"unlisted command", func() error { return c.FlushAll(ctx).Err() }},
		{"unlisted command (CONFIG)", func() error { return c.ConfigGet(ctx, "dir").Err() }},
		{"unlisted command (KEYS)", func() error { return c.Keys(ctx, Prefix(t)+":*").Err() }},
		{"key outside the prefixes, from a script", func() error {
			return c.Eval(ctx, "return redis.call('SET', KEYS[1], 'v')", []string{"other:k"}).Err()
		}},
		{"unlisted command, from a script", func() error {
			return c.Eval(ctx, "return redis.call('LPUSH', KEYS[1], 'v')", []string{mine + "n"}).Err()
		}},
	}
	for _, d := range denied {
		if err := d.do(); !refused(err) {
			t.Errorf("%s: err = %v, want a refusal", d.what, err)
		}
	}
	if v, err := n.AdminClient().Get(ctx, "other:k").Result(); err != redis.Nil {
		t.Errorf("a refused SET wrote other:k = %q (%v)", v, err)
	}
	// The cleanup check reports every refusal, then resets the log.
	var r recorder
	checkACL(&r, []*Node{n})
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], `"other:k"`) || !strings.Contains(r.errs[0], `"flushall"`) {
		t.Fatalf("ACL LOG check reported %q", r.errs)
	}
	if d, err := n.ACLDenials(context.Background()); err != nil || len(d) != 0 {
		t.Fatalf("after the check, ACL LOG = %q, %v; want it reset", d, err)
	}
}

// refused reports whether err is an ACL refusal: NOPERM, or, for a command
// a script called, Redis 7.0's "The user executing the script can't run".
func refused(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "user executing the script can't"))
}

type recorder struct{ errs []string }

func (*recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// Options (for clients a test builds itself) logs in as the restricted
// user exactly when GO_SYNC_ACL=1.
func TestOptionsFollowsEnv(t *testing.T) {
	t.Setenv(ACLEnv, "1")
	if o := Options("127.0.0.1:1"); o.Username != ACLUser || o.Password != ACLPassword {
		t.Fatalf("with %s=1: user %q", ACLEnv, o.Username)
	}
	t.Setenv(ACLEnv, "")
	if o := Options("127.0.0.1:1"); o.Username != "" {
		t.Fatalf("without %s: user %q", ACLEnv, o.Username)
	}
}
