package worker_test

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/internal/syncbuf"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

type setup struct {
	cooldown    time.Duration
	rate        float64
	maxWait     time.Duration
	concurrency int
	agent       string
	accounts    map[string]provider.Credentials
	refresh     time.Duration // how long the fleet trusts an account's state (default: ratelimit's)
	shutdown    time.Duration // SHUTDOWN_TIMEOUT (default 5s)
	poll        time.Duration // POLL_INTERVAL (default 50ms)
	observer    handler.Observer
	unrecorded  func(deadletter.Record) // Options.OnUnrecorded
}

// env is one test's Redis, fake provider, and the means to start workers on them.
type env struct {
	t      *testing.T
	redis  *redistest.Redis
	fake   *providertest.Server
	client *asynq.Client
	insp   *asynq.Inspector
	dead   *deadletter.Store
	logs   *syncbuf.Buffer
}

func newEnv(t *testing.T, opts ...providertest.Option) *env {
	t.Helper()
	r := redistest.New(t)
	fake, err := providertest.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	c := asynq.NewClientFromRedisClient(r.Client)
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	return &env{t: t, redis: r, fake: fake, client: c, insp: insp, dead: deadletter.New(r.Client), logs: &syncbuf.Buffer{}}
}

func defaultCreds(t testing.TB) map[string]provider.Credentials {
	c, err := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]provider.Credentials{tasks.DefaultAccount: c}
}

// start runs a worker until the test ends.
func (e *env) start(s setup) *worker.Worker {
	e.t.Helper()
	if s.cooldown == 0 {
		s.cooldown = 500 * time.Millisecond
	}
	if s.maxWait == 0 {
		s.maxWait = time.Minute
	}
	if s.concurrency == 0 {
		s.concurrency = 4
	}
	if s.accounts == nil {
		s.accounts = defaultCreds(e.t)
	}
	if s.shutdown == 0 {
		s.shutdown = 5 * time.Second
	}
	if s.poll == 0 {
		s.poll = 50 * time.Millisecond
	}
	pc, err := provider.New(e.fake.URL, provider.WithTimeout(time.Second), provider.WithUserAgent(s.agent))
	if err != nil {
		e.t.Fatal(err)
	}
	log := zerolog.New(io.MultiWriter(e.logs)).Level(zerolog.InfoLevel)
	var fopts []ratelimit.Option
	if s.refresh > 0 {
		fopts = append(fopts, ratelimit.WithRefresh(s.refresh))
	}
	fleet := ratelimit.New(e.redis.Client, s.cooldown, s.rate, fopts...)
	stopListening, err := fleet.Listen(e.t.Context()) // as cmd/worker does
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := handler.New(handler.Config{Client: pc, Accounts: s.accounts, Fleet: fleet, Logger: log, RateLimitMaxWait: s.maxWait,
		Observer: s.observer})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := worker.New(worker.Options{
		Redis: e.redis.Client, Handlers: h, DeadLetters: e.dead,
		Retry:       retry.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond},
		Concurrency: s.concurrency, PollInterval: s.poll, ShutdownTimeout: s.shutdown,
		Logger: log, OnUnrecorded: s.unrecorded,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		w.Shutdown()
		stopListening()
		// Shutdown may leave before asynq has stopped; asynq panics if the test's Redis client
		// is closed under it.
		select {
		case <-w.Stopped():
		case <-time.After(30 * time.Second):
			e.t.Error("asynq's shutdown has not ended 30s after Shutdown")
		}
	})
	return w
}

// enqueue puts a task in Redis and returns its ID and queue.
func (e *env) enqueue(b built) (string, string) {
	e.t.Helper()
	if b.err != nil {
		e.t.Fatal(b.err)
	}
	info, err := e.client.Enqueue(b.task, b.opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.ID, info.Queue
}

// waitState polls until the task reaches one of the states and returns its info.
func (e *env) waitState(queue, id string, timeout time.Duration, states ...asynq.TaskState) *asynq.TaskInfo {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *asynq.TaskInfo
	for time.Now().Before(deadline) {
		info, err := e.insp.GetTaskInfo(queue, id)
		if err == nil {
			last = info
			for _, s := range states {
				if info.State == s {
					return info
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last != nil {
		e.t.Fatalf("task %s: state %s after %s, want %v (last error %q)\nlogs:\n%s", id, last.State, timeout, states, last.LastErr, e.logs.String())
	}
	e.t.Fatalf("task %s not found after %s", id, timeout)
	return nil
}

// deadLetters returns every record in the durable store.
func (e *env) deadLetters() []deadletter.Record {
	e.t.Helper()
	var out []deadletter.Record
	if err := e.dead.Scan(e.t.Context(), func(r deadletter.Record) error { out = append(out, r); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func result(t *testing.T, info *asynq.TaskInfo) handler.Result {
	t.Helper()
	var r handler.Result
	if err := json.Unmarshal(info.Result, &r); err != nil {
		t.Fatalf("result %q: %v", info.Result, err)
	}
	return r
}

func licence(order int64, product int, opts ...tasks.Option) built {
	task, aopts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: tasks.Int(order), Product: tasks.Int(product), Action: provider.ActionCancelLicence}, opts...)
	return built{task, aopts, err}
}

// licenceFor is licence for the worker's account alias account, product 700.
func licenceFor(account string, order int64) built {
	task, aopts, err := tasks.NewLicenceTask(tasks.LicencePayload{Account: account, OrderNumber: tasks.Int(order), Product: 700, Action: provider.ActionCancelLicence})
	return built{task, aopts, err}
}

// licenceDetail is a licence task that changes a Qualys detail rather than cancelling.
func licenceDetail(order int64, product int, opts ...tasks.Option) built {
	task, aopts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: tasks.Int(order), Product: tasks.Int(product), QualysCompanyName: "Example Ltd"}, opts...)
	return built{task, aopts, err}
}

// built is a task as a tasks constructor returned it.
type built struct {
	task *asynq.Task
	opts []asynq.Option
	err  error
}

// with is e for a subtest: its helpers fail t, not the test that made e.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}
