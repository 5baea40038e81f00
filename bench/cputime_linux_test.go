//go:build linux

package bench

import (
	"syscall"
	"time"
	"unsafe"
)

// The clock ids of clock_gettime(2).
const (
	clockProcessCPU = 2 // CLOCK_PROCESS_CPUTIME_ID
	clockThreadCPU  = 3 // CLOCK_THREAD_CPUTIME_ID
)

func cpuClock(id uintptr) (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// threadCPU is the CPU time the calling OS thread has used, in
// nanoseconds (getrusage counts in scheduler ticks, too coarse for a
// round). With the goroutine locked to its thread, it measures the code
// under test alone: on a shared machine, wall time also counts the other
// processes that preempt it.
func threadCPU() (time.Duration, bool) { return cpuClock(clockThreadCPU) }

// processCPU is the CPU time of the whole process (every thread).
func processCPU() (time.Duration, bool) { return cpuClock(clockProcessCPU) }
