//go:build !(linux || darwin)

package main

import "os"

// termWidth returns 0: the width is unknown here.
func termWidth(*os.File) int { return 0 }
