package minio

import "syscall"

// sysProcAttr makes the kernel kill the server when the test process dies without
// calling Shutdown (a panic, a timeout, Ctrl-C), so no server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
