package faulttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestKill9MidRun kills a worker with SIGKILL in the middle of 1,000 tasks, some of them in
// the middle of their provider call, and starts it again. Every task reaches the provider at
// least once and completes; the crash dead-letters nothing and spends no retry budget.
//
// Timing, from asynq v0.26.0: a dequeued task holds a 30s lease that the heartbeater extends
// every 5s, so the tasks of a killed worker hold leases that end at most 30s after the kill.
// The recoverer of the restarted worker runs at its start and then once a minute, and only
// takes tasks whose lease ended more than 30s before (clock skew); the first run after the
// restart finds them all, 60s after the restart. Each is then retried after up to 5s
// (retry.DelayFunc's spread for asynq.ErrLeaseExpired). So the last tasks complete about 65s
// after the kill, and the test waits up to 100s.
func TestKill9MidRun(t *testing.T) {
	t.Parallel()
	const n = 1000
	const first = 100000
	// 50ms a call: at 10 calls in flight the run lasts ~5s, and the kill lands mid-call.
	e := newEnv(t, providertest.WithLatency(50*time.Millisecond))
	e.enqueueLicences(first, n)

	w := e.startWorker("first", nil)
	waitUntil(t, "300 provider calls", 30*time.Second, func() (bool, string) {
		c := e.fake.CallCount()
		return c >= 300, fmt.Sprintf("%d calls", c)
	})
	w.kill()
	killedAt := time.Now()

	// The tasks the dead worker held, mid-call or about to call.
	orphans, err := e.insp.ListActiveTasks(tasks.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) == 0 {
		t.Fatal("no task was active when the worker was killed: the test proves nothing")
	}
	calledBeforeRestart := e.callsByOrder()

	w2 := e.startWorker("restarted", nil)
	e.waitCompleted(tasks.QueueDefault, n, 100*time.Second)
	t.Logf("%d tasks were active at the kill; all %d tasks completed %s after it", len(orphans), n, time.Since(killedAt).Round(time.Second))

	e.expectNoDeadLetters(tasks.QueueDefault)
	calls := e.expectEveryOrderCalled(first, n)
	for _, info := range e.completed(tasks.QueueDefault) {
		if info.Retried != 0 {
			t.Errorf("task %s: retried %d, want 0: recovering from the crash spent its retry budget (last error %q)", info.ID, info.Retried, info.LastErr)
		}
	}
	// At least one orphan was mid-call: the provider saw it before the kill, and again after.
	var redelivered int
	for _, o := range orphans {
		order := fmt.Sprint(orderOf(t, o))
		if calledBeforeRestart[order] > 0 && calls[order] > calledBeforeRestart[order] {
			redelivered++
		}
	}
	if redelivered == 0 {
		t.Errorf("none of the %d tasks active at the kill was called both before and after it", len(orphans))
	}
	w2.stopAndExpectZero()
}

// orderOf is the order number of a licence task.
func orderOf(t *testing.T, info *asynq.TaskInfo) int64 {
	t.Helper()
	p, err := tasks.DecodeLicence(info.Payload)
	if err != nil {
		t.Fatalf("task %s: %v", info.ID, err)
	}
	return int64(p.OrderNumber)
}
