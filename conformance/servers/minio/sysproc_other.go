//go:build !linux

package minio

import "syscall"

// sysProcAttr: without a parent-death signal, only Shutdown stops the server.
func sysProcAttr() *syscall.SysProcAttr { return nil }
