package faulttest

import "syscall"

// sysProcAttr makes a child die with the test process, so that an aborted run leaves no
// worker or redis-server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
