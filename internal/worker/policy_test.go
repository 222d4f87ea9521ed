package worker_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

func raw(s string) *string { return &s }

// TestErrorPolicy drives a real asynq server against the fake provider and checks that every
// row of DESIGN.md's error policy ends in the state it names, with the calls it implies.
// policyCase is one answer sequence of TestErrorPolicy and what must become of its task.
type policyCase struct {
	name     string
	product  int
	detail   bool // a detail change (qualysCompanyName) instead of CANCELLICENCE
	budget   int
	script   []providertest.Answer
	state    asynq.TaskState
	calls    int
	retried  int    // asynq's retry count at the end: the budget spent
	reason   string // dead-letter reason, for archived tasks
	code     int    // errorCode in the result or the dead letter
	zeroCode bool   // the dead letter's errorCode is 0, not null (code 0 means null otherwise)
	item     string
	result   string // the provider's result parameter, for completed tasks
	lastErr  string // substring of asynq's last error, for archived tasks
	attempts int
}

func TestErrorPolicy(t *testing.T) {
	t.Parallel()
	a := func(code int) providertest.Answer { return providertest.Answer{Code: code} }
	tests := []policyCase{
		{name: "success", product: 1060, budget: 3, script: []providertest.Answer{{Result: "queued"}}, state: asynq.TaskStateCompleted, calls: 1, result: "queued", attempts: 1},
		{name: "positive code is success", product: 1060, budget: 3, script: []providertest.Answer{a(1)}, state: asynq.TaskStateCompleted, calls: 1, code: 1, attempts: 1},
		{name: "-20 on cancel is success", product: 1060, budget: 3, script: []providertest.Answer{a(-20)}, state: asynq.TaskStateCompleted, calls: 1, code: -20, attempts: 1},
		{name: "-14 then success", product: 700, budget: 3, script: []providertest.Answer{a(-14), a(-14)}, state: asynq.TaskStateCompleted, calls: 3, retried: 2, attempts: 3},
		{name: "unknown code then success", product: 700, budget: 3, script: []providertest.Answer{a(-999)}, state: asynq.TaskStateCompleted, calls: 2, retried: 1, attempts: 2},
		{name: "http 503 then success", product: 700, budget: 3, script: []providertest.Answer{{HTTPStatus: 503, Body: raw("<h1>down</h1>")}}, state: asynq.TaskStateCompleted, calls: 2, retried: 1, attempts: 2},
		{name: "no errorCode then success", product: 700, budget: 3, script: []providertest.Answer{{Body: raw("<html>maintenance</html>")}}, state: asynq.TaskStateCompleted, calls: 2, retried: 1, attempts: 2},
		{name: "dropped connection then success", product: 700, budget: 3, script: []providertest.Answer{{Drop: true}}, state: asynq.TaskStateCompleted, calls: 2, retried: 1, attempts: 2},
		{name: "timeout then success", product: 700, budget: 3, script: []providertest.Answer{{Delay: 3 * time.Second}}, state: asynq.TaskStateCompleted, calls: 2, retried: 1, attempts: 2},
		{name: "-14 until the budget is spent", product: 700, budget: 2, script: []providertest.Answer{a(-14), a(-14), a(-14), a(-14)},
			state: asynq.TaskStateArchived, calls: 3, retried: 2, reason: deadletter.ReasonRetriesSpent, code: -14, lastErr: "errorCode -14", attempts: 3},
		{name: "budget zero dead-letters the first transient", product: 700, budget: 0, script: []providertest.Answer{a(-14)},
			state: asynq.TaskStateArchived, calls: 1, reason: deadletter.ReasonRetriesSpent, code: -14, attempts: 1},
		{name: "-42 does not spend the budget", product: 700, budget: 0, script: []providertest.Answer{a(-42), a(-42)}, state: asynq.TaskStateCompleted, calls: 3, retried: 0, attempts: 3},
		{name: "http 429 does not spend the budget", product: 700, budget: 1, script: []providertest.Answer{{HTTPStatus: 429, Body: raw("slow down")}}, state: asynq.TaskStateCompleted, calls: 2, retried: 0, attempts: 2},
		{name: "http 404 is permanent", product: 700, budget: 3, script: []providertest.Answer{{HTTPStatus: 404, Body: raw("nope")}},
			state: asynq.TaskStateArchived, calls: 1, reason: deadletter.ReasonPermanent, lastErr: "HTTP 404", attempts: 1},
		{name: "http 400 with errorCode 0 is permanent, with its code", product: 700, budget: 3, script: []providertest.Answer{{HTTPStatus: 400, Body: raw("errorCode=0")}},
			state: asynq.TaskStateArchived, calls: 1, reason: deadletter.ReasonPermanent, zeroCode: true, lastErr: "errorCode 0", attempts: 1},
		{name: "-20 on a detail change is permanent", product: 341, detail: true, budget: 3, script: []providertest.Answer{a(-20)},
			state: asynq.TaskStateArchived, calls: 1, reason: deadletter.ReasonPermanent, code: -20, lastErr: "errorCode -20", attempts: 1},
	}
	for _, c := range []int{-1, -2, -3, -4, -15, -16, -17, -18, -76, -91, -115} {
		tests = append(tests, policyCase{name: "permanent " + strconv.Itoa(c), product: 341, budget: 3, script: []providertest.Answer{{Code: c, Item: "product"}},
			state: asynq.TaskStateArchived, calls: 1, reason: deadletter.ReasonPermanent, code: c, item: "product",
			lastErr: "errorCode " + strconv.Itoa(c), attempts: 1})
	}

	e := newEnv(t)
	e.start(setup{cooldown: 200 * time.Millisecond, concurrency: 8})
	type started struct{ id, queue string }
	ids := make([]started, len(tests))
	for i, tt := range tests {
		order := int64(1000 + i)
		e.fake.Script(strconv.FormatInt(order, 10), tt.script...)
		task := licence(order, tt.product, tasks.MaxRetry(tt.budget))
		if tt.detail {
			task = licenceDetail(order, tt.product, tasks.MaxRetry(tt.budget))
		}
		id, q := e.enqueue(task)
		ids[i] = started{id, q}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t) // a timeout fails this case, not the whole table
			info := e.waitState(ids[i].queue, ids[i].id, 20*time.Second, asynq.TaskStateCompleted, asynq.TaskStateArchived)
			if info.State != tt.state {
				t.Fatalf("state %s, want %s (last error %q)", info.State, tt.state, info.LastErr)
			}
			if got := len(e.fake.CallsFor(strconv.Itoa(1000 + i))); got != tt.calls {
				t.Errorf("%d provider calls, want %d", got, tt.calls)
			}
			if info.Retried != tt.retried {
				t.Errorf("retried %d, want %d (budget spent)", info.Retried, tt.retried)
			}
			if tt.state == asynq.TaskStateCompleted {
				r := result(t, info)
				if r.ErrorCode != tt.code || r.Code != tt.code || r.Attempts != tt.attempts || r.Result != tt.result || r.Duration == "" || r.DurationMs < 0 {
					t.Errorf("result %+v, want code %d attempts %d result %q and a duration", r, tt.code, tt.attempts, tt.result)
				}
				if cancelled := tt.code == -20; r.AlreadyCancelled != cancelled {
					t.Errorf("result %+v: alreadyCancelled %v, want %v", r, r.AlreadyCancelled, cancelled)
				}
				if info.Retention != 24*time.Hour {
					t.Errorf("retention %s, want 24h", info.Retention)
				}
				return
			}
			if !strings.Contains(info.LastErr, tt.lastErr) || !strings.Contains(info.LastErr, tt.reason) {
				t.Errorf("last error %q, want %q and %q", info.LastErr, tt.reason, tt.lastErr)
			}
			var rec *deadletter.Record
			for _, r := range e.deadLetters() {
				if r.TaskID == ids[i].id {
					if rec != nil {
						t.Fatalf("two dead-letter records for %s", r.TaskID)
					}
					rec = &r
				}
			}
			if rec == nil {
				t.Fatalf("no dead-letter record for %s", ids[i].id)
			}
			wantCode := "none" // no errorCode in the answer: null in the record
			if tt.code != 0 || tt.zeroCode {
				wantCode = strconv.Itoa(tt.code)
			}
			if rec.Reason != tt.reason || deadletter.CodeText(rec.ErrorCode) != wantCode || rec.ErrorItem != tt.item || rec.Attempts != tt.attempts ||
				rec.Type != tasks.TypeLicenceModify || rec.Queue != "default" || !strings.Contains(string(rec.Payload), `"orderNumber":`+strconv.Itoa(1000+i)) {
				t.Errorf("record %+v\nwant reason %s code %d item %q attempts %d", *rec, tt.reason, tt.code, tt.item, tt.attempts)
			}
		})
	}
	// A -20 to a cancel is logged as such.
	if logs := e.logs.String(); !strings.Contains(logs, "provider call: licence already cancelled") {
		t.Errorf("no \"licence already cancelled\" line; logs:\n%s", logs)
	}
	// A -16 says what it may mean for the account, on its call line, and only there.
	warned := 0
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := m["message"].(string)
		hint, _ := m["hint"].(string)
		if strings.Contains(hint, "may lock an account") != (msg == "provider call" && m["errorCode"] == float64(-16)) {
			t.Errorf("the lock-out warning is on this line, or missing from it: %s", line)
		}
		if strings.Contains(hint, "may lock an account") {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d lock-out warnings, want 1 (the -16 call)", warned)
	}
	// One line per call, each with every field DESIGN names; errorCode is null when the call
	// got none (an error page, a dropped connection, a timeout).
	lines := map[string]int{}
	nulls := 0
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := m["message"].(string); !strings.HasPrefix(msg, "provider call") {
			continue
		}
		for _, k := range []string{"task", "type", "account", "order", "product", "attempt", "errorCode", "duration", "durationMs", "outcome"} {
			if _, ok := m[k]; !ok {
				t.Errorf("call line without %s: %s", k, line)
			}
		}
		if m["errorCode"] == nil {
			nulls++
		}
		lines[m["order"].(string)]++
	}
	wantNulls := 0
	for i, tt := range tests {
		if got := lines[strconv.Itoa(1000+i)]; got != tt.calls {
			t.Errorf("%s: %d call lines, want %d (one a call)", tt.name, got, tt.calls)
		}
		for _, a := range tt.script[:min(tt.calls, len(tt.script))] {
			if a.Drop || a.Delay > 0 || a.Body != nil && !strings.HasPrefix(*a.Body, "errorCode=") {
				wantNulls++
			}
		}
	}
	if nulls != wantNulls {
		t.Errorf("%d call lines with errorCode null, want %d (the calls that got no errorCode)", nulls, wantNulls)
	}
}

// TestPoisonAndMisrouted checks tasks that must never reach the provider.
func TestPoisonAndMisrouted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(setup{})
	huge := `{"orderNumber":"1","action":"sendCallbackEmail","comments":"` + strings.Repeat("x", 100<<10) + `"}`
	cases := []struct {
		name, typ, payload, reason, want string
	}{
		{"not json", tasks.TypeLicenceModify, "\x00\x01garbage", deadletter.ReasonInvalidPayload, "payload: not a JSON object"},
		{"fails validation", tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"ReplacePhone"}`, deadletter.ReasonInvalidPayload, "phoneNumber: required"},
		{"unknown field", tasks.TypeLicenceModify, `{"orderNumber":1,"product":700,"action":"CANCELLICENCE","loginPassword":"hunter2-pw"}`, deadletter.ReasonInvalidPayload, "loginPassword: unknown field"},
		{"huge", tasks.TypeOVCallbackUpdate, huge, deadletter.ReasonInvalidPayload, "payload: larger than"},
		{"unknown type", "licence:delete", `{}`, deadletter.ReasonUnknownType, `no handler for task type "licence:delete"`},
		{"unknown account", tasks.TypeLicenceModify, `{"account":"nobody","orderNumber":1,"product":700,"action":"CANCELLICENCE"}`, deadletter.ReasonPermanent, `no login configured for account "nobody"`},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		id, _ := e.enqueue(built{asynq.NewTask(c.typ, []byte(c.payload)), []asynq.Option{asynq.MaxRetry(5), asynq.TaskID("poison-" + strconv.Itoa(i))}, nil})
		ids[i] = id
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := e.with(t)
			info := e.waitState("default", ids[i], 10*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
			if info.State != asynq.TaskStateArchived || info.Retried != 0 || !strings.Contains(info.LastErr, c.want) {
				t.Fatalf("state %s retried %d last error %q, want archived at once with %q", info.State, info.Retried, info.LastErr, c.want)
			}
			found := false
			for _, r := range e.deadLetters() {
				if r.TaskID == ids[i] {
					found = true
					if r.Reason != c.reason || !strings.Contains(r.ErrorMessage, c.want) {
						t.Errorf("record reason %q message %q", r.Reason, r.ErrorMessage)
					}
					if len(r.Payload) > 70<<10 {
						t.Errorf("record keeps a %d-byte payload", len(r.Payload))
					}
					if strings.Contains(string(r.Payload), "hunter2-pw") {
						t.Errorf("the record keeps a password the payload carried: %s", r.Payload)
					}
				}
			}
			if !found {
				t.Error("no dead-letter record")
			}
		})
	}
	if n := e.fake.CallCount(); n != 0 {
		t.Errorf("%d calls reached the provider, want 0", n)
	}
}

// A call that gets through the limits, even with a transient failure, ends the task's wait:
// RATE_LIMIT_MAX_WAIT counts from its next limit, not from its first. Here the first limit and
// the last are further apart than the maximum wait, each wait is short, and the task completes.
func TestMaxWaitRestartsAfterACallGetsThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(setup{cooldown: 150 * time.Millisecond, maxWait: 600 * time.Millisecond})
	slow := providertest.Answer{Code: -14, Delay: 400 * time.Millisecond}
	e.fake.Script("78", providertest.Answer{Code: -42}, slow, slow, providertest.Answer{Code: -42})
	id, q := e.enqueue(licence(78, 700, tasks.MaxRetry(5)))
	info := e.waitState(q, id, 20*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("state %s (last error %q), want completed: the task never waited 600ms on a limit", info.State, info.LastErr)
	}
	calls := e.fake.CallsFor("78")
	if len(calls) != 5 {
		t.Fatalf("%d calls, want 5", len(calls))
	}
	// The premise: from the first limit to the last took longer than the maximum wait.
	if gap := calls[3].Time.Sub(calls[0].Time); gap <= 600*time.Millisecond {
		t.Fatalf("the two limits came %s apart: the test proves nothing", gap)
	}
	if r := result(t, info); r.Attempts != 5 || info.Retried != 2 {
		t.Errorf("attempts %d, retried %d; want 5 attempts, 2 of the budget spent", r.Attempts, info.Retried)
	}
}

// RATE_LIMIT_MAX_WAIT counts the time cooldowns held a task, not the time since its first
// limit: a task that waits its turn on PROVIDER_RATE between two -42s (as every task of a long
// backfill does) is not dead-lettered at the second. Here the two limits come further apart
// than the maximum wait, each cooldown is short, and the task completes.
func TestMaxWaitCountsCooldownsNotRateWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(setup{cooldown: 150 * time.Millisecond, maxWait: 2 * time.Second, rate: 0.25})
	e.fake.Script("79", providertest.Answer{Code: -42}, providertest.Answer{Code: -42})
	id, q := e.enqueue(licence(79, 700, tasks.MaxRetry(1)))
	info := e.waitState(q, id, 30*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("state %s (last error %q), want completed: cooldowns held it well under 2s", info.State, info.LastErr)
	}
	calls := e.fake.CallsFor("79")
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	// The premise: PROVIDER_RATE kept the two limits further apart than the maximum wait.
	if gap := calls[1].Time.Sub(calls[0].Time); gap <= 2*time.Second {
		t.Fatalf("the two limits came %s apart: the test proves nothing", gap)
	}
	if info.Retried != 0 {
		t.Errorf("retried %d: the limits spent the budget", info.Retried)
	}
}

// A task run again before its cooldown ends (the UI's "Run" on a task waiting to retry) is held
// for the rest of that cooldown, which counts once towards RATE_LIMIT_MAX_WAIT: it counted
// twice, and such a task was dead-lettered after one cooldown of half the maximum.
func TestRunBeforeItsTimeCountsTheCooldownOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.Script("80", providertest.Answer{Code: -42}) // then success
	e.start(setup{cooldown: 3 * time.Second, maxWait: 5 * time.Second})
	id, q := e.enqueue(licence(80, 700, tasks.MaxRetry(5)))
	e.waitState(q, id, 10*time.Second, asynq.TaskStateRetry)
	if err := e.insp.RunTask(q, id); err != nil { // the UI's "Run", during the cooldown
		t.Fatal(err)
	}
	info := e.waitState(q, id, 20*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("state %s (last error %q), want completed: one 3s cooldown held it, under the 5s maximum", info.State, info.LastErr)
	}
	if calls := e.fake.CallsFor("80"); len(calls) != 2 {
		t.Errorf("%d calls, want 2: the run during the cooldown must not call", len(calls))
	}
}

// PROVIDER_RATE's wait in place leaves a task with a short timeout the time for its call: it
// used to sleep into the deadline, which asynq counts as a failure, and tasks without a
// retry budget were dead-lettered without ever calling the provider.
func TestRateWaitStopsShortOfTheTaskTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(setup{rate: 1, concurrency: 5})
	var ids []string
	var q string
	for i := range 5 {
		var id string
		id, q = e.enqueue(licence(int64(81+i), 700, tasks.MaxRetry(0), tasks.Timeout(time.Second)))
		ids = append(ids, id)
	}
	for _, id := range ids {
		if info := e.waitState(q, id, 30*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted); info.State != asynq.TaskStateCompleted {
			t.Errorf("task %s: state %s (last error %q), want completed", id, info.State, info.LastErr)
		}
	}
	if n := e.fake.CallCount(); n != 5 {
		t.Errorf("%d calls, want 5: one a task", n)
	}
	if recs := e.deadLetters(); len(recs) != 0 {
		t.Errorf("dead letters: %+v", recs)
	}
}

// TestRateLimitedPastMaxWait: a task that keeps meeting -42 is dead-lettered once it has
// been held by cooldowns for longer than RATE_LIMIT_MAX_WAIT.
func TestRateLimitedPastMaxWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fake.SetHook(func(providertest.Call) *providertest.Answer { return &providertest.Answer{Code: -42} })
	h := &holds{}
	e.start(setup{cooldown: 150 * time.Millisecond, maxWait: 600 * time.Millisecond, observer: h})
	id, q := e.enqueue(licence(77, 700, tasks.MaxRetry(10)))
	info := e.waitState(q, id, 15*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
	if info.State != asynq.TaskStateArchived || info.Retried != 0 {
		t.Fatalf("state %s retried %d", info.State, info.Retried)
	}
	recs := e.deadLetters()
	// The last run either met -42 or found the account still cooling down without calling.
	if len(recs) != 1 || recs[0].Reason != deadletter.ReasonRateLimitWait ||
		(deadletter.CodeText(recs[0].ErrorCode) != strconv.Itoa(provider.CodeCallLimit) && recs[0].ErrorCode != nil) {
		t.Fatalf("records %+v", recs)
	}
	// Each cooldown counts 150ms, not the random spread its task comes back after: held 600ms
	// after four, the fifth -42 would pass the maximum.
	n := e.fake.CallCount()
	if n != 5 {
		t.Errorf("%d calls, want 5: four cooldowns of 150ms, then one more would pass 600ms", n)
	}
	// Each run calls (it comes back after the cooldown has ended), and every run but the
	// last is held: the run that is dead-lettered waits for nothing, and the metrics must not
	// count it as a wait.
	if w := h.count("cooldown"); w != n-1 {
		t.Errorf("%d cooldown waits counted for %d runs, want %d: the dead-lettered run is no wait", w, n, n-1)
	}
}

// A run ended from outside (the UI's cancel, or the task's timeout) spends a retry that the
// handler never sees. At the last retry that leaves the task past its budget, and the next
// run must dead-letter it without calling: before, it called, and a -42 then archived it as
// if the call limit had spent its budget.
func TestRunPastTheBudgetIsDeadLetteredWithoutACall(t *testing.T) {
	e := newEnv(t)
	e.start(setup{})
	e.fake.Script("7001", providertest.Answer{Delay: 3 * time.Second}, providertest.Answer{Code: -42})
	id, q := e.enqueue(licence(7001, 700, tasks.MaxRetry(0)))
	e.waitState(q, id, 5*time.Second, asynq.TaskStateActive)
	waitFor(t, 5*time.Second, func() bool { return len(e.fake.CallsFor("7001")) == 1 })
	if err := e.insp.CancelProcessing(id); err != nil { // the UI's "cancel"
		t.Fatal(err)
	}
	info := e.waitState(q, id, 20*time.Second, asynq.TaskStateArchived, asynq.TaskStateCompleted)
	if info.State != asynq.TaskStateArchived {
		t.Fatalf("task %s, want archived: its budget of 0 was spent by the cancelled run", info.State)
	}
	if n := len(e.fake.CallsFor("7001")); n != 1 {
		t.Errorf("the provider saw %d calls, want 1: a task past its budget must not call again", n)
	}
	recs := e.deadLetters()
	if len(recs) != 1 || recs[0].Reason != deadletter.ReasonRetriesSpent || recs[0].ErrorCode != nil ||
		!strings.Contains(recs[0].ErrorMessage, "retry budget of 0 spent") {
		t.Fatalf("dead letters %+v, want one: retries-exhausted, budget spent, no provider code", recs)
	}
}
