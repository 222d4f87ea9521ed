package tasks

import (
	"context"
	"testing"
)

// A panic in a call that untilDone runs on a goroutine of its own reaches the caller, who may
// recover it, as before the call moved there; unrecovered on that goroutine it would end the
// program.
func TestUntilDoneHandsPanicsToTheCaller(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the call's panic", p)
		}
	}()
	_, _ = untilDone(ctx, func() (int, error) { panic("boom") })
	t.Error("untilDone returned after its call panicked")
}
