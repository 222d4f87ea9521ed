package faulttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/syncbuf"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// env is one test's world: its own redis-server, the fake provider in this process, and
// worker processes started from the real binary.
type env struct {
	t      *testing.T
	redis  *redisServer
	fake   *providertest.Server
	rdb    redis.UniversalClient
	client *asynq.Client
	insp   *asynq.Inspector
	dead   *deadletter.Store
}

func newEnv(t *testing.T, opts ...providertest.Option) *env {
	t.Helper()
	r := startRedis(t)
	fake, err := providertest.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return &env{
		t: t, redis: r, fake: fake, rdb: rdb,
		client: asynq.NewClientFromRedisClient(rdb),
		insp:   asynq.NewInspectorFromRedisClient(rdb),
		dead:   deadletter.New(rdb),
	}
}

// workerEnv is the environment of a worker process: short intervals so that the tests run in
// seconds, and nothing inherited from the test's own environment.
func (e *env) workerEnv() map[string]string {
	return map[string]string{
		"REDIS_URL":               e.redis.URL(),
		"PROVIDER_URL":            e.fake.URL,
		"PROVIDER_LOGIN_NAME":     providertest.DefaultLoginName,
		"PROVIDER_LOGIN_PASSWORD": providertest.DefaultLoginPassword,
		"PROVIDER_TIMEOUT":        "20s",
		"WORKER_CONCURRENCY":      "10",
		"POLL_INTERVAL":           "100ms",
		"RETRY_BASE":              "200ms",
		"RETRY_CAP":               "1s",
		"RATE_LIMIT_COOLDOWN":     "1s",
		"SHUTDOWN_TIMEOUT":        "15s",
		"LOG_LEVEL":               "info",
	}
}

// workerProc is one running worker process.
type workerProc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	out     *syncbuf.Buffer // stdout and stderr
	done    chan struct{}   // closed when the process has exited
	started time.Time       // when it said it had started
}

// startWorker starts a worker process with workerEnv changed by override (an empty value
// removes a variable) and waits until it has started. It is killed when the test ends, if
// still running.
func (e *env) startWorker(name string, override map[string]string) *workerProc {
	e.t.Helper()
	bin := workerBinary(e.t)
	vars := e.workerEnv()
	maps.Copy(vars, override)
	var environ []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if vars[k] != "" {
			environ = append(environ, k+"="+vars[k])
		}
	}
	w := &workerProc{t: e.t, name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(bin)
	w.cmd.Env = environ
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	w.cmd.SysProcAttr = sysProcAttr()
	if err := w.cmd.Start(); err != nil {
		e.t.Fatalf("start worker %s: %v", name, err)
	}
	go func() { _ = w.cmd.Wait(); close(w.done) }()
	e.t.Cleanup(func() {
		if !w.exited() {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		out := w.out.String()
		if i := strings.Index(out, "WARNING: DATA RACE"); i >= 0 {
			e.t.Errorf("worker %s: the race detector found a data race:\n%s", name, out[i:min(len(out), i+16<<10)])
		}
		if strings.Contains(out, "panic: ") || strings.Contains(out, "fatal error: ") {
			e.t.Errorf("worker %s crashed:\n%s", name, tail(out, 60))
		}
		if e.t.Failed() {
			e.t.Logf("worker %s output (last lines; all of it in %s):\n%s", name, keepLog(e.t, "worker-"+name, out), tail(out, 30))
		}
	})
	waitUntil(e.t, "worker "+name+" to start", 30*time.Second, func() (bool, string) {
		if w.exited() {
			e.t.Fatalf("worker %s exited at start (%v):\n%s", name, w.cmd.ProcessState, w.out.String())
		}
		return strings.Contains(w.out.String(), `"message":"worker started"`), ""
	})
	w.started = time.Now()
	return w
}

// expectJSONLines fails the test if a line of the worker's output is not a JSON object: a log
// collector would store it as an unparsed string.
func (w *workerProc) expectJSONLines() {
	w.t.Helper()
	var bad []string
	for line := range strings.Lines(w.out.String()) {
		line = strings.TrimSpace(line)
		if line != "" && !json.Valid([]byte(line)) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		w.t.Errorf("worker %s wrote %d lines that are not JSON, e.g. %q", w.name, len(bad), bad[0])
	}
}

func (w *workerProc) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// kill kills the process with SIGKILL, as the OOM killer or a lost machine would, and waits
// for it to be gone.
func (w *workerProc) kill() {
	w.t.Helper()
	if err := w.cmd.Process.Kill(); err != nil {
		w.t.Fatalf("kill worker %s: %v", w.name, err)
	}
	<-w.done
}

// terminate sends SIGTERM, as a deployment does.
func (w *workerProc) terminate() {
	w.t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatalf("SIGTERM worker %s: %v", w.name, err)
	}
}

// exitCode waits up to timeout for the process to exit and returns its exit code; -1 means it
// was killed by a signal.
func (w *workerProc) exitCode(timeout time.Duration) int {
	w.t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		w.t.Fatalf("worker %s still running %s after SIGTERM", w.name, timeout)
	}
	return w.cmd.ProcessState.ExitCode()
}

// stopAndExpectZero sends SIGTERM and fails unless the worker exits 0.
func (w *workerProc) stopAndExpectZero() {
	w.t.Helper()
	w.terminate()
	start := time.Now()
	defer func() {
		w.t.Logf("worker %s exited %s after SIGTERM", w.name, time.Since(start).Round(time.Millisecond))
	}()
	if code := w.exitCode(30 * time.Second); code != 0 {
		w.t.Errorf("worker %s exited %d after SIGTERM, want 0", w.name, code)
	}
}

// licence builds the task of a valid CANCELLICENCE for order.
func licence(t *testing.T, order int64, opts ...tasks.Option) (*asynq.Task, []asynq.Option) {
	t.Helper()
	task, aopts, err := tasks.NewLicenceTask(tasks.LicencePayload{
		OrderNumber: tasks.Int(order), Product: 1009, Action: provider.ActionCancelLicence,
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return task, aopts
}

// enqueueLicences enqueues n valid tasks for orders first, first+1, ... and returns their IDs.
func (e *env) enqueueLicences(first int64, n int, opts ...tasks.Option) []string {
	e.t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		task, aopts := licence(e.t, first+int64(i), opts...)
		info, err := e.client.Enqueue(task, aopts...)
		if err != nil {
			e.t.Fatalf("enqueue: %v", err)
		}
		ids = append(ids, info.ID)
	}
	return ids
}

// queue returns the queue's counts; a queue that does not exist yet is empty.
func (e *env) queue(name string) *asynq.QueueInfo {
	e.t.Helper()
	names, err := e.insp.Queues()
	if err != nil {
		e.t.Fatalf("queues: %v", err)
	}
	if !slices.Contains(names, name) {
		return &asynq.QueueInfo{Queue: name}
	}
	q, err := e.insp.GetQueueInfo(name)
	if err != nil {
		e.t.Fatalf("queue %s: %v", name, err)
	}
	return q
}

// waitCompleted waits until the queue holds want completed tasks and nothing else.
func (e *env) waitCompleted(queue string, want int, timeout time.Duration) {
	e.t.Helper()
	e.waitDone(queue, want, 0, timeout)
}

// waitDone waits until the queue holds completed completed tasks, archived archived ones and
// nothing else. More archived tasks than that fail the test at once.
func (e *env) waitDone(queue string, completed, archived int, timeout time.Duration) {
	e.t.Helper()
	what := fmt.Sprintf("%d completed and %d archived tasks in %s", completed, archived, queue)
	waitUntil(e.t, what, timeout, func() (bool, string) {
		q, err := e.insp.GetQueueInfo(queue)
		if err != nil {
			return false, err.Error()
		}
		if q.Archived > archived {
			e.t.Fatalf("queue %s: more tasks archived than the %d expected: %s", queue, archived, counts(q))
		}
		busy := q.Pending + q.Active + q.Scheduled + q.Retry + q.Aggregating
		return q.Completed == completed && q.Archived == archived && busy == 0, counts(q) + e.waiting(queue)
	})
}

// waiting describes up to five tasks waiting to be retried, for failure messages.
func (e *env) waiting(queue string) string {
	infos, err := e.insp.ListRetryTasks(queue, asynq.PageSize(5))
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, ti := range infos {
		fmt.Fprintf(&b, "; %s retried=%d next=%s last error %q", ti.ID, ti.Retried, ti.NextProcessAt.Format(time.RFC3339Nano), ti.LastErr)
	}
	return b.String()
}

// completed lists every completed task of the queue.
func (e *env) completed(queue string) []*asynq.TaskInfo {
	e.t.Helper()
	var all []*asynq.TaskInfo
	for page := 1; ; page++ {
		infos, err := e.insp.ListCompletedTasks(queue, asynq.PageSize(500), asynq.Page(page))
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, infos...)
		if len(infos) < 500 {
			return all
		}
	}
}

// deadLetters returns every record of the durable dead-letter store.
func (e *env) deadLetters() []deadletter.Record {
	e.t.Helper()
	var out []deadletter.Record
	if err := e.dead.Scan(e.t.Context(), func(r deadletter.Record) error { out = append(out, r); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// expectNoDeadLetters fails the test if anything was dead-lettered.
func (e *env) expectNoDeadLetters(queues ...string) {
	e.t.Helper()
	for _, r := range e.deadLetters() {
		e.t.Errorf("dead-lettered: %s (%s): %s", r.TaskID, r.Reason, r.ErrorMessage)
	}
	for _, q := range queues {
		if n := e.queue(q).Archived; n != 0 {
			e.t.Errorf("queue %s: %d archived tasks, want none", q, n)
		}
	}
}

// callsByOrder counts the fake's calls per orderNumber.
func (e *env) callsByOrder() map[string]int {
	n := map[string]int{}
	for _, c := range e.fake.Calls() {
		if c.Form != nil {
			n[c.Form.Get("orderNumber")]++
		}
	}
	return n
}

// expectEveryOrderCalled fails unless orders first..first+n-1 each reached the provider.
func (e *env) expectEveryOrderCalled(first int64, n int) map[string]int {
	e.t.Helper()
	calls := e.callsByOrder()
	var missing []string
	for i := range n {
		o := fmt.Sprint(first + int64(i))
		if calls[o] == 0 {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		e.t.Errorf("%d orders never reached the provider: %s", len(missing), strings.Join(missing[:min(len(missing), 20)], " "))
	}
	return calls
}

// counts describes a queue for failure messages.
func counts(q *asynq.QueueInfo) string {
	return fmt.Sprintf("pending=%d active=%d scheduled=%d retry=%d archived=%d completed=%d",
		q.Pending, q.Active, q.Scheduled, q.Retry, q.Archived, q.Completed)
}

// waitUntil polls cond every 50ms until it holds, and fails the test after timeout with what
// cond last said.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() (ok bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s (%s)", timeout, what, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// keepLog writes the output of a failed test's process where it outlives the test, and
// returns the path.
func keepLog(t *testing.T, what, out string) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-" + what + ".log"
	path := filepath.Join(os.TempDir(), "ovqueue-faulttest", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err.Error()
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return err.Error()
	}
	return path
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
