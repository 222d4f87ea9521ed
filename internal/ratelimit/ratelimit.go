// Package ratelimit holds the worker fleet's shared view of each provider login (an
// "account" here: the provider counts calls by login, so aliases that share one share it), in
// Redis so that every worker process obeys it: the cooldown after a -42 (no process calls the
// login until it ends), the PROVIDER_RATE limiter (which serves live tasks first), and how long
// cooldowns have held each task.
//
// Reading that view before every call would cost a Redis round trip a task. Instead each
// process keeps what it last read of each account for a short time (Refresh), learns at once of
// cooldowns it starts itself, and of those other processes start through Redis pub/sub
// (Listen). A task's own limit record is read only while some task of its account waits on a
// limit: only then can the record exist.
package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Keys and channel in Redis. The keys of a login have a prefix of their own, apart from those
// of the versions that kept limits per account alias ("ovqueue:cooldown:ALIAS"), so that a
// login and an alias of the same name never share a cooldown during an upgrade.
const (
	cooldownPrefix = "ovqueue:login:cooldown:" // + login: exists while the login cools down
	waitingPrefix  = "ovqueue:login:waiting:"  // + login: sorted set of its tasks that hold a limit record, scored by the record's expiry (ms)
	limitedPrefix  = "ovqueue:limited:"        // + task ID: hash {since, held, until, calls} while a task waits on a limit
	livePrefix     = "ovqueue:login:live:"     // + login: sorted set of the live tasks waiting for a PROVIDER_RATE call, scored by when their claim lapses (ms)
	ratePrefix     = "ovqueue:login:"          // redis_rate adds "rate:" before it
	channelPrefix  = "ovqueue:cooldowns:"      // + database number: a message for every cooldown started
)

// DefaultRefresh is how long a process trusts what it last read of an account when no message
// says otherwise. It bounds how late a process that missed a pub/sub message (while its
// subscription reconnects) learns of a cooldown.
const DefaultRefresh = 250 * time.Millisecond

// Fleet is one process's handle on the shared state. It is safe for concurrent use.
type Fleet struct {
	rdb      redis.UniversalClient
	limiter  *redis_rate.Limiter
	limit    redis_rate.Limit // zero: PROVIDER_RATE off
	cooldown time.Duration
	refresh  time.Duration
	channel  string
	now      func() time.Time

	mu       sync.Mutex
	accounts map[string]*account
}

// account is what this process knows of one account.
type account struct {
	until   time.Time // the cooldown ends; zero or past: none known
	waiting bool      // a task of the account may hold a limit record
	read    time.Time // when this was last read from Redis (zero: never)
	events  uint64    // cooldowns and marks learnt here: a read that raced with one keeps waiting
}

// Option changes a Fleet.
type Option func(*Fleet)

// WithRefresh sets how long an account's state read from Redis is trusted (DefaultRefresh).
// Zero reads Redis before every call.
func WithRefresh(d time.Duration) Option { return func(f *Fleet) { f.refresh = d } }

// New returns a Fleet on rdb. cooldown is how long an account rests after a -42; rate is the
// most calls a second per account across the fleet (0 = no limit).
func New(rdb redis.UniversalClient, cooldown time.Duration, rate float64, opts ...Option) *Fleet {
	f := &Fleet{rdb: rdb, limiter: redis_rate.NewLimiter(rdb), limit: LimitFor(rate), cooldown: cooldown,
		refresh: DefaultRefresh, channel: channelFor(rdb), now: time.Now, accounts: map[string]*account{}}
	for _, o := range opts {
		o(f)
	}
	return f
}

// channelFor names the channel of rdb's database. Pub/sub ignores databases: fleets that share
// a Redis server on different databases must not hear each other's cooldowns.
func channelFor(rdb redis.UniversalClient) string {
	db := 0
	if c, ok := rdb.(interface{ Options() *redis.Options }); ok {
		db = c.Options().DB
	}
	return channelPrefix + strconv.Itoa(db)
}

// LimitFor turns calls a second into an evenly spaced limit (no bursts), a little wider than
// 1/rate: 5 → one call every 205ms, 0.5 → one every 2.05s. 0 or less is no limit.
//
// The limiter admits calls by Redis's clock, but a call reaches the provider a few
// milliseconds after its admission, and not always the same few: spaced exactly 1/rate
// apart, rate+1 calls would be 1s apart from first to last as admitted, and could reach the
// provider within less than a second (seen: 6 in 990ms at rate 5). The provider answers a call
// over its limit with -42, and the whole account then cools down for RATE_LIMIT_COOLDOWN. So
// any rate+1 calls in a row span at least a second and JitterMargin: the first and the last
// may reach the provider up to JitterMargin closer together than they were admitted. That
// makes a -42 much less likely, not impossible (a new TLS connection or a GC pause can take
// longer). Below one call a second the interval grows by the same share, at most by a second,
// for a limit the operator may have read per minute or per hour.
func LimitFor(rate float64) redis_rate.Limit {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return redis_rate.Limit{}
	}
	if rate == math.Trunc(rate) && rate <= 1e6 {
		return redis_rate.Limit{Rate: int(rate), Burst: 1, Period: time.Second + JitterMargin}
	}
	exact := float64(time.Second) / rate
	wider := min(exact*float64(time.Second+JitterMargin)/float64(time.Second), exact+float64(time.Second))
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(wider)}
}

// JitterMargin is how much wider than a second PROVIDER_RATE spreads rate+1 calls (see
// LimitFor). It costs 2.5% of the rate.
const JitterMargin = 25 * time.Millisecond

// State is what a task must know before it calls the provider.
type State struct {
	Cooldown     time.Duration // > 0 while the account cools down
	LimitedSince time.Time     // when the task was first rate-limited; zero if never
	LimitedFor   time.Duration // how long cooldowns have held it since then (waits on PROVIDER_RATE do not count)
	HeldFor      time.Duration // how much longer the last cooldown that held it lasts, by Redis's clock; 0 if over or unknown
	LimitedCalls int           // calls that were answered with a rate limit
}

// check reads the account's cooldown, how many of its tasks wait on a limit (dropping those
// whose record has expired) and the task's limit record (when a task ID is given), with what
// is left of its last hold by Redis's clock, in one round trip. ARGV[1] is the time in ms.
var check = redis.NewScript(redisNow + `
local ttl = redis.call("PTTL", KEYS[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[1])
local waiting = redis.call("ZCARD", KEYS[2])
local rec = {false, false, false, false}
if KEYS[3] then rec = redis.call("HMGET", KEYS[3], "since", "calls", "held", "until") end
local left = ""
if rec[4] then left = tostring(math.max(tonumber(rec[4]) - now, 0)) end
return {ttl, waiting, rec[1] or "", rec[2] or "", rec[3] or "", left}
`)

// Check returns the account's cooldown and the task's rate-limit history. It asks Redis only
// when what the process knows of the account is older than the refresh interval, or when a
// task of the account may have a limit record.
func (f *Fleet) Check(ctx context.Context, account, taskID string) (State, error) {
	now := f.now()
	f.mu.Lock()
	a := f.account(account)
	fresh := !a.read.IsZero() && now.Sub(a.read) < f.refresh
	until, waiting, events := a.until, a.waiting, a.events
	f.mu.Unlock()
	if fresh && !waiting && !until.After(now) {
		return State{}, nil // the account is quiet: no task of it can have a limit record
	}

	keys := []string{cooldownPrefix + account, waitingPrefix + account}
	if taskID != "" {
		keys = append(keys, limitedPrefix+taskID)
	}
	res, err := check.Run(ctx, f.rdb, keys, now.UnixMilli()).Slice()
	if err != nil {
		return State{}, fmt.Errorf("check rate limits of %s: %w", account, err)
	}
	var s State
	if ttl, ok := res[0].(int64); ok && ttl > 0 {
		s.Cooldown = time.Duration(ttl) * time.Millisecond
	}
	waitingTasks, _ := res[1].(int64)
	if v, _ := res[2].(string); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			s.LimitedSince = time.UnixMilli(ms)
		}
	}
	if v, _ := res[3].(string); v != "" {
		s.LimitedCalls, _ = strconv.Atoi(v)
	}
	if v, _ := res[4].(string); v != "" && !s.LimitedSince.IsZero() {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			s.LimitedFor = time.Duration(ms) * time.Millisecond
		}
	}
	if v, _ := res[5].(string); v != "" && !s.LimitedSince.IsZero() {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			s.HeldFor = time.Duration(ms) * time.Millisecond
		}
	}

	f.mu.Lock()
	a = f.account(account)
	// A cooldown only ever starts or extends (a -42 sets it again), so what this process learnt
	// by itself or by message stands until it ends, even where Redis says less.
	if u := now.Add(s.Cooldown); s.Cooldown > 0 && u.After(a.until) {
		a.until = u
	}
	s.Cooldown = max(a.until.Sub(f.now()), 0)
	w := waitingTasks > 0 || s.Cooldown > 0
	if a.events == events {
		a.waiting = w
	} else {
		a.waiting = a.waiting || w // a mark came in while Redis answered
	}
	a.read = now
	f.mu.Unlock()
	return s, nil
}

// account returns the state of name, creating it. f.mu must be held.
func (f *Fleet) account(name string) *account {
	a := f.accounts[name]
	if a == nil {
		a = &account{}
		f.accounts[name] = a
	}
	return a
}

// learn records a cooldown of d for name that this process started or heard of.
func (f *Fleet) learn(name string, d time.Duration) {
	until := f.now().Add(d)
	f.mu.Lock()
	a := f.account(name)
	if until.After(a.until) {
		a.until = until
	}
	a.waiting = true
	a.events++
	f.mu.Unlock()
}

// message is what a process publishes when it starts a cooldown.
type message struct {
	Login      string `json:"login"` // "account" in the versions that sent aliases: they drop a message without it
	CooldownMs int64  `json:"cooldownMs"`
}

// StartCooldown makes every worker process hold its calls for account for the cooldown. The
// announcement to listening processes is best effort (a Redis user without access to the
// channel cannot publish): the others then learn of the cooldown within the refresh interval.
func (f *Fleet) StartCooldown(ctx context.Context, account string) (time.Duration, error) {
	f.learn(account, f.cooldown)
	msg, _ := json.Marshal(message{Login: account, CooldownMs: f.cooldown.Milliseconds()})
	var set *redis.StatusCmd
	_, _ = f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, cooldownPrefix+account, f.now().UnixMilli(), f.cooldown)
		p.Publish(ctx, f.channel, msg)
		return nil
	})
	if err := set.Err(); err != nil {
		return 0, fmt.Errorf("start cooldown of %s: %w", account, err)
	}
	return f.cooldown, nil
}

// Listen follows the cooldowns that other processes start, through Redis pub/sub, until stop
// is called. It returns once subscribed. A process that does not listen (or whose subscription
// is reconnecting) still learns of them within the refresh interval.
func (f *Fleet) Listen(ctx context.Context) (stop func(), err error) {
	ps := f.rdb.Subscribe(ctx, f.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", f.channel, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			var msg message
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil || msg.Login == "" || msg.CooldownMs <= 0 {
				continue
			}
			// A message never holds this process longer than its own cooldown: a worker with
			// a mistaken RATE_LIMIT_COOLDOWN cannot freeze the fleet. Redis still rules: a
			// longer cooldown there is read before each call while it lasts.
			f.learn(msg.Login, min(time.Duration(msg.CooldownMs)*time.Millisecond, f.cooldown))
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = ps.Close()
			<-done
		})
	}, nil
}

// Follow listens as Listen does, in the background, and keeps trying to subscribe every retry
// until it succeeds (each attempt gives up after retry): starting a worker never waits on it.
// failed is called after each failed attempt, subscribed once an attempt succeeds. stop ends
// it and waits for it.
func (f *Fleet) Follow(retry time.Duration, failed func(error), subscribed func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			actx, acancel := context.WithTimeout(ctx, retry)
			stopListening, err := f.Listen(actx)
			acancel()
			if err == nil {
				subscribed()
				<-ctx.Done()
				stopListening()
				return
			}
			if ctx.Err() != nil {
				return
			}
			failed(err)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Probe reads the fleet's keys of a login no one has, as every check and PROVIDER_RATE wait
// does for a real one: an error here that is Redis's own answer (an ACL's NOPERM) would come
// back for every task.
func (f *Fleet) Probe(ctx context.Context) error {
	const login = "ovqueue-start-check"
	keys := []string{cooldownPrefix + login, waitingPrefix + login, limitedPrefix + login}
	if err := check.Run(ctx, f.rdb, keys, f.now().UnixMilli()).Err(); err != nil {
		return err
	}
	if f.limit == (redis_rate.Limit{}) {
		return nil // PROVIDER_RATE off: no rate key is ever used
	}
	// redis_rate's key of the login (it puts "rate:" before the name it is given).
	return f.rdb.Exists(ctx, "rate:"+ratePrefix+login).Err()
}

// Cooldown is how long an account rests after a rate limit.
func (f *Fleet) Cooldown() time.Duration { return f.cooldown }

// mark records a task's limit wait, or its end. KEYS: the task's record, its account's waiting
// set; ARGV: now (ms), 1 if a call was answered with a limit, the record's time to live (ms),
// the task's ID, "end" to end the wait (the record keeps its count of limited calls), and how
// long (ms) a cooldown holds the task from now. Its total counts the time its holds cover, by
// Redis's clock: the part of this one that an earlier hold already covers (a task run again
// before its time, from the UI) counts once. The account's set keeps the task until its
// record expires, and itself never expires before any of its members' records.
var mark = redis.NewScript(redisNow + `
local at, ttl = tonumber(ARGV[1]), tonumber(ARGV[3]) -- at: the worker's clock, which the waiting set's scores keep to
if ARGV[5] == "end" then
	redis.call("HDEL", KEYS[1], "since", "held", "until")
	if redis.call("EXISTS", KEYS[1]) == 0 then -- nothing left to keep
		redis.call("ZREM", KEYS[2], ARGV[4])
		return 0
	end
elseif redis.call("HSETNX", KEYS[1], "since", ARGV[1]) == 1 then
	-- a new wait: no total left from an older one
	redis.call("HSET", KEYS[1], "held", ARGV[6], "until", now + tonumber(ARGV[6]))
else
	local till = now + tonumber(ARGV[6])
	local before = tonumber(redis.call("HGET", KEYS[1], "until") or "0") or 0 -- none from older workers
	local add = till - math.max(now, before)
	if add > 0 then
		redis.call("HINCRBY", KEYS[1], "held", add)
		redis.call("HSET", KEYS[1], "until", till)
	end
end
if ARGV[2] == "1" then redis.call("HINCRBY", KEYS[1], "calls", 1) end
redis.call("PEXPIRE", KEYS[1], ttl)
redis.call("ZADD", KEYS[2], at + ttl, ARGV[4])
if redis.call("PTTL", KEYS[2]) < ttl then redis.call("PEXPIRE", KEYS[2], ttl) end
return 1
`)

// MarkLimited records that a task of account is waiting on a rate limit (since now, unless it
// already was), that a cooldown holds it for held from now (counted in its total where no
// earlier hold covers it), and, if called, that one more call was answered with a limit. The
// record expires after ttl; until then, or until Forget, the fleet reads it before each call
// of the account's tasks.
func (f *Fleet) MarkLimited(ctx context.Context, account, taskID string, called bool, held, ttl time.Duration) error {
	f.mu.Lock()
	a := f.account(account)
	a.waiting = true
	a.events++
	f.mu.Unlock()
	c := 0
	if called {
		c = 1
	}
	ttlMs := max(ttl.Milliseconds(), 1)
	err := mark.Run(ctx, f.rdb, []string{limitedPrefix + taskID, waitingPrefix + account},
		f.now().UnixMilli(), c, ttlMs, taskID, "", max(held.Milliseconds(), 0)).Err()
	if err != nil {
		return fmt.Errorf("mark %s rate-limited: %w", taskID, err)
	}
	return nil
}

// Forget drops a task's rate-limit record once it is done. When no task of the account waits
// any more, its checks stop reading Redis before every call.
func (f *Fleet) Forget(ctx context.Context, account, taskID string) error {
	_, err := f.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, limitedPrefix+taskID)
		p.ZRem(ctx, waitingPrefix+account, taskID)
		return nil
	})
	return err
}

// EndWait records that a task's call got through the limits (with an answer other than a
// limit): its wait is over, and a later limit starts a new one. The calls that were answered
// with a limit still count, for ttl more (the task may go on retrying transient failures).
func (f *Fleet) EndWait(ctx context.Context, account, taskID string, ttl time.Duration) error {
	err := mark.Run(ctx, f.rdb, []string{limitedPrefix + taskID, waitingPrefix + account},
		f.now().UnixMilli(), 0, max(ttl.Milliseconds(), 1), taskID, "end", 0).Err()
	if err != nil {
		return fmt.Errorf("end %s's rate-limit wait: %w", taskID, err)
	}
	return nil
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

// Waiter is a task that waits for a call of its account under PROVIDER_RATE.
type Waiter struct {
	Task string // its ID, which names a live task's claim
	Live bool   // a live task (one of queue default) goes before the others
	// MaxWait is how long it may sleep in place. FirstMaxWait, when longer, is how long a live
	// task may that was first in line for the account's next call: no other live task's claim
	// stood when it first claimed.
	MaxWait, FirstMaxWait time.Duration
	// Stop, once closed, ends the wait as a hold-back: the worker is stopping, and the task
	// should go back to its queue rather than call in the time left to calls in flight.
	Stop <-chan struct{}
}

// Wait takes one call from the account's PROVIDER_RATE budget, sleeping while the wait is at
// most w's; a longer wait returns a *HeldBack so the task can be rescheduled instead of
// holding a worker. It returns how long it slept.
//
// A live task goes first: while one waits for a call of the account, anywhere in the fleet,
// the others take none, so that a backfill of the account, which fills every worker with
// tasks waiting their turn, cannot hold live traffic back for long. Claims are timed by
// Redis's clock, as the limiter is, not by the hosts'.
func (f *Fleet) Wait(ctx context.Context, account string, w Waiter) (slept time.Duration, err error) {
	if f.limit.IsZero() {
		return 0, nil
	}
	begin := time.Now()
	maxWait := w.MaxWait
	first := true     // no claim made yet in this wait
	stopping := false // held back because the worker stops
	defer func() {
		var held *HeldBack
		if w.Live && (stopping || !errors.As(err, &held)) {
			// It has its call, or stops waiting, or its worker stops: the account's other
			// tasks need not wait for its claim (this wait's, or one an earlier run left when
			// held back) to lapse. A task held back otherwise keeps its claim until then, and
			// may come back to it in time.
			f.unclaim(ctx, account, w.Task)
		}
	}()
	for {
		var after, due time.Duration // how long to sleep; when a call may come
		if !w.Live {
			lapse, err := f.claimed(ctx, account)
			if err != nil {
				return slept, fmt.Errorf("rate limit of %s: %w", account, err)
			}
			if lapse > 0 {
				// Look again after a call's interval (the live task may have had its call by
				// then), but not more often than every few milliseconds at high rates.
				after, due = min(max(f.Interval(), minClaimPoll), lapse), lapse
			}
		}
		if after == 0 {
			res, err := f.limiter.Allow(ctx, ratePrefix+account, f.limit)
			if err != nil {
				return slept, fmt.Errorf("rate limit of %s: %w", account, err)
			}
			if res.Allowed > 0 {
				return slept, nil
			}
			after, due = res.RetryAfter, res.RetryAfter
		}
		if w.Live {
			// Claimed until a little after the call it waits for; renewed while it waits.
			others, err := f.claim(ctx, account, w.Task, after+LiveGrace)
			if err != nil {
				return slept, err
			}
			if first && others == 0 {
				maxWait = max(maxWait, w.FirstMaxWait)
			}
			first = false
		}
		if time.Since(begin)+after > maxWait {
			return slept, &HeldBack{After: due}
		}
		t := time.NewTimer(after)
		select {
		case <-ctx.Done():
			t.Stop()
			return slept, ctx.Err()
		case <-w.Stop:
			t.Stop()
			stopping = true
			return slept, &HeldBack{After: due}
		case <-t.C:
			slept += after
		}
	}
}

// LiveGrace is how long a live task's claim on its account's next call outlasts the wait
// the limiter announced: time for the task to wake and ask again.
const LiveGrace = time.Second

// minClaimPoll is how often, at most, a task that defers to a live task's claim looks again.
const minClaimPoll = 10 * time.Millisecond

// Interval is the time between two calls of an account at PROVIDER_RATE (zero when it is off).
func (f *Fleet) Interval() time.Duration {
	if f.limit.IsZero() {
		return 0
	}
	return f.limit.Period / time.Duration(f.limit.Rate)
}

// redisNow, in a script, is Redis's clock in ms (redis_rate's limiter keeps to it too), and
// lets the script write after reading it on Redis before 5.
const redisNow = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// claimLive records a live task's claim on its account's next call, and returns how many
// other live tasks' claims stand. KEYS: the account's live set; ARGV: the task's ID, how long
// the claim lasts (ms). The set drops lapsed claims, and never expires before its newest.
var claimLive = redis.NewScript(redisNow + `
local ttl = tonumber(ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
redis.call("ZADD", KEYS[1], now + ttl, ARGV[1])
if redis.call("PTTL", KEYS[1]) < ttl then redis.call("PEXPIRE", KEYS[1], ttl) end
return redis.call("ZCARD", KEYS[1]) - 1
`)

// liveClaims returns, for the account's live set (KEYS[1]), how long (ms) the last of its
// standing claims has left; 0 if none stands.
var liveClaims = redis.NewScript(redisNow + `
local last = redis.call("ZREVRANGE", KEYS[1], 0, 0, "WITHSCORES")
if last[2] == nil then return 0 end
return math.max(tonumber(last[2]) - now, 0)
`)

// claim makes or renews taskID's claim on the account's next call, for d, and returns how
// many other claims stand.
func (f *Fleet) claim(ctx context.Context, account, taskID string, d time.Duration) (others int64, err error) {
	others, err = claimLive.Run(ctx, f.rdb, []string{livePrefix + account}, taskID, max(d.Milliseconds(), 1)).Int64()
	if err != nil {
		return 0, fmt.Errorf("rate limit of %s: claim the next call for %s: %w", account, taskID, err)
	}
	return others, nil
}

// claimed returns how long the account's live claims stand, zero if none does.
func (f *Fleet) claimed(ctx context.Context, account string) (time.Duration, error) {
	ms, err := liveClaims.Run(ctx, f.rdb, []string{livePrefix + account}).Int64()
	if err != nil {
		return 0, fmt.Errorf("read live claims: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// unclaim drops a live task's claim. Best effort: it lapses anyway.
func (f *Fleet) unclaim(ctx context.Context, account, taskID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	_ = f.rdb.ZRem(ctx, livePrefix+account, taskID).Err()
}
