package worker_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider/providertest"
)

// While Redis refuses every command, a dead letter waits for it: asynq archives the task once
// Redis is back, and the durable record must have it by then, however long the outage.
func TestDeadLetterWaitsOutARedisOutage(t *testing.T) {
	e := newEnv(t)
	if e.redis.Mini == nil {
		t.Skip("needs the embedded Redis, to make it refuse commands")
	}
	worker.SetAppendWaits(t, 10*time.Millisecond, 50*time.Millisecond)
	e.start(setup{})
	refuseAsItAnswers(e, "7003")
	id, q := e.enqueue(licence(7003, 700))
	// Dozens of tries at these waits: more than any fixed number of tries would allow.
	waitFor(t, 5*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "could not append to the dead-letter record yet")
	})
	time.Sleep(2 * time.Second)
	e.redis.Mini.SetError("")

	e.waitState(q, id, 20*time.Second, asynq.TaskStateArchived)
	recs := e.deadLetters()
	if len(recs) != 1 || recs[0].TaskID != id || deadletter.CodeText(recs[0].ErrorCode) != "-16" {
		t.Fatalf("dead letters %+v, want one for %s with -16; logs:\n%s", recs, id, e.logs.String())
	}
}

// A worker that must stop while Redis refuses a dead letter gives it up after its shutdown
// timeout instead of hanging, and leaves the task active (its lease runs out and it runs
// again) rather than archived without a record.
func TestShutdownGivesUpADeadLetterRedisRefuses(t *testing.T) {
	e := newEnv(t)
	if e.redis.Mini == nil {
		t.Skip("needs the embedded Redis, to make it refuse commands")
	}
	worker.SetAppendWaits(t, 10*time.Millisecond, 50*time.Millisecond)
	w := e.start(setup{shutdown: time.Second})
	refuseAsItAnswers(e, "7004")
	id, q := e.enqueue(licence(7004, 700))
	waitFor(t, 5*time.Second, func() bool {
		return strings.Contains(e.logs.String(), "could not append to the dead-letter record yet")
	})

	done := make(chan struct{})
	go func() { w.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Shutdown still waits 30s after its 1s timeout; logs:\n%s", e.logs.String())
	}
	if !strings.Contains(e.logs.String(), "dead letter not recorded") {
		t.Fatalf("no line about the dead letter given up; logs:\n%s", e.logs.String())
	}
	e.redis.Mini.SetError("")
	info, err := e.insp.GetTaskInfo(q, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateActive {
		t.Fatalf("task %s is %s, want active (asynq's lease recovery runs it again)", id, info.State)
	}
	if recs := e.deadLetters(); len(recs) != 0 {
		t.Fatalf("dead letters %+v, want none", recs)
	}
}

// An idle worker stops within its shutdown timeout (and the grace after it) even when
// POLL_INTERVAL is longer: asynq's dequeue loop, finding no task, sleeps up to 1.5 ×
// POLL_INTERVAL, and asynq's shutdown waits that sleep out.
func TestShutdownDoesNotWaitOutALongPoll(t *testing.T) {
	worker.SetShutdownGrace(t, 100*time.Millisecond)
	e := newEnv(t)
	// A task waiting at start is taken by the first dequeue; the next finds the queues empty
	// and sleeps 3 to 9 s.
	id, q := e.enqueue(licence(7010, 700))
	w := e.start(setup{shutdown: 300 * time.Millisecond, poll: 6 * time.Second})
	e.waitState(q, id, 5*time.Second, asynq.TaskStateCompleted)
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	if w.Shutdown() {
		t.Fatalf("Shutdown reports asynq's shutdown ended within %s, while asynq sleeps for seconds", time.Since(start))
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("Shutdown took %s, want about 1.1s (a second with nothing running after the task)", took)
	}
	if !strings.Contains(e.logs.String(), "stopping without waiting for the end of asynq's shutdown") {
		t.Errorf("no line about the shutdown left behind; logs:\n%s", e.logs.String())
	}
	// asynq's shutdown ends when its sleep does; the harness keeps Redis open until then.
}

// With a call still running, Shutdown does not leave without asynq, even while asynq waits
// out a long idle poll: asynq returns the task to its queue once its shutdown timeout has
// passed, and a task left active instead would wait out its lease, or, on its last try, be
// archived by asynq's recoverer without a dead-letter record.
func TestShutdownWaitsForAsynqWhileACallRuns(t *testing.T) {
	worker.SetShutdownGrace(t, 100*time.Millisecond)
	e := newEnv(t)
	e.fake.Script("7011", providertest.Answer{Delay: 30 * time.Second})
	w := e.start(setup{shutdown: 300 * time.Millisecond, poll: 2 * time.Second})
	id, q := e.enqueue(licence(7011, 700))
	waitFor(t, 5*time.Second, func() bool { return e.fake.CallCount() == 1 })
	// The next dequeue finds no task and sleeps 1 to 3 s.

	// The call ends at the client's 1s timeout, after the 300ms shutdown timeout and its grace:
	// the task goes to retry (or back to its queue, if asynq's shutdown comes first).
	w.Shutdown()
	e.expectNotActive(q, id)
}

// A task whose dequeue reply is still on its way back from Redis when Shutdown could leave
// (a slow Redis) is active in Redis already, though no handler runs yet: Shutdown waits for
// it, counting the worker's Redis commands, rather than exit and leave it to its lease.
func TestShutdownWaitsForADequeueInFlight(t *testing.T) {
	worker.SetShutdownGrace(t, 100*time.Millisecond)
	e := newEnv(t)
	w := e.start(setup{shutdown: 300 * time.Millisecond})
	held := make(chan struct{})
	// Added after the worker's own hook, which so wraps it and counts the hold (go-redis
	// runs the first hook added outermost).
	e.redis.Client.AddHook(holdDequeue{held: held, hold: 2 * time.Second})
	id, q := e.enqueue(licence(7012, 700))
	select {
	case <-held:
	case <-time.After(5 * time.Second):
		t.Fatal("no dequeue of the task")
	}

	w.Shutdown()
	e.expectNotActive(q, id)
}

// expectNotActive fails the test if the task is still active after Shutdown: left to wait out
// its lease instead of ending or going back to its queue.
func (e *env) expectNotActive(queue, id string) {
	e.t.Helper()
	info, err := e.insp.GetTaskInfo(queue, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if info.State == asynq.TaskStateActive {
		e.t.Errorf("after Shutdown task %s is still active; want it done, retrying or back in its queue", id)
	}
}

// holdDequeue holds the reply of the first asynq dequeue that returns a task, closing held.
type holdDequeue struct {
	held chan struct{}
	hold time.Duration
}

func (h holdDequeue) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h holdDequeue) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if c, ok := cmd.(*redis.Cmd); ok && err == nil && c.Val() != nil && isDequeue(cmd.Args()) {
			select {
			case <-h.held:
			default:
				close(h.held)
				time.Sleep(h.hold)
			}
		}
		return err
	}
}

func (h holdDequeue) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// isDequeue: asynq's dequeue script is the one given each queue's paused key.
func isDequeue(args []any) bool {
	for _, a := range args {
		if s, ok := a.(string); ok && strings.HasSuffix(s, "}:paused") {
			return true
		}
	}
	return false
}

// refuseAsItAnswers makes the fake answer order's call with -16, and Redis refuse every
// command from the moment that call arrives (after the worker's checks, before its dead
// letter), until the test clears it.
func refuseAsItAnswers(e *env, order string) {
	e.fake.SetHook(func(c providertest.Call) *providertest.Answer {
		if c.Form.Get("orderNumber") != order {
			return nil
		}
		e.redis.Mini.SetError("LOADING Redis is loading the dataset in memory")
		return &providertest.Answer{Code: -16}
	})
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An answer that waiting will not change (here WRONGTYPE: the record's key holds a string)
// must not hold the task and its worker slot until the worker stops: after a few tries the
// record is given up, in full, on an error line, and the worker goes on with other tasks.
func TestDeadLetterRefusedForGoodDoesNotStallTheWorker(t *testing.T) {
	e := newEnv(t)
	worker.SetAppendWaits(t, 10*time.Millisecond, 50*time.Millisecond)
	if err := e.redis.Client.Set(t.Context(), deadletter.Key, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lost []deadletter.Record
	e.start(setup{concurrency: 1, unrecorded: func(r deadletter.Record) { mu.Lock(); lost = append(lost, r); mu.Unlock() }})
	e.fake.Script("7005", providertest.Answer{Code: -16})
	dead, q := e.enqueue(licence(7005, 700))
	e.waitState(q, dead, 10*time.Second, asynq.TaskStateArchived)
	ok, q := e.enqueue(licence(7006, 700))
	e.waitState(q, ok, 10*time.Second, asynq.TaskStateCompleted)
	logs := e.logs.String()
	if !strings.Contains(logs, "dead letter not recorded") || !strings.Contains(logs, `"payload":"{`) || !strings.Contains(logs, "WRONGTYPE") {
		t.Fatalf("no error line carrying the record; logs:\n%s", logs)
	}
	// And the metrics hear of it: an alert on dead letters must not miss the ones that are
	// only in the log.
	mu.Lock()
	defer mu.Unlock()
	if len(lost) != 1 || lost[0].TaskID != dead || deadletter.CodeText(lost[0].ErrorCode) != "-16" {
		t.Errorf("OnUnrecorded got %+v, want the record of %s", lost, dead)
	}
}
