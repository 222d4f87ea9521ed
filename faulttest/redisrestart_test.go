package faulttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestRedisRestartMidRun stops Redis (AOF on) while two workers are busy and starts it again
// a few seconds later: the workers reconnect by themselves and every task completes, none
// dead-lettered.
func TestRedisRestartMidRun(t *testing.T) {
	t.Parallel()
	const n = 600
	const first = 200000
	e := newEnv(t, providertest.WithLatency(20*time.Millisecond))
	e.enqueueLicences(first, n)
	a := e.startWorker("a", nil)
	b := e.startWorker("b", nil)

	waitUntil(t, "150 provider calls", 30*time.Second, func() (bool, string) {
		c := e.fake.CallCount()
		return c >= 150, fmt.Sprintf("%d calls", c)
	})
	e.redis.stop()
	stoppedAt := e.fake.CallCount()
	time.Sleep(3 * time.Second) // workers keep running without Redis
	if a.exited() || b.exited() {
		t.Fatalf("a worker exited while Redis was down: a %v, b %v", a.cmd.ProcessState, b.cmd.ProcessState)
	}
	e.redis.start()
	restartedAt := time.Now()
	if stoppedAt >= n {
		t.Fatalf("all %d tasks were called before Redis stopped: the test proves nothing", n)
	}

	// The workers reconnect by themselves: within seconds they take every waiting task again.
	waitUntil(t, "the workers to empty the queue", 30*time.Second, func() (bool, string) {
		q := e.queue(tasks.QueueDefault)
		return q.Pending == 0 && q.Scheduled == 0 && q.Retry == 0, counts(q)
	})
	stuck := e.queue(tasks.QueueDefault).Active
	// A task whose handler finished while Redis was down waits longer: asynq v0.26.0 retries
	// the write that completes it with a context it has already cancelled (processor.go,
	// markAsComplete), so that write never succeeds. The task stays active until its lease
	// (30s) has expired, plus the recoverer's 30s margin, plus up to a minute until the
	// recoverer runs (every minute from the worker's start): up to about 2 minutes. Then it
	// runs again (at-least-once delivery).
	e.waitCompleted(tasks.QueueDefault, n, 180*time.Second)
	var recovered int
	for _, info := range e.completed(tasks.QueueDefault) {
		if strings.Contains(info.LastErr, asynq.ErrLeaseExpired.Error()) {
			recovered++
		}
	}
	t.Logf("Redis stopped after %d calls; %d tasks still active once the queue had emptied; all %d tasks completed %s after it restarted, %d of them through asynq's lease recovery",
		stoppedAt, stuck, n, time.Since(restartedAt).Round(100*time.Millisecond), recovered)
	e.expectNoDeadLetters(tasks.QueueDefault)
	e.expectEveryOrderCalled(first, n)
	a.stopAndExpectZero()
	b.stopAndExpectZero()
	// While Redis was away the clients' own complaints went to the log as JSON lines too.
	for _, w := range []*workerProc{a, b} {
		w.expectJSONLines()
		t.Logf("worker %s: %d messages of the Redis client", w.name, strings.Count(w.out.String(), `"component":"redis"`))
	}
}
