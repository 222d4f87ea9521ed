package retry

import (
	"errors"
	"fmt"
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
		{"later", later, false, 42 * time.Second, 42 * time.Second},
		{"wrapped later", fmt.Errorf("x: %w", later), false, 42 * time.Second, 42 * time.Second},
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
