package handler

import (
	"github.com/hibiken/asynq"
)

// Dead is the error of a task that must be dead-lettered now: it wraps asynq.SkipRetry, so
// asynq archives the task, and carries what the dead-letter record needs.
type Dead struct {
	Reason   string // one of the deadletter.Reason* values
	Err      error  // the cause: a *provider.Error, a validation error, …
	Attempts int    // provider calls made for the task, this one included
}

func (d *Dead) Error() string { return d.Reason + ": " + d.Err.Error() }

// Unwrap exposes the cause and asynq.SkipRetry to errors.Is and errors.As.
func (d *Dead) Unwrap() []error { return []error{d.Err, asynq.SkipRetry} }
