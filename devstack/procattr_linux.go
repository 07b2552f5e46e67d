package devstack

import "syscall"

// childProcAttr puts the child in its own process group, so a Ctrl-C in the
// terminal reaches only us and we stop the child in order, and has the
// kernel send it SIGTERM should we die without stopping it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
