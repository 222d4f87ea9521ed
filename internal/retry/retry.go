// Package retry is the worker's retry policy: exponential backoff with full jitter for
// transient failures, exact delays for tasks that must wait without failing (rate limits,
// PROVIDER_RATE, crash recovery), and which errors spend a task's retry budget.
package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"
)

// Policy is exponential backoff with full jitter: the n-th retry waits a uniformly random
// time in [0, min(Cap, Base·2ⁿ)].
type Policy struct {
	Base, Cap time.Duration
}

// Backoff returns the wait before retry n (0 for the first retry).
func (p Policy) Backoff(n int) time.Duration {
	return jitter(p.Ceiling(n))
}

// Ceiling is the largest wait Backoff(n) may return.
func (p Policy) Ceiling(n int) time.Duration {
	if p.Base <= 0 {
		return 0
	}
	d := p.Base
	for i := 0; i < n && d < p.Cap; i++ {
		if d > math.MaxInt64/2 { // a cap near the largest duration: doubling would wrap
			d = math.MaxInt64
			break
		}
		d *= 2
	}
	if p.Cap > 0 && d > p.Cap {
		d = p.Cap
	}
	return d
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if d == math.MaxInt64 {
		return time.Duration(rand.Int64()) // [0, MaxInt64]; d+1 would wrap
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// Later is an error that reschedules a task after a fixed delay without spending its retry
// budget: the task could not run now (its account is cooling down after a -42, PROVIDER_RATE
// held it back), which says nothing of whether it would succeed.
type Later struct {
	After  time.Duration
	Reason string
	Err    error // the answer that caused the wait, if a call was made
}

func (e *Later) Error() string {
	s := "rescheduled in " + e.After.Round(time.Millisecond).String() + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Later) Unwrap() error { return e.Err }

// notBefore returns d, lengthened so that now+d falls on a whole second.
//
// asynq keeps a retry's time in whole seconds, cut down (rdb.Retry scores it by
// processAt.Unix()), and forwards it once that second has begun: a task rescheduled for
// 12.9s could run again at 12.0s. A task held until a cooldown ends would then find the
// account still cooling down, and be held again, once for every early return, each hold
// read from Redis and counted in the rate-limit metrics. Rounding up makes Later mean "not
// before": asynq computes its own now+d a moment after this, which cuts down to the same
// whole second.
func notBefore(now time.Time, d time.Duration) time.Duration {
	if ns := now.Add(d).Nanosecond(); ns != 0 {
		d += time.Second - time.Duration(ns)
	}
	return d
}

// leaseExpiredDelay spreads recovered tasks over a few seconds.
const leaseExpiredDelay = 5 * time.Second

// IsFailure tells asynq whether err spends a retry: not for Later, and not for a task whose
// worker died (asynq's lease expired), which is at-least-once delivery, not a failure.
func IsFailure(err error) bool {
	if err == nil {
		return false
	}
	var later *Later
	if errors.As(err, &later) {
		return false
	}
	return !errors.Is(err, asynq.ErrLeaseExpired)
}

// DelayFunc is asynq's RetryDelayFunc for this policy.
func (p Policy) DelayFunc() asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		var later *Later
		switch {
		case errors.As(err, &later):
			return notBefore(time.Now(), later.After)
		case errors.Is(err, asynq.ErrLeaseExpired):
			return jitter(leaseExpiredDelay)
		}
		return p.Backoff(n)
	}
}
