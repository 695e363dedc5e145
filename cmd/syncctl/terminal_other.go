//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "os"

// isTerminalFile reports false: without a terminal check here, a
// destructive command needs --yes.
func isTerminalFile(*os.File) bool { return false }
