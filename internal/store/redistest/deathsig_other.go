//go:build !linux

package redistest

import "os/exec"

// setDeathSignal: only Linux can tie a child's life to its parent's; elsewhere
// the test's cleanup is the only thing that stops redis-server.
func setDeathSignal(*exec.Cmd) {}
