package ratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/redistest"
)

// takeCall takes the account's next call at once, so that the one after it has to wait.
func takeCall(t *testing.T, f *Fleet, account string) {
	t.Helper()
	if _, err := f.Wait(t.Context(), account, Waiter{MaxWait: time.Second}); err != nil {
		t.Fatal(err)
	}
}

func TestLimitFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate float64
		want redis_rate.Limit
	}{
		{0, redis_rate.Limit{}},
		{-1, redis_rate.Limit{}},
		// rate+1 calls in a row span a second and JitterMargin, not exactly a second.
		{5, redis_rate.Limit{Rate: 5, Burst: 1, Period: 1025 * time.Millisecond}},
		{1, redis_rate.Limit{Rate: 1, Burst: 1, Period: 1025 * time.Millisecond}},
		{0.5, redis_rate.Limit{Rate: 1, Burst: 1, Period: 2050 * time.Millisecond}},
		{2.5, redis_rate.Limit{Rate: 1, Burst: 1, Period: 410 * time.Millisecond}},
		{1e6, redis_rate.Limit{Rate: 1_000_000, Burst: 1, Period: 1025 * time.Millisecond}},
		// A second wider at most: one a day stays about one a day.
		{0.01, redis_rate.Limit{Rate: 1, Burst: 1, Period: 101 * time.Second}},
		{1.0 / 86400, redis_rate.Limit{Rate: 1, Burst: 1, Period: 86401 * time.Second}},
	}
	for _, tt := range tests {
		if got := LimitFor(tt.rate); got != tt.want {
			t.Errorf("LimitFor(%v) = %+v, want %+v", tt.rate, got, tt.want)
		}
	}
}

func TestCooldownAndLimitRecord(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	// Refresh 0: every Check reads Redis, which is what this test is about.
	a := New(r.Client, time.Minute, 0, WithRefresh(0))
	b := New(r.Client, time.Minute, 0, WithRefresh(0)) // another worker process on the same Redis
	ctx := t.Context()

	st, err := b.Check(ctx, "eu", "task-1")
	if err != nil || st != (State{}) {
		t.Fatalf("fresh state = %+v, %v", st, err)
	}
	if _, err := a.StartCooldown(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	st, err = b.Check(ctx, "eu", "task-1")
	if err != nil || st.Cooldown <= 50*time.Second || st.Cooldown > time.Minute {
		t.Fatalf("after -42 elsewhere: %+v, %v; want about a minute of cooldown", st, err)
	}
	if st, _ := b.Check(ctx, "us", "task-1"); st.Cooldown != 0 {
		t.Errorf("another account cools down too: %+v", st)
	}

	before := time.Now().Add(-time.Second)
	// Held 300ms; back after 400 (its queue was long), held 200; back after 300, held 100.
	if err := a.MarkLimited(ctx, "us", "task-1", true, 300*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if err := a.MarkLimited(ctx, "us", "task-1", false, 200*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := a.MarkLimited(ctx, "us", "task-1", true, 100*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	st, _ = b.Check(ctx, "us", "task-1")
	// The cooldowns that held it add up, not the time since.
	if st.LimitedCalls != 2 || st.LimitedSince.Before(before) || st.LimitedSince.After(time.Now()) ||
		st.LimitedFor != 600*time.Millisecond || st.HeldFor <= 0 || st.HeldFor > 100*time.Millisecond {
		t.Fatalf("limit record = %+v, want 2 calls since about now, held 600ms, up to 100ms of it left", st)
	}
	// Back before its hold ends (run from the UI) and held again: the overlap counts once
	// (200ms of the 300 are new, and the few ms since the last mark).
	if err := a.MarkLimited(ctx, "us", "task-1", false, 300*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	st, _ = b.Check(ctx, "us", "task-1")
	if st.LimitedFor < 800*time.Millisecond || st.LimitedFor > 880*time.Millisecond {
		t.Fatalf("a hold over the rest of another: %+v, want held about 800ms, not 900", st)
	}
	held := st.LimitedFor
	// One that ends before the last: adds nothing.
	if err := a.MarkLimited(ctx, "us", "task-1", false, 50*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Check(ctx, "us", "task-1"); st.LimitedFor != held {
		t.Fatalf("a hold within another: %+v, want held %s still", st, held)
	}
	// An answered call ends the wait: the next limit starts a new total, the calls still count.
	if err := a.EndWait(ctx, "us", "task-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Check(ctx, "us", "task-1"); st.LimitedFor != 0 || !st.LimitedSince.IsZero() || st.LimitedCalls != 2 {
		t.Fatalf("after EndWait: %+v", st)
	}
	if err := a.MarkLimited(ctx, "us", "task-1", false, time.Second, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Check(ctx, "us", "task-1"); st.LimitedFor != time.Second || st.LimitedCalls != 2 {
		t.Fatalf("a new wait after EndWait: %+v, want held 1s", st)
	}
	// A total without its start (an older worker's end of the wait removed only "since") is no
	// part of a new wait.
	if err := r.Client.HDel(ctx, limitedPrefix+"task-1", "since").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkLimited(ctx, "us", "task-1", false, 2*time.Second, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, _ = b.Check(ctx, "us", "task-1"); st.LimitedFor != 2*time.Second {
		t.Fatalf("a new wait over a stale total: %+v, want held 2s", st)
	}
	if ttl := r.Client.TTL(ctx, limitedPrefix+"task-1").Val(); ttl <= 0 {
		t.Errorf("limit record has no expiry (ttl %s): it would stay forever", ttl)
	}
	if err := b.Forget(ctx, "us", "task-1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Check(ctx, "us", "task-1"); st != (State{}) {
		t.Errorf("after Forget: %+v", st)
	}
}

func TestWaitHoldsBackBeyondMaxWait(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 0.2) // one call every 5.125s (JitterMargin)
	ctx := t.Context()
	if slept, err := f.Wait(ctx, "eu", Waiter{MaxWait: time.Second}); err != nil || slept != 0 {
		t.Fatalf("first call: slept %s, %v", slept, err)
	}
	_, err := f.Wait(ctx, "eu", Waiter{MaxWait: time.Second})
	var held *HeldBack
	if !errors.As(err, &held) || !errors.Is(err, ErrHeldBack) || held.After < 3*time.Second || held.After > 5125*time.Millisecond {
		t.Fatalf("second call: %v, want held back about 5s", err)
	}
	if slept, err := f.Wait(ctx, "us", Waiter{MaxWait: time.Second}); err != nil || slept != 0 {
		t.Fatalf("other account: slept %s, %v", slept, err)
	}
	off := New(r.Client, time.Minute, 0)
	for range 100 {
		if _, err := off.Wait(ctx, "eu", Waiter{MaxWait: 0}); err != nil {
			t.Fatalf("rate off: %v", err)
		}
	}
}

func TestWaitSleepsShortWaits(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 20) // one call every 51.25ms (with JitterMargin)
	ctx := t.Context()
	var total time.Duration
	for range 5 {
		slept, err := f.Wait(ctx, "eu", Waiter{MaxWait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		total += slept
	}
	// Five calls at 20/s: the last four each wait for their slot, 51.25ms apart.
	if total < 150*time.Millisecond {
		t.Errorf("five calls slept %s in all, want about 200ms", total)
	}
}

// TestRateLeavesRoomForJitter: rate+1 calls in a row span more than a second, so that a call
// that reaches the provider a little early or late does not put one call too many into a
// second there.
func TestRateLeavesRoomForJitter(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 5)
	start := time.Now() // no later than the first call's admission
	for range 6 {
		takeCall(t, f, "eu")
	}
	// 1ms less for a host clock that runs a little fast against Redis's.
	if took := time.Since(start); took < time.Second+JitterMargin-time.Millisecond {
		t.Errorf("6 calls at PROVIDER_RATE 5 within %s, want them spread over at least %s", took, time.Second+JitterMargin)
	}
}

// TestWaitServesLiveTasksFirst: tasks of queue backfill asleep in the rate wait let a live
// task that came after them take the account's next call.
func TestWaitServesLiveTasksFirst(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	// One call every 512.5ms: the live task, asleep 50ms after the backfill tasks, has 460ms
	// to claim the next call, which a loaded machine may need (it once missed 70ms).
	a := New(r.Client, time.Minute, 2)
	b := New(r.Client, time.Minute, 2) // another worker process
	ctx := t.Context()
	takeCall(t, a, "eu")
	order := make(chan string, 9)
	errs := make(chan error, 9)
	for i := range 8 {
		f := a
		if i%2 == 1 {
			f = b
		}
		go func() {
			_, err := f.Wait(ctx, "eu", Waiter{MaxWait: 10 * time.Second})
			errs <- err
			order <- "backfill"
		}()
	}
	time.Sleep(50 * time.Millisecond) // the backfill tasks are asleep, waiting for the next call
	go func() {
		_, err := b.Wait(ctx, "eu", Waiter{Task: "live-1", Live: true, MaxWait: 5 * time.Second})
		errs <- err
		order <- "live"
	}()
	var got []string
	for range 9 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		got = append(got, <-order)
	}
	if got[0] != "live" {
		t.Errorf("calls went to %v, want the live task first", got)
	}
	if n, err := r.Client.ZCard(ctx, livePrefix+"eu").Result(); err != nil || n != 0 {
		t.Errorf("%d claims left after the live task's call (%v), want none", n, err)
	}
}

// TestLiveClaimLapses: a live task held back keeps the account's next call for itself a
// little past it, and no longer: if it does not come back, the other tasks go on.
func TestLiveClaimLapses(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 2) // one call every 512.5ms
	ctx := t.Context()
	takeCall(t, f, "eu")
	_, err := f.Wait(ctx, "eu", Waiter{Task: "live-1", Live: true, MaxWait: 0})
	var held *HeldBack
	if !errors.As(err, &held) {
		t.Fatalf("live task: %v, want held back", err)
	}
	start := time.Now()
	if _, err := f.Wait(ctx, "eu", Waiter{MaxWait: 5 * time.Second}); err != nil {
		t.Fatalf("backfill task: %v, want a call once the claim lapsed", err)
	}
	// The next call was due within 500ms; the claim lasts a LiveGrace beyond it.
	if took := time.Since(start); took < held.After+LiveGrace-200*time.Millisecond {
		t.Errorf("the backfill task called after %s, before the live task's claim (%s + %s) lapsed", took, held.After, LiveGrace)
	}
	// Other accounts are not held by it.
	if slept, err := f.Wait(ctx, "us", Waiter{MaxWait: time.Second}); err != nil || slept != 0 {
		t.Errorf("other account: slept %s, %v", slept, err)
	}
}

// TestLiveClaimsKeepRedisTime: claims are timed by Redis's clock, so that hosts whose clocks
// disagree neither drop a live task's claim nor hold the others back for the difference.
func TestLiveClaimsKeepRedisTime(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ahead := New(r.Client, time.Minute, 2) // one call every 512.5ms; a host 10 minutes ahead
	ahead.now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	behind := New(r.Client, time.Minute, 2) // and one 2s behind
	behind.now = func() time.Time { return time.Now().Add(-2 * time.Second) }
	ctx := t.Context()
	for _, tc := range []struct {
		name           string
		live, backfill *Fleet
	}{
		{"live host ahead", ahead, behind},
		{"live host behind", behind, ahead},
	} {
		if _, err := tc.backfill.Wait(ctx, "eu", Waiter{MaxWait: time.Second}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err := tc.live.Wait(ctx, "eu", Waiter{Task: "live-1", Live: true, MaxWait: 0})
		var held *HeldBack
		if !errors.As(err, &held) {
			t.Fatalf("%s: live task: %v, want held back", tc.name, err)
		}
		start := time.Now()
		if _, err := tc.backfill.Wait(ctx, "eu", Waiter{MaxWait: 5 * time.Second}); err != nil {
			t.Fatalf("%s: backfill task: %v, want a call once the claim lapsed", tc.name, err)
		}
		if took, want := time.Since(start), held.After+LiveGrace; took < want-200*time.Millisecond || took > want+time.Second {
			t.Errorf("%s: the backfill task called after %s, want about %s (the claim's lapse)", tc.name, took, want)
		}
	}
}

// TestWaitUnderAClaimKeepsToMaxWait: at a high rate, a task that defers to a live task's claim
// looks again every few milliseconds, not every call interval (1µs here), and counts the
// time it spends doing so against its wait.
func TestWaitUnderAClaimKeepsToMaxWait(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 1e6)
	ctx := t.Context()
	if _, err := f.claim(ctx, "eu", "live-1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var commands atomic.Int64
	r.Client.AddHook(countHook{&commands})
	start := time.Now()
	_, err := f.Wait(ctx, "eu", Waiter{MaxWait: 300 * time.Millisecond})
	var held *HeldBack
	if !errors.As(err, &held) {
		t.Fatalf("backfill task under a claim: %v, want held back", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("held back after %s, want about 300ms", took)
	}
	if held.After < 9*time.Second {
		t.Errorf("held back for %s, want until the claim lapses (10s)", held.After)
	}
	// A look every 10ms: about 30 in 300ms.
	if n := commands.Load(); n > 80 {
		t.Errorf("%d Redis commands in a wait of 300ms, want about 30", n)
	}
}

// countHook counts the commands sent through a client.
type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestOnlyTheFirstLiveTaskWaitsLong: at a rate below one call every MaxWait, the live task
// first in line waits in place for the next call (up to FirstMaxWait); one behind it does
// not hold a worker for a call it cannot have, and goes back to its queue.
func TestOnlyTheFirstLiveTaskWaitsLong(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 0.5) // one call every 2.05s
	ctx := t.Context()
	takeCall(t, f, "eu")
	w := Waiter{Live: true, MaxWait: 500 * time.Millisecond, FirstMaxWait: 3 * time.Second}
	first := make(chan error, 1)
	w1 := w
	w1.Task = "live-1"
	go func() {
		_, err := f.Wait(ctx, "eu", w1)
		first <- err
	}()
	time.Sleep(200 * time.Millisecond)
	w.Task = "live-2"
	start := time.Now()
	_, err := f.Wait(ctx, "eu", w)
	var held *HeldBack
	if !errors.As(err, &held) || time.Since(start) > time.Second {
		t.Errorf("the second live task: %v after %s, want held back at once", err, time.Since(start))
	}
	if err := <-first; err != nil {
		t.Errorf("the first live task: %v, want its call after about 2s in place", err)
	}
}

// TestWaitEndsWhenTheWorkerStops: a task asleep in the wait goes back to its queue once the
// worker starts to stop, instead of calling in the shutdown's time.
func TestWaitEndsWhenTheWorkerStops(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 0.2) // one call every 5.125s (JitterMargin)
	ctx := t.Context()
	takeCall(t, f, "eu")
	for _, live := range []bool{false, true} {
		stop := make(chan struct{})
		time.AfterFunc(100*time.Millisecond, func() { close(stop) })
		start := time.Now()
		_, err := f.Wait(ctx, "eu", Waiter{Task: "task-1", Live: live, MaxWait: 10 * time.Second, Stop: stop})
		var held *HeldBack
		if !errors.As(err, &held) || time.Since(start) > time.Second {
			t.Errorf("live %t: %v after %s, want held back as the worker stops", live, err, time.Since(start))
		}
		// A stopping worker leaves no claim to hold the others back.
		if n, err := r.Client.ZCard(ctx, livePrefix+"eu").Result(); err != nil || n != 0 {
			t.Errorf("live %t: %d claims left as the worker stopped (%v), want none", live, n, err)
		}
	}
}

// TestLiveClaimEndsWithTheCall: a live task held back keeps its claim; when it comes back and
// has its call at once, the claim goes with the call, not a second later.
func TestLiveClaimEndsWithTheCall(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 10) // one call every 102.5ms
	ctx := t.Context()
	takeCall(t, f, "eu")
	w := Waiter{Task: "live-1", Live: true}
	_, err := f.Wait(ctx, "eu", w)
	var held *HeldBack
	if !errors.As(err, &held) {
		t.Fatalf("live task: %v, want held back", err)
	}
	time.Sleep(held.After + 50*time.Millisecond) // back in time for its call
	if slept, err := f.Wait(ctx, "eu", w); err != nil || slept != 0 {
		t.Fatalf("live task, back: slept %s, %v; want its call at once", slept, err)
	}
	if n, err := r.Client.ZCard(ctx, livePrefix+"eu").Result(); err != nil || n != 0 {
		t.Errorf("%d claims left after the live task's call (%v), want none", n, err)
	}
}

// The holds that a task's total counts are timed by Redis's clock: a worker whose clock runs
// ahead must not make the holds other workers mark look covered (the total would stop growing,
// and the task would wait past RATE_LIMIT_MAX_WAIT for ever).
func TestLimitHoldsKeepToRedisClock(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ahead := New(r.Client, time.Minute, 0, WithRefresh(0))
	ahead.now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	b := New(r.Client, time.Minute, 0, WithRefresh(0))
	ctx := t.Context()
	if err := ahead.MarkLimited(ctx, "us", "task-9", true, 100*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := b.MarkLimited(ctx, "us", "task-9", true, 100*time.Millisecond, time.Hour); err != nil {
		t.Fatal(err)
	}
	st, err := b.Check(ctx, "us", "task-9")
	if err != nil || st.LimitedFor != 200*time.Millisecond || st.HeldFor > 100*time.Millisecond {
		t.Fatalf("limit record = %+v, %v; want held 200ms (two holds one after the other), at most 100ms left", st, err)
	}
}
