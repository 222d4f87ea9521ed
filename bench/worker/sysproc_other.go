//go:build !linux

package main

import "syscall"

// sysProcAttr: only Linux can tie a child's life to its parent's. (The memory figures need
// Linux's /proc as well.)
func sysProcAttr() *syscall.SysProcAttr { return nil }
