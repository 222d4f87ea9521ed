package retry

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestCeilingDoublesUpToCap(t *testing.T) {
	t.Parallel()
	p := Policy{Base: 30 * time.Second, Cap: time.Hour}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for n, w := range want {
		if got := p.Ceiling(n); got != w {
			t.Errorf("Ceiling(%d) = %s, want %s", n, got, w)
		}
	}
	if got := p.Ceiling(10_000); got != time.Hour {
		t.Errorf("Ceiling(10000) = %s, want the cap", got)
	}
}

// The largest settings the configuration takes must not wrap around to a wait of zero (a retry
// storm) or panic inside asynq's processor.
func TestBackoffAtTheLargestDurations(t *testing.T) {
	t.Parallel()
	huge := time.Duration(math.MaxInt64)
	for _, p := range []Policy{{Base: 30 * time.Second, Cap: 2_500_000 * time.Hour}, {Base: huge, Cap: huge}, {Base: time.Second, Cap: huge}} {
		prev := time.Duration(0)
		for n := range 70 {
			c := p.Ceiling(n)
			if c < prev || c > p.Cap {
				t.Fatalf("%+v: Ceiling(%d) = %d after %d: not growing up to the cap", p, n, c, prev)
			}
			prev = c
			if d := p.Backoff(n); d < 0 || d > c {
				t.Fatalf("%+v: Backoff(%d) = %d outside [0, %d]", p, n, d, c)
			}
		}
		if prev != p.Cap {
			t.Errorf("%+v: Ceiling(69) = %d, want the cap", p, prev)
		}
	}
}

func TestBackoffIsFullJitter(t *testing.T) {
	t.Parallel()
	p := Policy{Base: 100 * time.Millisecond, Cap: 10 * time.Second}
	const n = 3 // ceiling 800ms
	var low, high int
	for range 2000 {
		d := p.Backoff(n)
		if d < 0 || d > 800*time.Millisecond {
			t.Fatalf("Backoff(%d) = %s outside [0, 800ms]", n, d)
		}
		if d < 200*time.Millisecond {
			low++
		}
		if d > 600*time.Millisecond {
			high++
		}
	}
	// Full jitter spreads over the whole range: about a quarter falls in each end.
	if low < 300 || high < 300 {
		t.Errorf("not spread over [0, ceiling]: %d low, %d high of 2000", low, high)
	}
}

func TestDelayAndFailure(t *testing.T) {
	t.Parallel()
	p := Policy{Base: time.Second, Cap: time.Second}
	f := p.DelayFunc()
	later := &Later{After: 42 * time.Second, Reason: "account cooling down"}
	tests := []struct {
		name    string
		err     error
		failure bool
		min     time.Duration
		max     time.Duration
	}{
		{"later", later, false, 42 * time.Second, 43 * time.Second},
		{"wrapped later", fmt.Errorf("x: %w", later), false, 42 * time.Second, 43 * time.Second},
		{"lease expired", asynq.ErrLeaseExpired, false, 0, leaseExpiredDelay},
		{"transient", errors.New("boom"), true, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsFailure(tt.err); got != tt.failure {
				t.Errorf("IsFailure = %v, want %v", got, tt.failure)
			}
			if d := f(5, tt.err, nil); d < tt.min || d > tt.max {
				t.Errorf("delay %s outside [%s, %s]", d, tt.min, tt.max)
			}
		})
	}
}

// asynq keeps a retry's time in whole seconds, cut down: a Later must end on a whole second,
// or the task comes back before its time.
func TestLaterEndsOnAWholeSecond(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 24, 10, 0, 10, 0, time.UTC)
	tests := []struct {
		now   time.Time
		after time.Duration
		want  time.Duration
	}{
		{base.Add(300 * time.Millisecond), 2500 * time.Millisecond, 2700 * time.Millisecond}, // 12.8s → 13s
		{base.Add(200 * time.Millisecond), 2800 * time.Millisecond, 2800 * time.Millisecond}, // 13s already
		{base, 0, 0},
		{base.Add(time.Nanosecond), 0, time.Second - time.Nanosecond},
		{base.Add(999 * time.Millisecond), time.Millisecond, time.Millisecond},
	}
	for _, tt := range tests {
		got := notBefore(tt.now, tt.after)
		if got != tt.want {
			t.Errorf("notBefore(%s, %s) = %s, want %s", tt.now.Format("05.000000000"), tt.after, got, tt.want)
		}
		// What asynq does with it: the second it stores may not begin before now+after.
		if stored := time.Unix(tt.now.Add(got).Unix(), 0); stored.Before(tt.now.Add(tt.after)) {
			t.Errorf("notBefore(%s, %s): asynq would run the task at %s, before %s", tt.now.Format("05.000000000"), tt.after,
				stored.Format("05.000"), tt.now.Add(tt.after).Format("05.000"))
		}
	}
}
