package worker_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// waitAll waits until every task is completed.
func (e *env) waitAll(queue string, ids []string, timeout time.Duration) {
	e.t.Helper()
	for _, id := range ids {
		e.waitState(queue, id, timeout, asynq.TaskStateCompleted)
	}
}

// maxInWindow is the most calls that fell in any window of length w.
func maxInWindow(calls []providertest.Call, w time.Duration) int {
	times := make([]time.Time, len(calls))
	for i, c := range calls {
		times[i] = c.Time
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestTwoWorkersShareProviderRate: two worker processes on one Redis hold PROVIDER_RATE
// between them, per account.
func TestTwoWorkersShareProviderRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const rate = 10
	e.start(setup{rate: rate, concurrency: 8, agent: "worker-a"})
	e.start(setup{rate: rate, concurrency: 8, agent: "worker-b"})
	var ids []string
	for i := range 30 {
		id, _ := e.enqueue(licence(int64(5000+i), 1009))
		ids = append(ids, id)
	}
	e.waitAll("default", ids, 30*time.Second)

	calls := e.fake.Calls()
	if len(calls) != 30 {
		t.Fatalf("%d calls, want 30", len(calls))
	}
	byAgent := map[string]int{}
	for _, c := range calls {
		byAgent[c.Header.Get("User-Agent")]++
	}
	if byAgent["worker-a"] == 0 || byAgent["worker-b"] == 0 {
		t.Fatalf("calls by worker %v: both must have called", byAgent)
	}
	// Spaced 102.5ms apart as admitted, 11 calls in a row span 1.025s: any second at the fake
	// holds at most 10, one more when a call reaches it more than 25ms late, and another on
	// a slow machine; without the fleet-wide limit the 30 calls would come at once.
	if got := maxInWindow(calls, time.Second); got > rate+2 {
		t.Errorf("%d calls within one second across both workers, PROVIDER_RATE is %d (by worker %v)", got, rate, byAgent)
	}
}

// TestTwoWorkersHoldCallsDuringCooldown: after a -42, neither worker process calls the
// account until the cooldown has passed, and every task completes afterwards without
// spending its budget. With PROVIDER_RATE on, tasks asleep in the rate wait when the -42
// comes back must not call when they wake.
func TestTwoWorkersHoldCallsDuringCooldown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		rate  float64
		tasks int
	}{
		{"no PROVIDER_RATE", 0, 40},
		{"PROVIDER_RATE", 5, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			holdCallsDuringCooldown(t, tc.rate, tc.tasks)
		})
	}
}

func holdCallsDuringCooldown(t *testing.T, rate float64, n int) {
	e := newEnv(t)
	var mu sync.Mutex
	var limitedAt time.Time
	e.fake.SetHook(func(c providertest.Call) *providertest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if limitedAt.IsZero() && c.Form.Get("orderNumber") == "6005" {
			limitedAt = time.Now()
			return &providertest.Answer{Code: -42}
		}
		return nil
	})
	const cooldown = 1500 * time.Millisecond
	// Neither worker reads an account's state again within the hour unless it hears of a
	// change: the -42 one of them gets reaches the other through pub/sub.
	e.start(setup{cooldown: cooldown, rate: rate, concurrency: 4, agent: "worker-a", refresh: time.Hour})
	e.start(setup{cooldown: cooldown, rate: rate, concurrency: 4, agent: "worker-b", refresh: time.Hour})
	var ids []string
	for i := range n {
		id, _ := e.enqueue(licence(int64(6000+i), 1009, tasks.MaxRetry(0)))
		ids = append(ids, id)
	}
	e.waitAll("default", ids, 30*time.Second)

	mu.Lock()
	at := limitedAt
	mu.Unlock()
	if at.IsZero() {
		t.Fatal("the -42 was never answered")
	}
	// Calls already past the cooldown check when the -42 came back may still land just after
	// it; none may start later within the cooldown.
	// 500ms: generous for a slow CI machine, and still a third of the cooldown.
	const inFlight = 500 * time.Millisecond
	var during []string
	var after int
	byAgent := map[string]int{}
	for _, c := range e.fake.Calls() {
		if c.Time.After(at.Add(cooldown)) {
			after++
			byAgent[c.Header.Get("User-Agent")]++
		}
		if c.Time.After(at.Add(inFlight)) && c.Time.Before(at.Add(cooldown)) {
			during = append(during, fmt.Sprintf("%s +%s", c.Header.Get("User-Agent"), c.Time.Sub(at)))
		}
	}
	if len(during) > 0 {
		t.Errorf("calls during the cooldown: %s", strings.Join(during, ", "))
	}
	// Which worker takes the tasks back after the cooldown is up to scheduling: one of them
	// may take them all.
	if after == 0 {
		t.Errorf("no call after the cooldown (by worker %v): the tasks should resume", byAgent)
	}
	// Budget 0: had the -42 or the waits been failures, these tasks would be archived.
	for _, id := range ids {
		info, err := e.insp.GetTaskInfo("default", id)
		if err != nil || info.Retried != 0 {
			t.Fatalf("task %s: %v, retried %d", id, err, info.Retried)
		}
	}
	if n := len(e.fake.CallsFor("6005")); n != 2 {
		t.Errorf("order 6005 called %d times, want 2 (the -42, then success)", n)
	}
}

// The provider counts calls by login: two aliases of one login share its cooldown. A -42 to a
// task of one alias holds the other's tasks too, which used to call into the cooldown.
func TestAliasesOfOneLoginShareItsCooldown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	creds := defaultCreds(t)[tasks.DefaultAccount]
	e.fake.Script("6101", providertest.Answer{Code: -42}) // then success
	const cooldown = 2 * time.Second
	e.start(setup{cooldown: cooldown, accounts: map[string]provider.Credentials{"eu": creds, "us": creds}})
	first, q := e.enqueue(licenceFor("eu", 6101))
	deadline := time.Now().Add(10 * time.Second)
	for len(e.fake.CallsFor("6101")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	limitedAt := time.Now()
	// The cooldown is the login's, under its own keys, not an alias's.
	ctx := context.Background()
	for deadline := time.Now().Add(time.Second); e.redis.Client.Exists(ctx, "ovqueue:login:cooldown:"+providertest.DefaultLoginName).Val() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no cooldown of the login in Redis after the -42")
		}
	}
	if keys := e.redis.Client.Keys(ctx, "ovqueue:*cooldown:eu").Val(); len(keys) != 0 {
		t.Errorf("cooldown keys of the alias: %v", keys)
	}
	second, _ := e.enqueue(licenceFor("us", 6102))
	for _, id := range []string{first, second} {
		if info := e.waitState(q, id, 15*time.Second, asynq.TaskStateCompleted, asynq.TaskStateArchived); info.State != asynq.TaskStateCompleted {
			t.Fatalf("task %s ended %s (%q)", id, info.State, info.LastErr)
		}
	}
	calls := e.fake.CallsFor("6102")
	if len(calls) != 1 {
		t.Fatalf("order 6102 called %d times, want once", len(calls))
	}
	if early := limitedAt.Add(cooldown - 200*time.Millisecond); calls[0].Time.Before(early) {
		t.Errorf("alias us called %s after the -42 to alias eu: inside the login's cooldown of %s", calls[0].Time.Sub(limitedAt), cooldown)
	}
}

// TestNoPasswordInRedis scans every key after tasks of every outcome and finds no password.
func TestNoPasswordInRedis(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.Script("7001", providertest.Answer{Code: -4, Item: "product"})
	e.fake.Script("7002", providertest.Answer{Code: -42})
	e.fake.Script("7003", providertest.Answer{Code: -14})
	e.start(setup{cooldown: 100 * time.Millisecond})
	var ids []string
	for i := range 4 {
		id, _ := e.enqueue(licence(int64(7000+i), 1009))
		ids = append(ids, id)
	}
	for _, id := range ids {
		e.waitState("default", id, 15*time.Second, asynq.TaskStateCompleted, asynq.TaskStateArchived)
	}
	ctx := context.Background()
	rdb := e.redis.Client
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 5 {
		t.Fatalf("only %d keys: the scan would prove nothing", len(keys))
	}
	var dump strings.Builder
	for _, k := range keys {
		typ, _ := rdb.Type(ctx, k).Result()
		var v any
		switch typ {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s of type %s not scanned", k, typ)
		}
		if err != nil {
			t.Fatalf("read %s: %v", k, err)
		}
		fmt.Fprintf(&dump, "%s %v\n", k, v)
	}
	if !strings.Contains(dump.String(), "7001") {
		t.Fatal("the dump does not hold the tasks: the scan would prove nothing")
	}
	for _, secret := range []string{providertest.DefaultLoginPassword, strconv.Quote(providertest.DefaultLoginPassword)} {
		if strings.Contains(dump.String(), secret) {
			t.Fatalf("password found in Redis:\n%s", dump.String())
		}
	}
	if strings.Contains(e.logs.String(), providertest.DefaultLoginPassword) {
		t.Fatal("password found in the logs")
	}
}

// TestLimitRecordGoesWithTheTask: a task that waited on a -42 leaves no rate-limit record
// behind, whether it then completes or is dead-lettered, so that its account's checks stop
// reading Redis once no task of it waits.
func TestLimitRecordGoesWithTheTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.Script("7101", providertest.Answer{Code: -42})                                                 // then success
	e.fake.Script("7102", providertest.Answer{Code: -42}, providertest.Answer{Code: -4, Item: "product"}) // then permanent
	e.fake.Script("7103", providertest.Answer{Code: -42}, providertest.Answer{Code: -14})                 // then its budget (0) is spent
	e.start(setup{cooldown: 100 * time.Millisecond})
	ids := map[string]asynq.TaskState{}
	id, _ := e.enqueue(licence(7101, 1009))
	ids[id] = asynq.TaskStateCompleted
	id, _ = e.enqueue(licence(7102, 1009))
	ids[id] = asynq.TaskStateArchived
	id, _ = e.enqueue(licence(7103, 1009, tasks.MaxRetry(0)))
	ids[id] = asynq.TaskStateArchived
	for id, want := range ids {
		if info := e.waitState("default", id, 15*time.Second, asynq.TaskStateCompleted, asynq.TaskStateArchived); info.State != want {
			t.Errorf("task %s ended %s, want %s", id, info.State, want)
		}
	}
	ctx := context.Background()
	if keys := e.redis.Client.Keys(ctx, "ovqueue:limited:*").Val(); len(keys) > 0 {
		t.Errorf("rate-limit records left behind: %v", keys)
	}
	if n := e.redis.Client.ZCard(ctx, "ovqueue:login:waiting:"+providertest.DefaultLoginName).Val(); n != 0 {
		t.Errorf("%d tasks still counted as waiting", n)
	}
	for _, order := range []string{"7101", "7102", "7103"} {
		if n := len(e.fake.CallsFor(order)); n != 2 {
			t.Errorf("order %s called %d times, want 2 (the -42, then the outcome)", order, n)
		}
	}
}

// holds counts the handlers' rate-limit holds, by reason.
type holds struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *holds) ProviderCall(string, string, time.Duration) {}
func (h *holds) RateLimitWait(_, reason string, _ time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[reason]++
}

func (h *holds) count(reason string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[reason]
}

// A task held by a cooldown comes back once it has ended, not before: asynq keeps a retry's
// time in whole seconds, and a task that came back early would be held again (and counted
// again in the rate-limit metrics).
func TestCooldownHoldsEachTaskOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.Script("7201", providertest.Answer{Code: -42}) // then success
	var h holds
	e.start(setup{cooldown: 1500 * time.Millisecond, observer: &h})
	first, _ := e.enqueue(licence(7201, 1009))
	deadline := time.Now().Add(10 * time.Second)
	for len(e.fake.CallsFor("7201")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("order 7201 was never called")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ids := []string{first}
	const held = 6
	for i := range held {
		id, _ := e.enqueue(licence(int64(7210+i), 1009))
		ids = append(ids, id)
	}
	e.waitAll("default", ids, 20*time.Second)
	if n := h.count("cooldown"); n != held+1 {
		t.Errorf("%d cooldown holds for %d tasks held once each (the -42's own and %d enqueued during the cooldown)", n, held+1, held)
	}
}

// liveAhead enqueues live tasks of the default account one after another, each once the one
// before has completed, and returns how many other calls the fake got between each one's
// enqueue and its call.
func (e *env) liveAhead(orders ...int64) []int {
	e.t.Helper()
	var ahead []int
	for _, o := range orders {
		before := e.fake.CallCount()
		id, queue := e.enqueue(licence(o, 1009))
		e.waitState(queue, id, 30*time.Second, asynq.TaskStateCompleted)
		n := 0
		for _, c := range e.fake.Calls()[before:] {
			if c.Form.Get("orderNumber") == strconv.FormatInt(o, 10) {
				break
			}
			n++
		}
		ahead = append(ahead, n)
	}
	return ahead
}

// waitCalls waits until the fake has had n calls.
func (e *env) waitCalls(n int, timeout time.Duration) {
	e.t.Helper()
	for deadline := time.Now().Add(timeout); e.fake.CallCount() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d calls in %s, want %d", e.fake.CallCount(), timeout, n)
		}
	}
}

// TestLiveTasksGoBeforeABackfill: under PROVIDER_RATE, a backfill of an account fills every
// worker slot with tasks waiting for the account's next call. A live task of the same
// account (queue default) still gets one of the next calls, not a share among them.
func TestLiveTasksGoBeforeABackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const live = 5
	e.start(setup{rate: 10, concurrency: 8})
	var backfill []string
	for i := range 80 {
		id, _ := e.enqueue(licence(int64(6000+i), 1009, tasks.Queue(tasks.QueueBackfill)))
		backfill = append(backfill, id)
	}
	e.waitCalls(5, 10*time.Second)
	ahead := e.liveAhead(7000, 7001, 7002, 7003, 7004) // backfill calls between each live task's enqueue and its call
	// A live task waits for a worker slot to free (a backfill call) and for the call the
	// limiter has already promised: one or two. Sharing the calls with the 7 or 8 backfill
	// tasks asleep in the slots, it would wait for about 7 on average.
	total := 0
	for _, n := range ahead {
		total += n
	}
	if total > 2*live {
		t.Errorf("backfill calls ahead of each live task: %v, want a few at most", ahead)
	}
	e.waitAll(tasks.QueueBackfill, backfill, 30*time.Second)
}

// TestLiveTasksWaitInPlaceAtLowRates: at a PROVIDER_RATE below one call every 2s, a live
// task that comes just after a call waits for the next in its worker slot, and is not sent
// back to the queue. (This harness polls every 50ms, so a task sent back would often still
// be in time for its claim; at POLL_INTERVAL 1s, the default, it mostly is not, and a
// backfill task takes the call. Waiting in place is what this test checks.)
func TestLiveTasksWaitInPlaceAtLowRates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(setup{rate: 0.4, concurrency: 4}) // one call every 2.56s
	for i := range 2 {
		e.enqueue(licence(int64(6000+i), 1009, tasks.Queue(tasks.QueueBackfill)))
	}
	e.waitCalls(1, 10*time.Second)
	id, queue := e.enqueue(licence(7000, 1009)) // the next call is about 2.5s away
	info := e.waitState(queue, id, 20*time.Second, asynq.TaskStateCompleted)
	if info.LastErr != "" {
		t.Errorf("the live task went back to the queue on its way to its call: %s", info.LastErr)
	}
	if calls := e.fake.Calls(); len(calls) < 2 || calls[1].Form.Get("orderNumber") != "7000" {
		t.Errorf("the call after the first went to order %s, want the live task's", calls[min(1, len(calls)-1)].Form.Get("orderNumber"))
	}
}

// TestShutdownEndsRateWaits: a live task asleep in its PROVIDER_RATE wait (up to 10s at low
// rates) goes back to its queue when the worker starts to stop, without a call and without
// spending its budget, instead of keeping the shutdown waiting and then calling in its time.
func TestShutdownEndsRateWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := e.start(setup{rate: 0.2, concurrency: 2, shutdown: 10 * time.Second}) // one call every 5.125s
	e.enqueue(licence(6000, 1009))
	e.waitCalls(1, 10*time.Second)
	id, queue := e.enqueue(licence(7000, 1009)) // its call is about 5s away
	e.waitState(queue, id, 5*time.Second, asynq.TaskStateActive)
	time.Sleep(200 * time.Millisecond) // asleep in the wait
	start := time.Now()
	w.Shutdown()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Shutdown took %s, want the waiting task given back at once", took)
	}
	if n := e.fake.CallCount(); n != 1 {
		t.Errorf("%d calls, want 1: the waiting task called during the shutdown", n)
	}
	info, err := e.insp.GetTaskInfo(queue, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateRetry || info.Retried != 0 {
		t.Errorf("the waiting task is %s with %d retries spent, want back for a retry with none spent", info.State, info.Retried)
	}
}

// A Redis user whose ACL leaves out the limiter's keys (the worker checks them at start, but
// an ACL can change since): every task is put back without a call, as for a Redis that is
// away, and an error line says why, at most every 30 s, not once a task.
func TestLimiterKeysRefusedAreLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if !e.redis.Real {
		t.Skip("the embedded Redis has no ACLs; runs with TEST_REDIS_URL")
	}
	user := "ovqueue-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := e.redis.Client.Do(t.Context(), "ACL", "SETUSER", user, "reset", "on", ">pw",
		"~asynq:*", "~ovqueue:deadletters*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.redis.Client.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	opts, err := redis.ParseURL(e.redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	opts.Username, opts.Password = user, "pw"
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	pc, err := provider.New(e.fake.URL, provider.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(e.logs).Level(zerolog.InfoLevel)
	h, err := handler.New(handler.Config{Client: pc, Accounts: defaultCreds(t), Fleet: ratelimit.New(rdb, time.Second, 0),
		Logger: log, RateLimitMaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{Redis: rdb, Handlers: h, DeadLetters: deadletter.New(rdb),
		Retry: retry.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond}, Concurrency: 4,
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown() })
	for i := range 3 {
		e.enqueue(licence(int64(9201+i), 700, tasks.MaxRetry(0)))
	}
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(e.logs.String(), "Redis refuses the rate limiter's keys") })
	time.Sleep(7 * time.Second) // each task has been put back at least once more
	if n := strings.Count(e.logs.String(), "Redis refuses the rate limiter's keys"); n != 1 {
		t.Errorf("%d error lines for the refused keys, want 1 within 30 s", n)
	}
	if !strings.Contains(e.logs.String(), "NOPERM") {
		t.Errorf("the line does not carry Redis's answer:\n%s", e.logs.String())
	}
	if n := e.fake.CallCount(); n != 0 {
		t.Errorf("%d provider calls without the limits read", n)
	}
	if recs := e.deadLetters(); len(recs) != 0 {
		t.Errorf("dead letters: %+v", recs)
	}
}
