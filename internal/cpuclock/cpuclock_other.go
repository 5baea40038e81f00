//go:build !linux

// Package cpuclock reads the CPU time a thread or the process has used;
// outside Linux it reads none, and callers fall back to wall time.
package cpuclock

import "time"

// Thread: no per-thread clock is read outside Linux.
func Thread() (time.Duration, bool) { return 0, false }

// Process: no process clock is read outside Linux.
func Process() (time.Duration, bool) { return 0, false }
