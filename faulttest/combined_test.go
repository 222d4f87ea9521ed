package faulttest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestFaultsTogether runs the other tests' faults one after another in one run, where they
// meet what the other tests leave out: PROVIDER_RATE on across two worker processes, a
// backfill with live tasks arriving beside it, and -14 answers throughout. In turn: a worker
// is killed with SIGKILL and started again, Redis stops and starts again, every call is
// answered -42 for a while, and the other worker is stopped with SIGTERM and started again.
// Every task completes, none is dead-lettered, none spends more of its retry budget than the
// -14 answers it got, and the fleet keeps to PROVIDER_RATE throughout.
func TestFaultsTogether(t *testing.T) {
	t.Parallel()
	const (
		backlog, firstBackfill = 600, 700000
		live, firstLive        = 150, 800000
		rate                   = 60
		storm                  = 1500 * time.Millisecond
	)
	e := newEnv(t, providertest.WithLatency(5*time.Millisecond))
	var mu sync.Mutex
	transient := map[string]int{} // -14 answers by order
	var stormUntil time.Time
	limited := 0             // calls answered -42
	var arrivals []time.Time // of every call
	e.fake.SetHook(func(c providertest.Call) *providertest.Answer {
		mu.Lock()
		defer mu.Unlock()
		arrivals = append(arrivals, c.Time)
		switch {
		case c.Time.Before(stormUntil):
			limited++
			return &providertest.Answer{Code: providertest.CodeCallLimit}
		case rand.IntN(25) == 0:
			transient[c.Form.Get("orderNumber")]++
			return &providertest.Answer{Code: providertest.CodeUnknownError}
		}
		return nil
	})
	workerVars := map[string]string{"PROVIDER_RATE": fmt.Sprint(rate), "WORKER_CONCURRENCY": "10"}
	e.enqueueLicences(firstBackfill, backlog, tasks.Queue(tasks.QueueBackfill))
	a := e.startWorker("a", workerVars)
	b := e.startWorker("b", workerVars)

	// Live tasks arrive throughout, as a billing system sends them: one that Redis does not
	// take (while it is stopped) is sent again.
	var liveDone atomic.Bool
	go func() {
		defer liveDone.Store(true)
		for i := range live {
			task, opts := licence(t, firstLive+int64(i))
			for {
				if _, err := e.client.Enqueue(task, opts...); err == nil {
					break
				}
				if t.Context().Err() != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(60 * time.Millisecond)
		}
	}()
	calls := func(n int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("%d provider calls", n), 60*time.Second, func() (bool, string) {
			c := e.fake.CallCount()
			return c >= n, fmt.Sprintf("%d calls", c)
		})
	}

	calls(100)
	a.kill()
	orphans := e.queue(tasks.QueueBackfill).Active + e.queue(tasks.QueueDefault).Active
	if orphans == 0 {
		t.Fatal("no task was active when the worker was killed: the kill proves nothing")
	}
	a = e.startWorker("a-again", workerVars)

	calls(250)
	e.redis.stop()
	time.Sleep(2 * time.Second)
	e.redis.start()

	calls(400)
	mu.Lock()
	stormUntil = time.Now().Add(storm)
	mu.Unlock()

	calls(550)
	b.terminate()
	if code := b.exitCode(30 * time.Second); code != 0 {
		t.Errorf("worker b exited %d after SIGTERM, want 0", code)
	}
	b = e.startWorker("b-again", workerVars)

	waitUntil(t, "every live task to be enqueued", 60*time.Second, func() (bool, string) { return liveDone.Load(), "" })
	// Tasks that a fault left active come back through asynq's lease recovery: up to about
	// two minutes after the fault (see TestKill9MidRun and TestRedisRestartMidRun).
	e.waitCompleted(tasks.QueueBackfill, backlog, 240*time.Second)
	e.waitCompleted(tasks.QueueDefault, live, 60*time.Second)

	e.expectNoDeadLetters(tasks.QueueBackfill, tasks.QueueDefault)
	e.expectEveryOrderCalled(firstBackfill, backlog)
	e.expectEveryOrderCalled(firstLive, live)
	mu.Lock()
	defer mu.Unlock()
	if limited == 0 {
		t.Error("no call was answered -42: the storm proves nothing")
	}
	for _, q := range []string{tasks.QueueBackfill, tasks.QueueDefault} {
		for _, info := range e.completed(q) {
			if n := transient[fmt.Sprint(orderOf(t, info))]; info.Retried > n {
				t.Errorf("task %s: retried %d after %d -14 answers: a fault spent its retry budget (last error %q)", info.ID, info.Retried, n, info.LastErr)
			}
		}
	}
	// Calls are spaced 1/rate apart and a little more, fleet-wide; the slack is for calls
	// that reach the fake late on a loaded machine. Without the limit, 20 slots would make
	// hundreds of calls a second.
	slices.SortFunc(arrivals, time.Time.Compare)
	most, j := 0, 0
	for i := range arrivals {
		for arrivals[i].Sub(arrivals[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	if most > rate+rate/10 {
		t.Errorf("%d calls within one second across the fleet, PROVIDER_RATE is %d", most, rate)
	}
	t.Logf("%d tasks active at the kill; %d calls in all, at most %d in one second; %d answered -14, %d -42",
		orphans, len(arrivals), most, sumOf(transient), limited)
	a.stopAndExpectZero()
	b.stopAndExpectZero()
	for _, w := range []*workerProc{a, b} {
		w.expectJSONLines()
	}
}

func sumOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
