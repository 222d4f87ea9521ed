package ratelimit

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/embedredis"
	"github.com/ovqueue/ovqueue/internal/redistest"
)

// counted is a client of r's database that counts the commands it sends, and runs after (once)
// when the next check script has been answered.
type counted struct {
	*redis.Client
	n     atomic.Int64
	mu    sync.Mutex
	after func()
}

func newCounted(t *testing.T, r *redistest.Redis) *counted {
	t.Helper()
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &counted{Client: redis.NewClient(opt)}
	t.Cleanup(func() { _ = c.Close() })
	// Connect and load the script before counting.
	if err := check.Load(t.Context(), c.Client).Err(); err != nil {
		t.Fatal(err)
	}
	c.AddHook(c)
	return c
}

func (c *counted) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counted) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		err := next(ctx, cmd)
		if name := cmd.Name(); err == nil && (name == "evalsha" || name == "eval") {
			c.mu.Lock()
			after := c.after
			c.after = nil
			c.mu.Unlock()
			if after != nil {
				after()
			}
		}
		return err
	}
}

func (c *counted) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// otherDatabase returns a client of another database on r's server.
func otherDatabase(t *testing.T, r *redistest.Redis) redis.UniversalClient {
	t.Helper()
	if r.Real {
		return redistest.New(t).Client // a database of its own on the same server
	}
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.DB++
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clock is a settable time for a Fleet's cache (Redis keeps its own time).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestQuietAccountIsCheckedWithoutRedis(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	c := newCounted(t, r)
	clk := &clock{t: time.Now()}
	f := New(c, time.Minute, 0)
	f.now = clk.now
	ctx := t.Context()

	if st, err := f.Check(ctx, "eu", "task-1"); err != nil || st != (State{}) {
		t.Fatalf("first check: %+v, %v", st, err)
	}
	if n := c.n.Load(); n != 1 {
		t.Fatalf("first check sent %d commands, want 1", n)
	}
	for i := range 100 {
		if st, err := f.Check(ctx, "eu", "task-"+string(rune('a'+i%26))); err != nil || st != (State{}) {
			t.Fatalf("check %d: %+v, %v", i, st, err)
		}
	}
	if n := c.n.Load(); n != 1 {
		t.Errorf("100 checks of a quiet account within %s sent %d commands, want none", DefaultRefresh, n-1)
	}
	clk.add(DefaultRefresh)
	if _, err := f.Check(ctx, "eu", "task-1"); err != nil {
		t.Fatal(err)
	}
	if n := c.n.Load(); n != 2 {
		t.Errorf("a check after %s sent %d commands, want 1: the state must be read again", DefaultRefresh, n-1)
	}
}

func TestCooldownReachesOtherProcesses(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	a := New(r.Client, time.Minute, 0)

	// b listens and would not read Redis again for an hour: only the message can tell it.
	b := New(r.Client, time.Minute, 0, WithRefresh(time.Hour))
	stop, err := b.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// c does not listen: it reads Redis again after the refresh interval.
	clk := &clock{t: time.Now()}
	c := New(r.Client, time.Minute, 0)
	c.now = clk.now
	// d is a fleet on another database of the same server: pub/sub crosses databases. e
	// starts a cooldown there once a has, to show when d would have heard a's.
	other := otherDatabase(t, r)
	d := New(other, time.Minute, 0, WithRefresh(time.Hour))
	stopD, err := d.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stopD()
	e := New(other, time.Minute, 0)
	for _, f := range []*Fleet{b, c, d} {
		if st, err := f.Check(ctx, "eu", ""); err != nil || st.Cooldown != 0 {
			t.Fatalf("before: %+v, %v", st, err)
		}
	}

	if _, err := a.StartCooldown(ctx, "eu"); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Check(ctx, "eu", ""); st.Cooldown < 50*time.Second {
		t.Errorf("the process that started the cooldown does not hold: %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := b.Check(ctx, "eu", "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Cooldown > 50*time.Second && st.Cooldown <= time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a listening process did not learn of the cooldown in 5s: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, _ := b.Check(ctx, "us", ""); st.Cooldown != 0 {
		t.Errorf("another account cools down too: %+v", st)
	}

	if st, _ := c.Check(ctx, "eu", ""); st.Cooldown != 0 {
		t.Errorf("within the refresh interval c should still trust what it read (%+v): is the cache used?", st)
	}
	clk.add(DefaultRefresh)
	if st, _ := c.Check(ctx, "eu", ""); st.Cooldown < 50*time.Second {
		t.Errorf("after the refresh interval a process that does not listen must see the cooldown: %+v", st)
	}

	// Redis delivers messages in the order they were published: once d has heard e's, it
	// would have heard a's, had it been on a's channel.
	if _, err := e.StartCooldown(ctx, "marker"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := d.Check(ctx, "marker", ""); st.Cooldown > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("d never heard a cooldown on its own database")
		}
	}
	if st, _ := d.Check(ctx, "eu", ""); st.Cooldown != 0 {
		t.Errorf("a fleet on another database cools down: %+v", st)
	}
}

// What a process learns while a read of Redis is under way must survive that read's answer.
func TestReadDoesNotEraseWhatWasLearntMeanwhile(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	c := newCounted(t, r)
	f := New(c, time.Minute, 0, WithRefresh(time.Hour))
	c.after = func() { f.learn("eu", time.Minute) } // as if a message arrived while Redis answered
	if _, err := f.Check(ctx, "eu", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Check(ctx, "eu", ""); st.Cooldown < 50*time.Second || st.Cooldown > time.Minute {
		t.Errorf("the cooldown learnt during the read was lost: %+v", st)
	}

	// A task of "us" is marked while a read of "us" (no mark yet) is answered: the next
	// check must still read the task's record.
	c.after = func() {
		if err := f.MarkLimited(ctx, "us", "task-1", true, 0, time.Hour); err != nil {
			t.Error(err)
		}
	}
	if _, err := f.Check(ctx, "us", "task-1"); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.Check(ctx, "us", "task-1"); st.LimitedCalls != 1 {
		t.Errorf("the mark made during the read was lost: %+v, want the task's record", st)
	}
}

func TestLimitRecordIsReadWhileTheAccountWaits(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	a := New(r.Client, time.Minute, 0)
	clk := &clock{t: time.Now()}
	c := newCounted(t, r)
	b := New(c, time.Minute, 0)
	b.now = clk.now

	if st, _ := b.Check(ctx, "eu", "task-1"); st != (State{}) {
		t.Fatalf("before: %+v", st)
	}
	if err := a.MarkLimited(ctx, "eu", "task-1", true, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.add(DefaultRefresh)
	for i := range 3 {
		st, err := b.Check(ctx, "eu", "task-1")
		if err != nil || st.LimitedCalls != 1 || st.LimitedSince.IsZero() {
			t.Fatalf("check %d after the mark: %+v, %v; want the task's record", i, st, err)
		}
	}
	if st, _ := b.Check(ctx, "eu", "task-2"); st != (State{}) {
		t.Errorf("a task that never waited: %+v", st)
	}

	// Once no task waits, quiet checks stop reading Redis.
	if err := b.Forget(ctx, "eu", "task-1"); err != nil {
		t.Fatal(err)
	}
	clk.add(DefaultRefresh)
	if st, _ := b.Check(ctx, "eu", "task-1"); st != (State{}) {
		t.Fatalf("after Forget: %+v", st)
	}
	n := c.n.Load()
	for range 10 {
		_, _ = b.Check(ctx, "eu", "task-1")
	}
	if got := c.n.Load() - n; got != 0 {
		t.Errorf("checks after the last waiting task was forgotten sent %d commands, want none", got)
	}

	// A task that is never forgotten (deleted from the UI while it waited) stops counting when
	// its record expires.
	if err := b.MarkLimited(ctx, "eu", "task-3", false, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk.add(DefaultRefresh)
	if _, err := b.Check(ctx, "eu", ""); err != nil {
		t.Fatal(err)
	}
	n = c.n.Load()
	_, _ = b.Check(ctx, "eu", "")
	if c.n.Load() == n {
		t.Fatal("a waiting task did not make checks read Redis")
	}
	clk.add(time.Hour + DefaultRefresh)
	_, _ = b.Check(ctx, "eu", "") // reads Redis, which drops the expired task
	n = c.n.Load()
	_, _ = b.Check(ctx, "eu", "")
	if got := c.n.Load() - n; got != 0 {
		t.Errorf("a check after the only waiting task's record expired sent %d commands, want none", got)
	}
}

// The account's set of waiting tasks must outlive every record in it, even when workers mark
// with different times to live (RATE_LIMIT_MAX_WAIT differs during a rolling change).
func TestWaitingSetOutlivesEveryRecord(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	long := New(r.Client, time.Minute, 0)
	short := New(r.Client, time.Minute, 0)
	if err := long.MarkLimited(ctx, "eu", "task-1", true, 0, 25*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := short.MarkLimited(ctx, "eu", "task-2", true, 0, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	record := r.Client.PTTL(ctx, limitedPrefix+"task-1").Val()
	set := r.Client.PTTL(ctx, waitingPrefix+"eu").Val()
	if record < 24*time.Hour || set < record-time.Second {
		t.Errorf("the waiting set expires in %s, the 25h record in %s: the set must not expire first", set, record)
	}
	if n := r.Client.ZCard(ctx, waitingPrefix+"eu").Val(); n != 2 {
		t.Errorf("waiting set holds %d tasks, want 2", n)
	}
}

// A Redis user that may not publish on the channel must still start the cooldown for everyone:
// the announcement is best effort, the cooldown key is not.
func TestCooldownHoldsWhenPublishIsRefused(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	if !r.Real {
		t.Skip("needs a real Redis (ACLs); set TEST_REDIS_URL")
	}
	ctx := t.Context()
	user := fmt.Sprintf("ovqueue-test-%d", time.Now().UnixNano())
	password := "pw-" + user
	// Every key and command, no channel.
	if err := r.Client.Do(ctx, "ACL", "SETUSER", user, "on", ">"+password, "~*", "+@all", "resetchannels").Err(); err != nil {
		t.Skipf("cannot create an ACL user: %v", err)
	}
	t.Cleanup(func() { _ = r.Client.Do(context.Background(), "ACL", "DELUSER", user).Err() })
	opt, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	opt.Username, opt.Password = user, password
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Publish(ctx, channelFor(c), "x").Err(); err == nil {
		t.Fatal("the user may publish: the test proves nothing")
	}

	f := New(c, time.Minute, 0)
	if _, err := f.StartCooldown(ctx, "eu"); err != nil {
		t.Fatalf("StartCooldown: %v", err)
	}
	other := New(r.Client, time.Minute, 0, WithRefresh(0))
	if st, err := other.Check(ctx, "eu", ""); err != nil || st.Cooldown < 50*time.Second {
		t.Errorf("another process sees %+v, %v; want the cooldown", st, err)
	}
}

// A message cannot hold a process longer than its own cooldown.
func TestHeardCooldownIsCapped(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	f := New(r.Client, time.Minute, 0, WithRefresh(time.Hour))
	stop, err := f.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// A worker of the versions that kept limits by alias names its alias as "account": that
	// must not hold a login of the same name. Sent first, it has been read once "eu" is heard.
	if err := r.Client.Publish(ctx, channelFor(r.Client), `{"account":"us","cooldownMs":60000}`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Client.Publish(ctx, channelFor(r.Client), `{"login":"eu","cooldownMs":86400000}`).Err(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if st, err := f.Check(ctx, "us", ""); err != nil || st.Cooldown != 0 {
			t.Errorf("an old worker's message for alias us holds login us: %+v, %v", st, err)
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := f.Check(ctx, "eu", "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Cooldown > 0 {
			if st.Cooldown > time.Minute {
				t.Errorf("a message of a day's cooldown holds this process for %s, more than its own minute", st.Cooldown)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message was never heard")
		}
	}
}

// Follow keeps trying until Redis lets it subscribe, without holding up its caller.
func TestFollowSubscribesOnceRedisAnswers(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing answers there yet
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	f := New(c, time.Minute, 0, WithRefresh(time.Hour))

	var failures atomic.Int64
	subscribed := make(chan struct{})
	stop := f.Follow(100*time.Millisecond, func(error) { failures.Add(1) }, func() { close(subscribed) })
	defer stop()
	for deadline := time.Now().Add(5 * time.Second); failures.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt reported while nothing answered")
		}
	}

	s, err := embedredis.Start(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(s.Close)
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("Follow did not subscribe after Redis came up")
	}
	other := New(c, time.Minute, 0)
	if _, err := other.StartCooldown(t.Context(), "eu"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := f.Check(t.Context(), "eu", ""); st.Cooldown > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a cooldown started after Follow subscribed was never heard")
		}
	}

	// The subscription outlives a restart of Redis (go-redis resubscribes by itself).
	s.Close()
	s2, err := embedredis.Start(addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	t.Cleanup(s2.Close)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		// Publish until heard: a message sent before the resubscription is lost by design.
		_ = c.Publish(t.Context(), channelFor(c), `{"login":"us","cooldownMs":60000}`).Err()
		if st, _ := f.Check(t.Context(), "us", ""); st.Cooldown > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after Redis restarted, a cooldown was never heard")
		}
	}
}

// EndWait ends a task's wait on limits and keeps the count of its limited calls; the next mark
// starts a new wait.
func TestEndWait(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	f := New(r.Client, time.Minute, 0)
	clk := &clock{t: time.Now()}
	f.now = clk.now
	if err := f.MarkLimited(ctx, "eu", "task-1", true, 0, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	first, err := f.Check(ctx, "eu", "task-1")
	if err != nil || first.LimitedSince.IsZero() || first.LimitedCalls != 1 {
		t.Fatalf("after the mark: %+v, %v", first, err)
	}
	if err := f.EndWait(ctx, "eu", "task-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, err := f.Check(ctx, "eu", "task-1"); err != nil || !st.LimitedSince.IsZero() || st.LimitedCalls != 1 {
		t.Fatalf("after EndWait: %+v, %v; want no wait, 1 limited call", st, err)
	}
	// The count is kept for the new time to live, in the record and in the account's set.
	if ttl := r.Client.PTTL(ctx, limitedPrefix+"task-1").Val(); ttl < 50*time.Minute {
		t.Errorf("record expires in %s, want about an hour", ttl)
	}
	if score := r.Client.ZScore(ctx, waitingPrefix+"eu", "task-1").Val(); score < float64(clk.now().Add(50*time.Minute).UnixMilli()) {
		t.Errorf("the account's set keeps the task until %v, want about an hour from now", time.UnixMilli(int64(score)))
	}
	clk.add(time.Minute)
	if err := f.MarkLimited(ctx, "eu", "task-1", true, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	st, err := f.Check(ctx, "eu", "task-1")
	if err != nil || st.LimitedCalls != 2 || !st.LimitedSince.After(first.LimitedSince.Add(59*time.Second)) {
		t.Errorf("after a new mark: %+v, %v; want a wait from now, 2 limited calls", st, err)
	}
}

// A task that waited without a call of its own (held by its account's cooldown) has nothing
// left to keep once its wait ends: its record goes, and so does its place in the account's set.
func TestEndWaitWithoutLimitedCalls(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	f := New(r.Client, time.Minute, 0)
	if err := f.MarkLimited(ctx, "eu", "task-1", false, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.EndWait(ctx, "eu", "task-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := r.Client.Exists(ctx, limitedPrefix+"task-1").Val(); n != 0 {
		t.Error("the record is still there")
	}
	if err := r.Client.ZScore(ctx, waitingPrefix+"eu", "task-1").Err(); err != redis.Nil {
		t.Errorf("the task is still in the account's set (%v)", err)
	}
}
