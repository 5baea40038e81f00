//go:build !linux

package main

import "time"

// threadCPU: no per-thread clock is read outside Linux.
func threadCPU() (time.Duration, bool) { return 0, false }
