package testregistry

import "syscall"

// childAttr makes the kernel kill the registry if the test binary dies
// without running its cleanups (a panic in another goroutine, a timeout).
// The signal comes when the thread that started the child exits, not the
// process; test goroutines do not lock their threads, so in practice the
// two go together.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
