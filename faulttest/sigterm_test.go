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

// TestSIGTERMDuringSlowCalls stops a worker while its provider calls are slow.
func TestSIGTERMDuringSlowCalls(t *testing.T) {
	t.Parallel()

	// Calls that end within SHUTDOWN_TIMEOUT finish: their tasks complete with one call each,
	// the worker exits 0, and the tasks it had not started wait, pending, for the next worker.
	t.Run("calls finish", func(t *testing.T) {
		t.Parallel()
		const slow, queued = 4, 20
		const first = 400
		e := newEnv(t)
		for i := range slow {
			e.fake.Script(fmt.Sprint(first+i), providertest.Answer{Delay: 3 * time.Second})
		}
		// FIFO: the slow tasks are taken first and fill the worker's four slots.
		e.enqueueLicences(first, slow)
		e.enqueueLicences(first+slow, queued)
		w := e.startWorker("w", map[string]string{"WORKER_CONCURRENCY": fmt.Sprint(slow), "SHUTDOWN_TIMEOUT": "20s"})
		waitUntil(t, "the slow calls", 20*time.Second, func() (bool, string) {
			c := e.fake.CallCount()
			return c == slow, fmt.Sprintf("%d calls", c)
		})
		w.stopAndExpectZero()

		q := e.queue(tasks.QueueDefault)
		if q.Completed != slow || q.Pending != queued || q.Active != 0 || q.Retry != 0 || q.Archived != 0 {
			t.Fatalf("after SIGTERM: %s; want the %d slow tasks completed and %d pending", counts(q), slow, queued)
		}
		for _, info := range e.completed(tasks.QueueDefault) {
			if r := string(info.Result); r == "" {
				t.Errorf("task %s completed without a result", info.ID)
			}
		}

		w2 := e.startWorker("next", nil)
		e.waitCompleted(tasks.QueueDefault, slow+queued, 30*time.Second)
		for order, n := range e.expectEveryOrderCalled(first, slow+queued) {
			if n != 1 {
				t.Errorf("order %s called %d times, want once: a call was cut short or a task ran twice", order, n)
			}
		}
		e.expectNoDeadLetters(tasks.QueueDefault)
		w2.stopAndExpectZero()
	})

	// A call slower than SHUTDOWN_TIMEOUT is abandoned: the worker still exits 0, and the
	// task goes back to its queue without spending its retry budget, for the next worker.
	t.Run("call outlives the shutdown timeout", func(t *testing.T) {
		t.Parallel()
		const order = 450
		e := newEnv(t)
		e.fake.Script(fmt.Sprint(order), providertest.Answer{Delay: 30 * time.Second})
		ids := e.enqueueLicences(order, 1)
		w := e.startWorker("w", map[string]string{"SHUTDOWN_TIMEOUT": "1s"})
		waitUntil(t, "the slow call", 20*time.Second, func() (bool, string) {
			c := e.fake.CallCount()
			return c == 1, fmt.Sprintf("%d calls", c)
		})
		w.stopAndExpectZero()

		info, err := e.insp.GetTaskInfo(tasks.QueueDefault, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if info.State != asynq.TaskStatePending || info.Retried != 0 {
			t.Fatalf("after SIGTERM: task %s, retried %d; want pending again with its budget whole", info.State, info.Retried)
		}
		// The log says the call was cut short, not that the provider failed.
		if out := w.out.String(); !strings.Contains(out, `"outcome":"interrupted"`) || strings.Contains(out, `"outcome":"transient"`) {
			t.Errorf("the cut-off call is not logged as interrupted:\n%s", tail(out, 5))
		}
		w2 := e.startWorker("next", nil)
		e.waitCompleted(tasks.QueueDefault, 1, 30*time.Second)
		if n := len(e.fake.CallsFor(fmt.Sprint(order))); n != 2 {
			t.Errorf("order %d called %d times, want 2: the abandoned call, then the one that completed", order, n)
		}
		e.expectNoDeadLetters(tasks.QueueDefault)
		w2.stopAndExpectZero()
	})

	// A second signal does not wait out SHUTDOWN_TIMEOUT: the worker stops at once, exit 1,
	// and the task it was running is left active, as after a crash, for its lease to expire
	// (the kill -9 test shows such a task coming back).
	t.Run("second signal", func(t *testing.T) {
		t.Parallel()
		const order = 470
		e := newEnv(t)
		e.fake.Script(fmt.Sprint(order), providertest.Answer{Delay: 60 * time.Second})
		e.enqueueLicences(order, 1)
		w := e.startWorker("w", map[string]string{"SHUTDOWN_TIMEOUT": "60s"})
		waitUntil(t, "the slow call", 20*time.Second, func() (bool, string) {
			c := e.fake.CallCount()
			return c == 1, fmt.Sprintf("%d calls", c)
		})
		w.terminate()
		waitUntil(t, "the shutdown to begin", 10*time.Second, func() (bool, string) {
			return strings.Contains(w.out.String(), "shutting down"), "no shutdown line yet"
		})
		if w.exited() {
			t.Fatal("the worker exited on the first signal while a call was in flight")
		}
		// The same signal within 250ms of the first is taken for a copy of it (coreutils timeout
		// signals the process and its group); an operator's second one comes later.
		time.Sleep(500 * time.Millisecond)
		w.terminate()
		// Well short of SHUTDOWN_TIMEOUT and of the call's delay.
		if code := w.exitCode(20 * time.Second); code != 1 {
			t.Errorf("exit code %d after a second SIGTERM, want 1", code)
		}
		if !strings.Contains(w.out.String(), "second signal (terminated): stopping now") {
			t.Errorf("no word of the second signal in the output:\n%s", tail(w.out.String(), 5))
		}
		if q := e.queue(tasks.QueueDefault); q.Active != 1 || q.Completed != 0 || q.Archived != 0 {
			t.Fatalf("after the second signal: %s; want the task still active, until its lease expires", counts(q))
		}
	})
}
