// Package cli holds what the product's commands share as command-line programs: the exit codes
// of the contract and the error that carries one, flag parsing that lets flags and positional
// arguments mix, and terminal detection.
package cli

import (
	"errors"
	"fmt"
)

// The exit codes of every command (DESIGN.md). Scripts and cron rely on them: never renumber.
const (
	// ExitOK: everything asked for was done (duplicates included).
	ExitOK = 0
	// ExitFailed: some rows or tasks failed, or the run was interrupted before the end.
	ExitFailed = 1
	// ExitUsage: a usage or configuration error (bad flag, unreadable file, bad REDIS_URL);
	// nothing was done.
	ExitUsage = 2
)

// Error is an error with the exit code the process ends with.
type Error struct {
	Code int
	Err  error
}

// Error is the message of the error it carries: the exit code never shows.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the error it carries, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Usage marks err as a usage or configuration error (ExitUsage).
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ExitUsage, Err: err}
}

// Usagef is Usage(fmt.Errorf(format, args...)).
func Usagef(format string, args ...any) error { return Usage(fmt.Errorf(format, args...)) }

// Failed marks err as a failure of some rows or tasks (ExitFailed).
func Failed(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: ExitFailed, Err: err}
}

// Failedf is Failed(fmt.Errorf(format, args...)).
func Failedf(format string, args ...any) error { return Failed(fmt.Errorf(format, args...)) }

// ExitCode is the exit code for err: ExitOK for nil, the code of an *Error inside err, and
// ExitFailed for any other error.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitFailed
}

// IsUsage reports whether err ends the process with ExitUsage.
func IsUsage(err error) bool { return ExitCode(err) == ExitUsage }
