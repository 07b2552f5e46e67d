package main

import (
	"errors"
	"flag"
	"fmt"
)

// Exit statuses every command shares; a command may add its own (status's
// 3 while stalled, verify's 1 for differences).
const (
	exitFailed = 1 // the command ran and failed
	exitUsage  = 2 // a usage or configuration error: nothing was started or dialled
)

// exitError carries a command's exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake on the command line (an unknown command, action or
// flag, a missing or malformed flag value, an extra argument), found before
// the command opens any connection: exit status 2.
type usageError struct {
	cmd string // the command whose usage it breaks; "" for the command word itself
	err error
}

func (e *usageError) Error() string {
	if e.cmd == "" {
		return e.err.Error()
	}
	return e.cmd + ": " + e.err.Error()
}
func (e *usageError) Unwrap() error { return e.err }

// hint tells where the usage is.
func (e *usageError) hint() string {
	if e.cmd == "" {
		return "Run 'orderflow -h' for the commands."
	}
	return fmt.Sprintf("Run 'orderflow %s -h' for its usage.", e.cmd)
}

// usagef is a usage error of the command whose flag set is fs.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{cmd: fs.Name(), err: fmt.Errorf(format, args...)}
}

// exitStatus is the process's exit status for run's error: 0 for none or a
// help request, an exitError's own, 2 for a usage error, else 1.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}
