package main

import "syscall"

// sysProcAttr makes a child die with the benchmark, so that an interrupted run leaves no
// server consuming the database.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
