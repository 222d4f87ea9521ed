package worker

import (
	"testing"
	"time"
)

// SetAppendWaits shortens the waits between tries of a dead-letter append for one test.
func SetAppendWaits(t testing.TB, first, max time.Duration) {
	oldFirst, oldMax := appendFirstWait, appendMaxWait
	appendFirstWait, appendMaxWait = first, max
	t.Cleanup(func() { appendFirstWait, appendMaxWait = oldFirst, oldMax })
}

// SetShutdownGrace shortens how long Shutdown waits for asynq past the shutdown timeout.
func SetShutdownGrace(t testing.TB, d time.Duration) {
	old := shutdownGrace
	shutdownGrace = d
	t.Cleanup(func() { shutdownGrace = old })
}
