package main

import (
	"fmt"
	"io"
	"os"
	stdsync "sync"
	"time"
)

// console prints the run: narrative lines stamped with the time since the
// start, and a status line. On a terminal the status line is redrawn in
// place (below the narrative); elsewhere every status is a plain line, so
// logs and pipes read well. Safe for concurrent use.
type console struct {
	w     io.Writer
	tty   bool
	start time.Time

	mu     stdsync.Mutex
	status string // the status line on screen (terminal only)
}

func newConsole(w io.Writer) *console {
	return &console{w: w, tty: isTerminal(w), start: time.Now()}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

const clearLine = "\r\033[K"

func (c *console) elapsed() time.Duration { return time.Since(c.start) }

// stamp formats the time since the start as a fixed-width column.
func (c *console) stamp() string { return fmt.Sprintf("%6.2fs  ", c.elapsed().Seconds()) }

// logf prints a narrative line.
func (c *console) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, clearLine)
	}
	fmt.Fprintf(c.w, c.stamp()+format+"\n", args...)
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, c.status)
	}
}

// more continues the previous narrative line, indented under its text.
func (c *console) more(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, clearLine)
	}
	fmt.Fprintf(c.w, "         "+format+"\n", args...)
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, c.status)
	}
}

// println prints an unstamped line (headers, the summary).
func (c *console) println(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, clearLine)
		c.status = ""
	}
	fmt.Fprintln(c.w, s)
}

// setStatus shows the status line: redrawn in place on a terminal,
// printed as a line otherwise.
func (c *console) setStatus(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := c.stamp() + s
	if !c.tty {
		fmt.Fprintln(c.w, line)
		return
	}
	if f, ok := c.w.(*os.File); ok {
		// A line wider than the terminal wraps, and \r would redraw
		// only its last row.
		if w := termWidth(f); w > 1 && len(line) >= w {
			line = line[:w-2] + "…"
		}
	}
	c.status = line
	fmt.Fprint(c.w, clearLine+line)
}

// endStatus removes the status line from a terminal.
func (c *console) endStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.status != "" {
		fmt.Fprint(c.w, clearLine)
	}
	c.status = ""
}
