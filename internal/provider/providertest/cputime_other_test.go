//go:build !linux

package providertest

import "time"

// threadCPU has no portable equivalent: the benchmark needs Linux.
func threadCPU() (time.Duration, bool) { return 0, false }
