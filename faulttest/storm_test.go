package faulttest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestCallLimitStormAcrossTwoWorkers answers -42 to every call for four seconds while two
// worker processes share 300 tasks. The fleet-wide cooldown holds both processes: the calls
// made during the storm stay bounded by the in-flight calls of each cooldown, none starts
// well inside a cooldown, nothing is dead-lettered or spends its retry budget, and every task
// completes after the storm.
func TestCallLimitStormAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	const (
		n           = 300
		first       = 300000
		concurrency = 10
		cooldown    = time.Second
		storm       = 4 * time.Second
	)
	e := newEnv(t)
	var mu sync.Mutex
	var stormStart time.Time
	var limited []time.Time // arrival of every call answered -42
	e.fake.SetHook(func(c providertest.Call) *providertest.Answer {
		mu.Lock()
		defer mu.Unlock()
		if stormStart.IsZero() {
			stormStart = c.Time
		}
		if c.Time.Sub(stormStart) < storm {
			limited = append(limited, c.Time)
			return &providertest.Answer{Code: providertest.CodeCallLimit}
		}
		return nil
	})
	// Each worker calls through its own path on the fake, so that calls tell who made them.
	workers := []string{"a", "b"}
	procs := make([]*workerProc, len(workers))
	for i, name := range workers {
		procs[i] = e.startWorker(name, map[string]string{
			"PROVIDER_URL":        strings.Replace(e.fake.URL, "/products/", "/"+name+"/products/", 1),
			"WORKER_CONCURRENCY":  fmt.Sprint(concurrency),
			"RATE_LIMIT_COOLDOWN": cooldown.String(),
			"RETRY_BASE":          "50ms", // were a -42 a transient failure, it would come back at once
		})
	}
	// Enqueued once both workers are up, so that the storm (which starts with the first call)
	// finds both waiting, however slowly the second started.
	ids := e.enqueueLicences(first, n)
	e.waitCompleted(tasks.QueueDefault, n, 60*time.Second)
	mu.Lock()
	t.Logf("all %d tasks completed %s after the storm ended", n, time.Since(stormStart.Add(storm)).Round(100*time.Millisecond))
	mu.Unlock()
	e.expectNoDeadLetters(tasks.QueueDefault)
	e.expectEveryOrderCalled(first, n)

	mu.Lock()
	limitedAt := append([]time.Time(nil), limited...)
	start := stormStart
	mu.Unlock()
	var stormCalls int
	byWorker := map[string]int{}
	for _, c := range e.fake.Calls() {
		if c.Time.Sub(start) < storm {
			stormCalls++
			byWorker[strings.Split(strings.TrimPrefix(c.Path, "/"), "/")[0]]++
		}
	}
	// Each cooldown lets through at most the calls already past their cooldown check in both
	// processes (2 x concurrency), and the storm spans at most storm/cooldown + 1 cooldowns.
	cycles := int(storm/cooldown) + 1
	bound := cycles * len(workers) * concurrency
	t.Logf("storm of %s, cooldown %s: %d calls answered -42 (by worker %v), bound %d",
		storm, cooldown, stormCalls, byWorker, bound)
	if stormCalls > bound {
		t.Errorf("%d calls during the storm, want at most %d", stormCalls, bound)
	}
	// A worker that hears of every cooldown as it starts may make no call at all during the
	// storm: that is the fleet holding. For it to prove anything, each worker must have been
	// up, with tasks waiting, for at least one whole cooldown inside the storm, and must have
	// taken calls up again after it.
	after := map[string]int{}
	for _, c := range e.fake.Calls() {
		if c.Time.Sub(start) >= storm {
			after[strings.Split(strings.TrimPrefix(c.Path, "/"), "/")[0]]++
		}
	}
	for i, w := range workers {
		if up := procs[i].started; up.After(start.Add(storm - cooldown)) {
			t.Errorf("worker %s started %s after the storm began: it was not held for a whole cooldown", w, up.Sub(start))
		}
		if after[w] == 0 {
			t.Errorf("worker %s made no call after the storm (during it: %v; after: %v)", w, byWorker, after)
		}
	}
	// A call arriving well after a -42 and before that cooldown ends was not in flight when the
	// cooldown started: the process that made it ignored the cooldown. Allow those that were.
	const inFlight = 300 * time.Millisecond
	if late := callsInsideCooldowns(e.fake.Calls(), limitedAt, inFlight, cooldown); len(late) > len(workers)*concurrency {
		t.Errorf("%d calls started inside a cooldown, more than could have been in flight (%d): %s",
			len(late), len(workers)*concurrency, strings.Join(late[:min(len(late), 20)], ", "))
	}

	// A -42 is a wait, not a failure: no task spent any of its retry budget.
	for _, id := range ids {
		info, err := e.insp.GetTaskInfo(tasks.QueueDefault, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Retried != 0 {
			t.Errorf("task %s: retried %d, want 0 (last error %q)", id, info.Retried, info.LastErr)
		}
	}
	for _, p := range procs {
		p.stopAndExpectZero()
	}
}

// callsInsideCooldowns returns the calls that arrived more than inFlight after a call answered
// -42 and before that -42's cooldown ended.
func callsInsideCooldowns(calls []providertest.Call, limitedAt []time.Time, inFlight, cooldown time.Duration) []string {
	sort.Slice(limitedAt, func(i, j int) bool { return limitedAt[i].Before(limitedAt[j]) })
	var out []string
	for _, c := range calls {
		// The latest -42 at or before this call decides whether it falls in a cooldown.
		i := sort.Search(len(limitedAt), func(i int) bool { return limitedAt[i].After(c.Time) }) - 1
		if i < 0 {
			continue
		}
		if d := c.Time.Sub(limitedAt[i]); d > inFlight && d < cooldown {
			out = append(out, fmt.Sprintf("%s +%s", c.Path, d.Round(time.Millisecond)))
		}
	}
	return out
}
