package handler

import (
	"testing"
	"time"
)

// TestRefusals: the hold starts at the fifth refusal in a row, not before, and not when
// another answer came between; while it lasts, calls are held and further refusals (of calls
// already in flight) do not start it again; at its end one call goes through, and its refusal
// starts the hold again, while its success ends it.
func TestRefusals(t *testing.T) {
	t.Parallel()
	const hold = time.Minute
	var r refusals
	now := time.Unix(1_700_000_000, 0)
	refuse := func(want bool) {
		t.Helper()
		if _, starts := r.answered("eu", true, now, hold); starts != want {
			t.Fatalf("refusal at %s starts a hold: %v, want %v", now, starts, want)
		}
	}
	isHeld := func(want bool) {
		t.Helper()
		if _, held := r.held("eu", now, hold); held != want {
			t.Fatalf("held at %s: %v, want %v", now, held, want)
		}
	}
	for range 4 {
		refuse(false)
	}
	r.answered("eu", false, now, hold) // the provider took the login: the count starts again
	for range 4 {
		refuse(false)
		isHeld(false)
	}
	refuse(true)
	isHeld(true)
	if _, held := r.held("us", now, hold); held {
		t.Fatal("another login is held too")
	}
	refuse(false) // a call that was in flight
	now = now.Add(hold - time.Second)
	isHeld(true)

	now = now.Add(2 * time.Second)
	isHeld(false) // the call that tries the login again
	isHeld(true)  // and the others, until it is answered
	refuse(true)
	isHeld(true)

	now = now.Add(hold)
	isHeld(false)
	r.answered("eu", false, now, hold)
	isHeld(false)
	isHeld(false)
}
