// Package ratelimit holds the worker fleet's shared view of each provider account, in Redis so
// that every worker process obeys it: the cooldown after a -42 (no process calls the account
// until it ends), the PROVIDER_RATE limiter, and how long each task has been rate-limited.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Key prefixes in Redis.
const (
	cooldownPrefix = "ovqueue:cooldown:" // + account: exists while the account cools down
	limitedPrefix  = "ovqueue:limited:"  // + task ID: hash {since, calls} while a task waits on a limit
	ratePrefix     = "ovqueue:"          // redis_rate adds "rate:" before it
)

// Fleet is one process's handle on the shared state. It is safe for concurrent use.
type Fleet struct {
	rdb      redis.UniversalClient
	limiter  *redis_rate.Limiter
	limit    redis_rate.Limit // zero: PROVIDER_RATE off
	cooldown time.Duration
	now      func() time.Time
}

// New returns a Fleet on rdb. cooldown is how long an account rests after a -42; rate is the
// most calls a second per account across the fleet (0 = no limit).
func New(rdb redis.UniversalClient, cooldown time.Duration, rate float64) *Fleet {
	return &Fleet{rdb: rdb, limiter: redis_rate.NewLimiter(rdb), limit: LimitFor(rate), cooldown: cooldown, now: time.Now}
}

// LimitFor turns calls a second into an evenly spaced limit (no bursts): 5 → one call every
// 200ms, 0.5 → one every 2s. 0 or less is no limit.
func LimitFor(rate float64) redis_rate.Limit {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return redis_rate.Limit{}
	}
	if rate == math.Trunc(rate) && rate <= 1e6 {
		return redis_rate.Limit{Rate: int(rate), Burst: 1, Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / rate)}
}

// State is what a task must know before it calls the provider.
type State struct {
	Cooldown     time.Duration // > 0 while the account cools down
	LimitedSince time.Time     // when the task was first rate-limited; zero if never
	LimitedCalls int           // calls that were answered with a rate limit
}

// check reads the account's cooldown and the task's limit record in one round trip.
var check = redis.NewScript(`
local ttl = redis.call("PTTL", KEYS[1])
local rec = redis.call("HMGET", KEYS[2], "since", "calls")
return {ttl, rec[1] or "", rec[2] or ""}
`)

// Check returns the account's cooldown and the task's rate-limit history.
func (f *Fleet) Check(ctx context.Context, account, taskID string) (State, error) {
	res, err := check.Run(ctx, f.rdb, []string{cooldownPrefix + account, limitedPrefix + taskID}).Slice()
	if err != nil {
		return State{}, fmt.Errorf("check rate limits of %s: %w", account, err)
	}
	var s State
	if ttl, ok := res[0].(int64); ok && ttl > 0 {
		s.Cooldown = time.Duration(ttl) * time.Millisecond
	}
	if v, _ := res[1].(string); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			s.LimitedSince = time.UnixMilli(ms)
		}
	}
	if v, _ := res[2].(string); v != "" {
		s.LimitedCalls, _ = strconv.Atoi(v)
	}
	return s, nil
}

// StartCooldown makes every worker process hold its calls for account for the cooldown.
func (f *Fleet) StartCooldown(ctx context.Context, account string) (time.Duration, error) {
	if err := f.rdb.Set(ctx, cooldownPrefix+account, f.now().UnixMilli(), f.cooldown).Err(); err != nil {
		return 0, fmt.Errorf("start cooldown of %s: %w", account, err)
	}
	return f.cooldown, nil
}

// Cooldown is how long an account rests after a rate limit.
func (f *Fleet) Cooldown() time.Duration { return f.cooldown }

// MarkLimited records that a task is waiting on a rate limit (since now, unless it already
// was) and, if called, that one more call was answered with one. The record expires after ttl.
func (f *Fleet) MarkLimited(ctx context.Context, taskID string, called bool, ttl time.Duration) error {
	key := limitedPrefix + taskID
	_, err := f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, key, "since", f.now().UnixMilli())
		if called {
			p.HIncrBy(ctx, key, "calls", 1)
		}
		p.Expire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %s rate-limited: %w", taskID, err)
	}
	return nil
}

// Forget drops a task's rate-limit record once it is done.
func (f *Fleet) Forget(ctx context.Context, taskID string) error {
	return f.rdb.Del(ctx, limitedPrefix+taskID).Err()
}

// ErrHeldBack is returned (wrapped in *HeldBack) when PROVIDER_RATE holds a call back for
// longer than the caller is willing to wait in place.
var ErrHeldBack = errors.New("held back by PROVIDER_RATE")

// HeldBack says when the account's rate allows the next call.
type HeldBack struct{ After time.Duration }

func (e *HeldBack) Error() string {
	return fmt.Sprintf("%v for %s", ErrHeldBack, e.After.Round(time.Millisecond))
}

func (e *HeldBack) Is(target error) bool { return target == ErrHeldBack }

// Wait takes one call from the account's PROVIDER_RATE budget, sleeping while the wait is at
// most maxWait; a longer wait returns a *HeldBack so the task can be rescheduled instead of
// holding a worker. It returns how long it slept.
func (f *Fleet) Wait(ctx context.Context, account string, maxWait time.Duration) (time.Duration, error) {
	if f.limit.IsZero() {
		return 0, nil
	}
	var slept time.Duration
	for {
		res, err := f.limiter.Allow(ctx, ratePrefix+account, f.limit)
		if err != nil {
			return slept, fmt.Errorf("rate limit of %s: %w", account, err)
		}
		if res.Allowed > 0 {
			return slept, nil
		}
		if slept+res.RetryAfter > maxWait {
			return slept, &HeldBack{After: res.RetryAfter}
		}
		t := time.NewTimer(res.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return slept, ctx.Err()
		case <-t.C:
			slept += res.RetryAfter
		}
	}
}
