package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// tabler is a result that can print itself as human tables.
type tabler interface {
	table(w io.Writer)
}

// render prints v as JSON (--json) or as tables. v is a pointer, so that
// tests' scrub can rewrite it first.
func (c *cli) render(v tabler) error {
	if c.scrub != nil {
		c.scrub(v)
	}
	if c.cfg.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(jsonValue(v))
	}
	v.table(c.stdout)
	return nil
}

// jsonValue unwraps results whose JSON form is a list.
func jsonValue(v tabler) any {
	if l, ok := v.(interface{ jsonList() any }); ok {
		return l.jsonList()
	}
	return v
}

// newTable returns a tabwriter for aligned columns separated by two spaces.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0) }

// row writes cells separated by tabs. Cells are escaped (see esc): names,
// owners and errors come from Redis, and a control character in them
// must neither drive the operator's terminal nor break the columns.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, esc(fmt.Sprint(c)))
	}
	io.WriteString(w, "\n")
}

// esc returns s with every non-printable character (control characters
// such as ESC, newline, tab and NUL, invalid UTF-8, non-printing Unicode)
// and the backslash written as Go escapes, as strconv.Quote does but
// without the quotes: "a\x1b[31m\n" prints as a\x1b[31m\n.
func esc(s string) string { return escape(s, true) }

// escape is esc; with backslash false a backslash is left as it is (for
// messages whose names are already quoted with %q).
func escape(s string, backslash bool) string {
	clean := true
	for _, r := range s {
		if (backslash && r == '\\') || r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' && backslash:
			b.WriteString(`\\`)
		case r == '\\':
			b.WriteByte('\\')
		case strconv.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// dur formats a duration for people: 850ms, 9.5s, 3m12s, 2h05m, 3d04h.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// ttl formats a remaining TTL, or "-" when there is none.
func ttl(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return dur(d)
}

// stamp formats a moment as UTC RFC 3339 to the second, or "-".
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// dash returns s, or "-" when s is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shorten cuts s to n runes with an ellipsis, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ms returns d in whole milliseconds, for JSON.
func ms(d time.Duration) int64 { return d.Milliseconds() }

// rowsFailed returns the exit-1 error of a listing some of whose rows
// could not be read (they are printed with their error).
func rowsFailed(many string, failed []string, total int) error {
	if len(failed) == 0 {
		return nil
	}
	q := make([]string, len(failed))
	for i, f := range failed {
		q[i] = strconv.Quote(f)
	}
	return failErr("could not read %d of %d %s: %s", len(failed), total, many, strings.Join(q, ", "))
}
