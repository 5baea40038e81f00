package cpuclock

import (
	"runtime"
	"testing"
)

// The thread clock advances with work done on the thread, and the process
// clock is at least the thread's.
func TestClocksAdvanceWithWork(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, ok := Thread()
	if !ok {
		if runtime.GOOS == "linux" {
			t.Fatal("no thread clock on Linux")
		}
		return
	}
	x := uint64(1)
	for i := 0; i < 5_000_000; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	t1, _ := Thread()
	p, ok := Process()
	if !ok || t1 <= t0 || p < t1 {
		t.Fatalf("thread %v -> %v, process %v (ok %v); work %d", t0, t1, p, ok, x)
	}
}
