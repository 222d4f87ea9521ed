package handler

import (
	"sync"
	"time"
)

// The provider may lock an account that it refuses (-16: wrong login, expired password, locked
// account, blocked address) again and again (provider-api/README.md). A password changed at
// the provider but not in the worker would otherwise make every queued task of the login
// call, and fail, in turn: thousands of refused logins in minutes during a backfill.
//
// So after refusedInARow refusals of a login in a row (no other answer between them), this
// process holds its calls for that login for a while: the login's tasks are dead-lettered
// without a call, as the refused ones are (every one of them would be refused too), to be
// replayed once the password is fixed. When the hold ends, one task calls; if it is refused
// too, the hold starts again, else calls go ahead. Another answer with an errorCode ends
// the count, since the provider took the login. The state is the process's own, in memory:
// a worker restarted with the fixed password calls at once.
const refusedInARow = 5

// DefaultRefusedHold is how long calls for a login are held after refusedInARow refusals.
const DefaultRefusedHold = 5 * time.Minute

type refusals struct {
	mu sync.Mutex
	m  map[string]*refusal // by login
}

type refusal struct {
	inARow  int
	last    time.Time // of the last refusal
	until   time.Time // calls are held before this; zero while they go ahead
	probing bool      // one call was let through when the last hold ended
}

// held reports whether calls for login are held at now, and the refusals that hold them. When
// a hold has ended, it lets this call through to try the login, and holds the others for
// another round until that call is answered.
func (r *refusals) held(login string, now time.Time, hold time.Duration) (refusal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.m[login]
	if x == nil || x.until.IsZero() {
		return refusal{}, false
	}
	if now.Before(x.until) {
		return *x, true
	}
	x.until, x.probing = now.Add(hold), true
	return refusal{}, false
}

// answered records an answer with an errorCode to a call for login: refused (-16) or not.
// It returns the state after it, and whether the answer starts a hold (or, for the call let
// through when the last hold ended, starts it again).
func (r *refusals) answered(login string, refused bool, now time.Time, hold time.Duration) (refusal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.m[login]
	if !refused {
		delete(r.m, login)
		return refusal{}, false
	}
	if r.m == nil {
		r.m = map[string]*refusal{}
	}
	if x == nil {
		x = &refusal{}
		r.m[login] = x
	}
	x.inARow++
	x.last = now
	if x.inARow < refusedInARow {
		return *x, false
	}
	starts := x.until.IsZero() || x.probing
	x.until, x.probing = now.Add(hold), false
	return *x, starts
}
