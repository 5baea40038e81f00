//go:build linux

// Package cpuclock reads the CPU time a thread or the process has used,
// for benchmarks and the load harness on a shared machine: wall time also
// counts the neighbours that preempt the code measured, CPU time does not
// (getrusage counts in scheduler ticks, too coarse for one round).
package cpuclock

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

func read(id uintptr) (time.Duration, bool) {
	var ts syscall.Timespec
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// Thread is the CPU time the calling OS thread has used. Lock the
// goroutine to its thread (runtime.LockOSThread) for it to measure the
// code under test alone. false: no such clock here.
func Thread() (time.Duration, bool) { return read(clockThreadCPU) }

// Process is the CPU time of the whole process (every thread).
func Process() (time.Duration, bool) { return read(clockProcessCPU) }
