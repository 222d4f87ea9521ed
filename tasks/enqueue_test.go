package tasks_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
	"github.com/redis/go-redis/v9"
)

func licence(t *testing.T, order tasks.Int, opts ...tasks.Option) (*asynq.Task, []asynq.Option) {
	t.Helper()
	task, o, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: order, Product: 700, Action: provider.ActionCancelLicence}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return task, o
}

// put enqueues order's licence task in queue, any queue, with a plain asynq client (which checks
// only that queue), archives it if asked, and returns its ID.
func put(t *testing.T, r *redistest.Redis, order tasks.Int, queue string, archive bool, opts ...tasks.Option) string {
	t.Helper()
	task, o := licence(t, order, opts...)
	info, err := asynq.NewClientFromRedisClient(r.Client).EnqueueContext(t.Context(), task, append(o, asynq.Queue(queue))...)
	if err != nil {
		t.Fatal(err)
	}
	if archive {
		if err := asynq.NewInspectorFromRedisClient(r.Client).ArchiveTask(queue, info.ID); err != nil {
			t.Fatal(err)
		}
	}
	return info.ID
}

func TestEnqueuerReportsDuplicates(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	e := tasks.NewEnqueuer(r.Client)

	task, opts := licence(t, 9)
	first, err := e.Enqueue(t.Context(), task, opts...)
	if err != nil || first.Duplicate || first.State != "pending" || first.Queue != tasks.QueueDefault {
		t.Fatalf("first = %+v, %v", first, err)
	}
	second, err := e.Enqueue(t.Context(), task, opts...)
	if err != nil || !second.Duplicate || second.ID != first.ID || second.State != "pending" {
		t.Fatalf("second = %+v, %v", second, err)
	}
	// Archived (dead-lettered) tasks are still duplicates.
	if err := insp.ArchiveTask(first.Queue, first.ID); err != nil {
		t.Fatal(err)
	}
	third, err := e.Enqueue(t.Context(), task, opts...)
	if err != nil || !third.Duplicate || third.State != "archived" {
		t.Fatalf("third = %+v, %v", third, err)
	}
	// Scheduled tasks report their state.
	t2, opts2 := licence(t, 10, tasks.ProcessIn(time.Hour))
	if res, err := e.Enqueue(t.Context(), t2, opts2...); err != nil || res.State != "scheduled" {
		t.Fatalf("scheduled = %+v, %v", res, err)
	}
	if res, err := e.Enqueue(t.Context(), t2, opts2...); err != nil || !res.Duplicate || res.State != "scheduled" {
		t.Fatalf("scheduled dup = %+v, %v", res, err)
	}
	// EnqueueNew skips the look-up, but asynq still refuses the same ID in the same queue.
	if res, err := e.EnqueueNew(t.Context(), t2, opts2...); err != nil || !res.Duplicate || res.State != "scheduled" {
		t.Fatalf("EnqueueNew dup = %+v, %v", res, err)
	}
}

// The same task ID in another queue is a duplicate: asynq alone would take it once per queue.
func TestEnqueuerDuplicatesAcrossQueues(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)

	live, liveOpts := licence(t, 11)
	if res, err := e.Enqueue(t.Context(), live, liveOpts...); err != nil || res.Duplicate {
		t.Fatalf("live = %+v, %v", res, err)
	}
	back, backOpts := licence(t, 11, tasks.Queue(tasks.QueueBackfill))
	res, err := e.Enqueue(t.Context(), back, backOpts...)
	if err != nil || !res.Duplicate || res.Queue != tasks.QueueDefault || res.State != "pending" {
		t.Fatalf("the same task for the backfill queue = %+v, %v; want a duplicate of the one in default", res, err)
	}
	n, err := r.Client.LLen(t.Context(), "asynq:{backfill}:pending").Result()
	if err != nil || n != 0 {
		t.Fatalf("backfill queue holds %d tasks (%v); want none", n, err)
	}

	// And the other way round, with a caller's key.
	keyed, keyedOpts := licence(t, 12, tasks.Queue(tasks.QueueBackfill), tasks.Key("k-12"))
	if res, err := e.Enqueue(t.Context(), keyed, keyedOpts...); err != nil || res.Duplicate || res.Queue != tasks.QueueBackfill {
		t.Fatalf("keyed = %+v, %v", res, err)
	}
	keyed2, keyedOpts2 := licence(t, 13, tasks.Key("k-12"))
	res, err = e.Enqueue(t.Context(), keyed2, keyedOpts2...)
	if err != nil || !res.Duplicate || res.Queue != tasks.QueueBackfill || res.ID != "licence:modify:k-12" {
		t.Fatalf("same key for default = %+v, %v; want the duplicate in backfill", res, err)
	}
}

// A key given before to other content is still a duplicate, and says so: the second payload
// was not enqueued. The first tasks are written by asynq's own client, so the test also holds
// the reading of asynq's task message to asynq's encoding.
func TestEnqueuerKeyGivenToOtherContent(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)

	put(t, r, 20, tasks.QueueBackfill, false, tasks.Key("invoice-20"))
	other, otherOpts := licence(t, 21, tasks.Key("invoice-20"))
	res, err := e.Enqueue(t.Context(), other, otherOpts...)
	if err != nil || !res.Duplicate || !res.DifferentContent || res.ID != "licence:modify:invoice-20" || res.Queue != tasks.QueueBackfill {
		t.Fatalf("order 21 under order 20's key = %+v, %v; want a duplicate with different content", res, err)
	}
	same, sameOpts := licence(t, 20, tasks.Key("invoice-20"))
	if res, err := e.Enqueue(t.Context(), same, sameOpts...); err != nil || !res.Duplicate || res.DifferentContent {
		t.Fatalf("order 20 under its own key again = %+v, %v; want a duplicate with the same content", res, err)
	}
	// The same check where asynq itself finds the duplicate (EnqueueNew skips the look-up).
	if res, err := e.EnqueueNew(t.Context(), other, append(otherOpts, asynq.Queue(tasks.QueueBackfill))...); err != nil || !res.Duplicate || !res.DifferentContent {
		t.Fatalf("EnqueueNew of order 21 under order 20's key = %+v, %v; want a duplicate with different content", res, err)
	}
	// A payload in another JSON form, as another version might write it, is the same content.
	task, opts := licence(t, 22, tasks.Key("invoice-22"))
	reordered := asynq.NewTask(task.Type(), []byte(`{"product":700,"action":"CANCELLICENCE","orderNumber":"22"}`))
	if _, err := asynq.NewClientFromRedisClient(r.Client).EnqueueContext(t.Context(), reordered, opts...); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Enqueue(t.Context(), task, opts...); err != nil || !res.Duplicate || res.DifferentContent {
		t.Fatalf("order 22 against its payload in another form = %+v, %v; want the same content", res, err)
	}
	// A stored payload that no longer decodes (rules changed since it was written) cannot be
	// compared: no hint. Nor can a message this package cannot read; a duplicate stays one.
	task, opts = licence(t, 24, tasks.Key("invoice-24"))
	old := asynq.NewTask(task.Type(), []byte(`{"product":700,"action":"CANCELLICENCE","orderNumber":"24","retired":"x"}`))
	if _, err := asynq.NewClientFromRedisClient(r.Client).EnqueueContext(t.Context(), old, opts...); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Enqueue(t.Context(), task, opts...); err != nil || !res.Duplicate || res.DifferentContent {
		t.Fatalf("order 24 against a payload that no longer decodes = %+v, %v; want a duplicate without the hint", res, err)
	}
	if err := r.Client.HSet(t.Context(), "asynq:{default}:t:licence:modify:invoice-24", "msg", "\xff\xff").Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Enqueue(t.Context(), task, opts...); err != nil || !res.Duplicate || res.DifferentContent {
		t.Fatalf("order 24 against an unreadable message = %+v, %v; want a duplicate without the hint", res, err)
	}
	// A duplicate by content ID has the same content by construction.
	put(t, r, 23, tasks.QueueDefault, true)
	task, opts = licence(t, 23)
	if res, err := e.Enqueue(t.Context(), task, opts...); err != nil || !res.Duplicate || res.DifferentContent || res.State != "archived" {
		t.Fatalf("order 23 again = %+v, %v; want an archived duplicate with the same content", res, err)
	}
}

// Lookup reads asynq's own records: every state asynq gives a task (but aggregating, which
// needs task groups the workers never use), as its inspector reports it, in whichever queue
// holds the task.
func TestLookupFollowsAsynq(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	e := tasks.NewEnqueuer(r.Client)

	pending := put(t, r, 1, tasks.QueueDefault, false)
	scheduled := put(t, r, 2, "elsewhere", false, tasks.ProcessIn(time.Hour)) // any queue
	archived := put(t, r, 3, tasks.QueueBackfill, true)
	// Completed, retry and active come from a server: order 4 succeeds (and is retained), 5
	// fails, 6 runs until the look-up is done.
	completed, retry, active := put(t, r, 4, "served", false), put(t, r, 5, "served", false), put(t, r, 6, "served", false)
	release := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(r.Client, asynq.Config{
		Queues:         map[string]int{"served": 1},
		Concurrency:    2,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:       asynq.FatalLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		switch p, _ := tasks.DecodeLicence(task.Payload()); p.OrderNumber {
		case 5:
			return errors.New("fails")
		case 6:
			<-release
		}
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer close(release)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, errA := insp.GetTaskInfo("served", completed)
		b, errB := insp.GetTaskInfo("served", retry)
		c, errC := insp.GetTaskInfo("served", active)
		if errA == nil && errB == nil && errC == nil && a.State == asynq.TaskStateCompleted && b.State == asynq.TaskStateRetry && c.State == asynq.TaskStateActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not complete, fail and run the tasks: %v %v %v %v %v %v", a, errA, b, errB, c, errC)
		}
		time.Sleep(50 * time.Millisecond)
	}

	ids := []string{pending, "licence:modify:404:0000000000000000", scheduled, archived, completed, retry, active}
	got, err := e.Lookup(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%d answers for %d IDs", len(got), len(ids))
	}
	for i, g := range got {
		if g.ID != ids[i] {
			t.Errorf("answer %d is for %q, want %q", i, g.ID, ids[i])
		}
		if i == 1 {
			if g.Duplicate || g.Queue != "" || g.State != "" {
				t.Errorf("unknown ID: %+v, want nothing found", g)
			}
			continue
		}
		queues, err := insp.Queues()
		if err != nil {
			t.Fatal(err)
		}
		var want *asynq.TaskInfo
		for _, q := range queues {
			if info, err := insp.GetTaskInfo(q, ids[i]); err == nil {
				want = info
			}
		}
		if want == nil {
			t.Fatalf("asynq's inspector cannot find %s", ids[i])
		}
		if !g.Duplicate || g.Queue != want.Queue || g.State != want.State.String() {
			t.Errorf("Lookup(%s) = %+v; asynq says queue %s, state %s", ids[i], g, want.Queue, want.State)
		}
	}
	if got, err := e.Lookup(ctx); err != nil || len(got) != 0 {
		t.Errorf("Lookup() = %v, %v; want nothing", got, err)
	}
}

// A Redis that does not answer fails the enqueue with the task's ID.
func TestEnqueuerRedisDown(t *testing.T) {
	t.Parallel()
	const addr = "127.0.0.1:1" // a privileged port no test binds: nothing listens there
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	e := tasks.NewEnqueuer(rdb)
	task, opts := licence(t, 20)
	res, err := e.Enqueue(t.Context(), task, opts...)
	if err == nil || res.Duplicate || res.ID != idOf(opts) || res.Queue != tasks.QueueDefault || !strings.Contains(err.Error(), res.ID) {
		t.Fatalf("Enqueue with Redis down = %+v, %v; want an error naming the task", res, err)
	}
	if _, err := e.Lookup(t.Context(), res.ID); err == nil {
		t.Error("Lookup with Redis down: no error")
	}
}

// A Redis that takes the connection and never answers: the caller's deadline ends the call,
// not go-redis's read timeouts and retries (which take 20 s here).
func TestEnqueuerHonoursItsContext(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, unanswered, until the test ends
		}
	}()
	e, err := tasks.OpenEnqueuer("redis://" + l.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	task, opts := licence(t, 21)
	for name, call := range map[string]func(context.Context) error{
		"Enqueue": func(ctx context.Context) error { _, err := e.Enqueue(ctx, task, opts...); return err },
		"Lookup":  func(ctx context.Context) error { _, err := e.Lookup(ctx, idOf(opts)); return err },
		"EnqueueNew": func(ctx context.Context) error {
			_, err := e.EnqueueNew(ctx, task, opts...)
			// A write cut off may have landed: the error says so.
			if err != nil && !strings.Contains(err.Error(), "may or may not be enqueued") {
				t.Errorf("EnqueueNew cut off: %v, want it to say the task may be enqueued", err)
			}
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		// A bound for "did not wait out the read timeout" (3 s), not a speed measurement.
		if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2500*time.Millisecond {
			t.Errorf("%s against a silent Redis with a 200ms deadline: %v after %s", name, err, took)
		}
		// A cancel (a signal, a client gone), under a deadline far off: go-redis acts only
		// on the deadline.
		ctx, cancel = context.WithTimeout(t.Context(), time.Minute)
		time.AfterFunc(200*time.Millisecond, cancel)
		start = time.Now()
		err = call(ctx)
		if took := time.Since(start); !errors.Is(err, context.Canceled) || took > 2500*time.Millisecond {
			t.Errorf("%s against a silent Redis, cancelled after 200ms: %v after %s", name, err, took)
		}
	}
	// And a client of the caller's own, made without ContextTimeoutEnabled, likewise.
	rdb := redis.NewClient(&redis.Options{Addr: l.Addr().String(), ReadTimeout: time.Minute, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = tasks.NewEnqueuer(rdb).Enqueue(ctx, task, opts...)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2500*time.Millisecond {
		t.Errorf("NewEnqueuer's Enqueue against a silent Redis with a 200ms deadline: %v after %s", err, took)
	}
}

// A task archived in one queue and live in another is reported where it is live, whichever
// queue asynq lists first; one archived in both is reported as archived.
func TestLookupPrefersLiveCopies(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	ctx := t.Context()
	e := tasks.NewEnqueuer(r.Client)
	// Doubles made before the look-up existed, or by a plain asynq client.
	liveInDefault := put(t, r, 1, tasks.QueueBackfill, true)
	put(t, r, 1, tasks.QueueDefault, false)
	liveInBackfill := put(t, r, 2, tasks.QueueDefault, true)
	put(t, r, 2, tasks.QueueBackfill, false)
	deadInBoth := put(t, r, 3, tasks.QueueDefault, true)
	put(t, r, 3, tasks.QueueBackfill, true)
	// A third queue, to shuffle asynq's set.
	for _, q := range []string{"zz", "aa", "mm"} {
		if err := r.Client.SAdd(ctx, "asynq:queues", q).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.Lookup(ctx, liveInDefault, liveInBackfill, deadInBoth)
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.Queue != tasks.QueueDefault || g.State != "pending" {
		t.Errorf("archived in backfill, pending in default: %+v", g)
	}
	if g := got[1]; g.Queue != tasks.QueueBackfill || g.State != "pending" {
		t.Errorf("archived in default, pending in backfill: %+v", g)
	}
	if g := got[2]; !g.Duplicate || g.State != "archived" {
		t.Errorf("archived in both: %+v", g)
	}
}

// The workers' queues are looked in even when asynq's set of queues lost them (deleting a
// queue that holds only completed tasks from the UI does that, and leaves the tasks).
func TestLookupWithoutAsynqQueueSet(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)
	task, opts := licence(t, 30)
	first, err := e.Enqueue(t.Context(), task, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Client.Del(t.Context(), "asynq:queues").Err(); err != nil {
		t.Fatal(err)
	}
	back, backOpts := licence(t, 30, tasks.Queue(tasks.QueueBackfill))
	res, err := e.Enqueue(t.Context(), back, backOpts...)
	if err != nil || !res.Duplicate || res.Queue != tasks.QueueDefault || res.ID != first.ID {
		t.Errorf("the same task for backfill, with asynq:queues gone = %+v, %v; want the duplicate in default", res, err)
	}
}

// A Cluster client is refused with a clear error, not a script error from a server.
func TestLookupRefusesCluster(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	defer rdb.Close()
	if _, err := tasks.NewEnqueuer(rdb).Lookup(t.Context(), "licence:modify:1:x"); !errors.Is(err, tasks.ErrCluster) {
		t.Errorf("Lookup on a Cluster client: %v, want ErrCluster", err)
	}
}

// Lookup takes any number of IDs: past what one script call takes, the answers still line up.
func TestLookupManyIDs(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)
	const n = 2500
	ids := make([]string, n)
	want := map[int]string{} // position: queue
	for i := range n {
		queue := tasks.QueueDefault
		if i%2 == 1 {
			queue = tasks.QueueBackfill
		}
		task, opts := licence(t, tasks.Int(i+1), tasks.Queue(queue))
		ids[i] = idOf(opts)
		if i%333 == 0 || i == 999 || i == 1000 || i == n-1 {
			if _, err := e.EnqueueNew(t.Context(), task, opts...); err != nil {
				t.Fatal(err)
			}
			want[i] = queue
		}
	}
	got, err := e.Lookup(t.Context(), ids...)
	if err != nil || len(got) != n {
		t.Fatalf("Lookup: %d answers, %v", len(got), err)
	}
	for i, g := range got {
		queue, ok := want[i]
		if g.ID != ids[i] || g.Duplicate != ok || g.Queue != queue || (ok && g.State != "pending") {
			t.Errorf("ID %d (%s): %+v; want found=%v in %q", i, ids[i], g, ok, queue)
		}
	}
}

func idOf(opts []asynq.Option) string {
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			return o.Value().(string)
		}
	}
	return ""
}

// OpenEnqueuer takes the workers' REDIS_URL; a bad one is refused without echoing its password.
func TestOpenEnqueuer(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e, err := tasks.OpenEnqueuer(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	task, opts := licence(t, 40)
	if res, err := e.Enqueue(t.Context(), task, opts...); err != nil || res.Duplicate {
		t.Fatalf("Enqueue = %+v, %v", res, err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := e.Close(); err != nil { // a defer after an explicit Close
		t.Errorf("second Close: %v", err)
	}
	if _, err := e.Enqueue(t.Context(), task, opts...); err == nil {
		t.Error("Enqueue after Close: no error")
	}
	if n, err := r.Client.LLen(t.Context(), "asynq:{default}:pending").Result(); err != nil || n != 1 {
		t.Errorf("%d tasks pending, %v; want 1", n, err)
	}

	for _, bad := range []string{"http://:s3cret@host:6379", "redis://:s3cret@host:6379/x", "%zz:s3cret"} {
		if _, err := tasks.OpenEnqueuer(bad); err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenEnqueuer(%q) = %v; want an error without the password", bad, err)
		}
	}
	// Without a client, an error that says so, not a panic.
	var unset *redis.Client // a client field never set
	for name, e := range map[string]*tasks.Enqueuer{"NewEnqueuer(nil)": tasks.NewEnqueuer(nil), "a zero Enqueuer": {},
		"NewEnqueuer of a nil *redis.Client": tasks.NewEnqueuer(unset)} {
		if _, err := e.Enqueue(t.Context(), task, opts...); err == nil || !strings.Contains(err.Error(), "no Redis client") {
			t.Errorf("%s: Enqueue = %v, want an error that names the missing client", name, err)
		}
		if _, err := e.Lookup(t.Context(), "x"); err == nil || !strings.Contains(err.Error(), "no Redis client") {
			t.Errorf("%s: Lookup = %v, want an error that names the missing client", name, err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("%s: Close = %v", name, err)
		}
	}
	// NewEnqueuer's Close leaves the caller's client open.
	if err := tasks.NewEnqueuer(r.Client).Close(); err != nil || r.Client.Ping(t.Context()).Err() != nil {
		t.Errorf("NewEnqueuer(...).Close() closed the caller's client (%v)", err)
	}
}

// A task enqueued without the options its constructor returned has no ID to look up: writing it
// under a random one would let the same instruction in twice, with asynq's defaults (no
// retention, another retry budget). Both entry points refuse it and write nothing.
func TestEnqueuerRefusesATaskWithoutItsOptions(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)
	task, _ := licence(t, 12)
	enqueue := map[string]func(context.Context, *asynq.Task, ...asynq.Option) (tasks.Enqueued, error){
		"Enqueue": e.Enqueue, "EnqueueNew": e.EnqueueNew}
	for name, f := range enqueue {
		for range 2 {
			res, err := f(t.Context(), task, asynq.Queue(tasks.QueueBackfill))
			if !errors.Is(err, tasks.ErrNoTaskID) || res.ID != "" {
				t.Errorf("%s without the task's options = %+v, %v; want ErrNoTaskID", name, res, err)
			}
		}
		if _, err := f(t.Context(), nil); err == nil || err.Error() != "enqueue: the task is nil" {
			t.Errorf("%s(nil) = %v, want an error saying the task is nil", name, err)
		}
	}
	// A queue no worker serves, added by the caller, is refused: the task would wait forever.
	task, opts := licence(t, 14)
	for name, f := range enqueue {
		if _, err := f(t.Context(), task, append(opts, asynq.Queue("billing"))...); err == nil || !strings.Contains(err.Error(), `queue "billing": the workers serve only "default" and "backfill"`) {
			t.Errorf("%s into queue billing = %v, want a refusal that names the queues served", name, err)
		}
	}
	// Nor a group: no worker runs an aggregator.
	for name, f := range enqueue {
		if _, err := f(t.Context(), task, append(opts, asynq.Group("g"))...); err == nil || !strings.Contains(err.Error(), "asynq.Group") {
			t.Errorf("%s with asynq.Group = %v, want a refusal", name, err)
		}
	}
	// A nil option is ignored, as asynq ignores one.
	task, opts = licence(t, 13)
	if res, err := e.Enqueue(t.Context(), task, append([]asynq.Option{nil}, opts...)...); err != nil || res.Duplicate {
		t.Errorf("Enqueue with a nil option = %+v, %v", res, err)
	}
	if res, err := e.EnqueueNew(t.Context(), task, append(opts, nil)...); err != nil || !res.Duplicate {
		t.Errorf("EnqueueNew with a nil option, again = %+v, %v; want a duplicate", res, err)
	}
	if keys, err := r.Client.Keys(t.Context(), "asynq:{*}:t:*").Result(); err != nil || len(keys) != 1 {
		t.Errorf("tasks written: %v, %v; want only the one with its options", keys, err)
	}
}
