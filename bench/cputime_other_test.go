//go:build !linux

package bench

import "time"

// threadCPU is not available here: the benchmarks fall back to wall time.
func threadCPU() (time.Duration, bool) { return 0, false }

func processCPU() (time.Duration, bool) { return 0, false }
