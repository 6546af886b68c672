//go:build !linux

package testregistry

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
