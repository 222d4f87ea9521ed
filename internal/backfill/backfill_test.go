package backfill_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
)

// fakeEnqueuer records what it is given; fail decides which orders fail, existing which are
// already in some queue (Lookup finds them), dup which are in the row's own queue (only the
// enqueue finds them, as asynq does).
type fakeEnqueuer struct {
	mu         sync.Mutex
	orders     []int // the orderNumber of every task given to Enqueue or EnqueueNew, and not failed
	calls      int
	lookups    int // calls of Lookup
	looked     int // IDs looked up, by Lookup or by Enqueue
	fallbacks  int // calls of Enqueue (a look-up of its own)
	fail       func(order int) error
	after      func(calls int) // called after each enqueue, outside the lock
	dup        func(order int) bool
	existing   func(order int) bool
	lookupFail bool          // Lookup fails: Redis went away for a moment
	lookupWait time.Duration // every Lookup after the first takes this long, or until its ctx ends
	onLookup   func()        // called as each Lookup begins, outside the lock
	canceled   int           // Lookups that ended with their ctx
}

func orderOf(id string) int {
	order, _ := strconv.Atoi(strings.Split(id, ":")[2])
	return order
}

func (f *fakeEnqueuer) Lookup(ctx context.Context, ids ...string) ([]tasks.Enqueued, error) {
	if f.onLookup != nil {
		f.onLookup()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.lookupWait > 0 && f.lookups > 1 {
		f.mu.Unlock()
		var err error
		select {
		case <-time.After(f.lookupWait):
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		if err != nil {
			f.canceled++
			return nil, err
		}
	}
	if f.lookupFail {
		return nil, errors.New("look up task IDs: connection reset")
	}
	f.looked += len(ids)
	out := make([]tasks.Enqueued, len(ids))
	for i, id := range ids {
		out[i].ID = id
		if f.existing != nil && f.existing(orderOf(id)) {
			out[i].Queue, out[i].State, out[i].Duplicate = "default", "completed", true
		}
	}
	return out, nil
}

func (f *fakeEnqueuer) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (tasks.Enqueued, error) {
	id := idOf(opts)
	f.mu.Lock()
	f.looked++
	f.fallbacks++
	existing := f.existing != nil && f.existing(orderOf(id))
	f.mu.Unlock()
	if existing {
		return tasks.Enqueued{ID: id, Queue: "default", State: "completed", Duplicate: true}, nil
	}
	return f.EnqueueNew(ctx, task, opts...)
}

func idOf(opts []asynq.Option) string {
	for _, o := range opts {
		if o.Type() == asynq.TaskIDOpt {
			return o.Value().(string)
		}
	}
	return ""
}

func (f *fakeEnqueuer) EnqueueNew(_ context.Context, task *asynq.Task, opts ...asynq.Option) (tasks.Enqueued, error) {
	id := idOf(opts)
	order := orderOf(id)
	f.mu.Lock()
	f.calls++
	calls := f.calls
	var err error
	if f.fail != nil {
		err = f.fail(order)
	}
	if err == nil {
		f.orders = append(f.orders, order)
	}
	f.mu.Unlock()
	if f.after != nil {
		f.after(calls)
	}
	if err != nil {
		return tasks.Enqueued{ID: id, Queue: "backfill"}, fmt.Errorf("enqueue %s: %w", id, err)
	}
	dup := f.dup != nil && f.dup(order)
	return tasks.Enqueued{ID: id, Queue: "backfill", State: "pending", Duplicate: dup}, nil
}

func (f *fakeEnqueuer) enqueued() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.orders)
	slices.Sort(out)
	return out
}

// licenceRows writes n JSONL rows whose orderNumber is their line number; bad lines get an
// orderNumber that is not a number.
func licenceRows(t *testing.T, n int, bad ...int) string {
	t.Helper()
	var b strings.Builder
	for line := 1; line <= n; line++ {
		order := strconv.Itoa(line)
		if slices.Contains(bad, line) {
			order = `"x` + order + `"`
		}
		fmt.Fprintf(&b, `{"type":"licence:modify","orderNumber":%s,"product":700,"action":"CANCELLICENCE"}`+"\n", order)
	}
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type runResult struct {
	summary backfill.Summary
	err     error
	stderr  string
}

func run(t *testing.T, ctx context.Context, path string, opt backfill.Options) runResult {
	t.Helper()
	in, err := backfill.OpenInput(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var stderr strings.Builder
	if opt.Format == "" {
		opt.Format = backfill.JSONL
	}
	opt.Stderr = &stderr
	opt.TaskOptions = append(opt.TaskOptions, tasks.Queue(tasks.QueueBackfill))
	s, err := backfill.Run(ctx, in, opt)
	return runResult{s, err, stderr.String()}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestRunEnqueuesEveryRow(t *testing.T) {
	t.Parallel()
	const n = 2000 // several validation batches
	f := &fakeEnqueuer{dup: func(order int) bool { return order%10 == 0 }}
	got := run(t, t.Context(), licenceRows(t, n), backfill.Options{Enqueuer: f, Concurrency: 7})
	if got.err != nil || got.stderr != "" {
		t.Fatalf("err %v, stderr %q", got.err, got.stderr)
	}
	want := backfill.Summary{Rows: n, Valid: n, Enqueued: n - n/10, Duplicate: n / 10}
	if got.summary != want {
		t.Errorf("summary %+v, want %+v", got.summary, want)
	}
	if !slices.Equal(f.enqueued(), seq(1, n)) {
		t.Errorf("enqueued %d rows, not every row once", len(f.enqueued()))
	}
	if f.looked != n || f.lookups < 1 || f.lookups > n/14+1 || f.fallbacks != 0 {
		t.Errorf("%d IDs looked up in %d look-ups, %d one at a time; want all %d, at least 14 a look-up", f.looked, f.lookups, f.fallbacks, n)
	}
}

// A row whose task is in any queue (Lookup finds it) is a duplicate and is not enqueued again.
func TestRunSkipsTasksInAnyQueue(t *testing.T) {
	t.Parallel()
	const n = 1000
	existing := func(order int) bool { return order%3 == 0 }
	var want []int
	for _, o := range seq(1, n) {
		if !existing(o) {
			want = append(want, o)
		}
	}
	for _, lookupFail := range []bool{false, true} {
		f := &fakeEnqueuer{existing: existing, lookupFail: lookupFail}
		got := run(t, t.Context(), licenceRows(t, n), backfill.Options{Enqueuer: f, Concurrency: 5})
		if got.err != nil || got.stderr != "" {
			t.Fatalf("lookupFail=%v: err %v, stderr %q", lookupFail, got.err, got.stderr)
		}
		if want := (backfill.Summary{Rows: n, Valid: n, Enqueued: n - n/3, Duplicate: n / 3}); got.summary != want {
			t.Errorf("lookupFail=%v: summary %+v, want %+v", lookupFail, got.summary, want)
		}
		// When the look-up of a chunk fails, each of its rows is looked up by Enqueue.
		if !slices.Equal(f.enqueued(), want) || f.looked != n {
			t.Errorf("lookupFail=%v: enqueued %d rows, looked %d up; want the %d not in any queue, all looked up once", lookupFail, len(f.enqueued()), f.looked, len(want))
		}
		if wantFallbacks := map[bool]int{false: 0, true: n}[lookupFail]; f.fallbacks != wantFallbacks || f.lookups < 1 {
			t.Errorf("lookupFail=%v: %d rows looked up one at a time after %d look-ups, want %d", lookupFail, f.fallbacks, f.lookups, wantFallbacks)
		}
	}
}

func TestRunBadRows(t *testing.T) {
	t.Parallel()
	bad := []int{3, 700, 1999}
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip-invalid=%v", skip), func(t *testing.T) {
			t.Parallel()
			f := &fakeEnqueuer{}
			path := licenceRows(t, 2000, bad...)
			got := run(t, t.Context(), path, backfill.Options{Enqueuer: f, SkipInvalid: skip})
			if !errors.Is(got.err, backfill.ErrInvalidRows) {
				t.Fatalf("err %v, want ErrInvalidRows", got.err)
			}
			var want []string
			for _, line := range bad {
				want = append(want, fmt.Sprintf(`%s:%d: orderNumber: must be an integer or a string of digits, got "x%d"`, path, line, line))
			}
			if got.stderr != strings.Join(want, "\n")+"\n" {
				t.Errorf("stderr:\n%s\nwant, in line order:\n%s", got.stderr, strings.Join(want, "\n"))
			}
			wantEnqueued := 0
			if skip {
				wantEnqueued = 2000 - len(bad)
			}
			if got.summary.Invalid != len(bad) || got.summary.Enqueued != wantEnqueued || len(f.enqueued()) != wantEnqueued {
				t.Errorf("summary %+v, enqueuer got %d", got.summary, len(f.enqueued()))
			}
			if !skip && !strings.Contains(got.err.Error(), "3 invalid rows in "+path+": nothing was enqueued; fix them, or pass --skip-invalid to enqueue the 1997 valid rows") {
				t.Errorf("err %q", got.err)
			}
		})
	}
}

func TestRunDryRun(t *testing.T) {
	t.Parallel()
	got := run(t, t.Context(), licenceRows(t, 10, 4), backfill.Options{DryRun: true})
	want := backfill.Summary{Rows: 10, Valid: 9, Invalid: 1, DryRun: true}
	if got.summary != want || !errors.Is(got.err, backfill.ErrInvalidRows) || got.summary.String() != "enqueued=0 duplicate=0 invalid=1 failed=0" {
		t.Errorf("summary %+v (%s), err %v", got.summary, got.summary, got.err)
	}
	got = run(t, t.Context(), licenceRows(t, 10), backfill.Options{DryRun: true})
	if got.err != nil || got.summary.Valid != 10 {
		t.Errorf("summary %+v, err %v", got.summary, got.err)
	}
}

func TestRunReportsFailedRows(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{fail: func(order int) error {
		if order == 5 || order == 50 {
			return errors.New("connection reset")
		}
		return nil
	}}
	path := licenceRows(t, 100)
	got := run(t, t.Context(), path, backfill.Options{Enqueuer: f})
	if !errors.Is(got.err, backfill.ErrFailedRows) || got.summary.Failed != 2 || got.summary.Enqueued != 98 {
		t.Fatalf("summary %+v, err %v", got.summary, got.err)
	}
	for _, line := range []int{5, 50} {
		want := fmt.Sprintf("%s:%d: enqueue: licence:modify:%d:", path, line, line)
		if !strings.Contains(got.stderr, want) || !strings.Contains(got.stderr, "connection reset\n") {
			t.Errorf("stderr %q lacks %q", got.stderr, want)
		}
	}
}

func TestRunStopsWhenRedisIsGone(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{fail: func(int) error { return errors.New("dial tcp: connection refused") }}
	got := run(t, t.Context(), licenceRows(t, 1000), backfill.Options{Enqueuer: f, Concurrency: 4})
	if !errors.Is(got.err, backfill.ErrStopped) || got.summary.Line == 0 || got.summary.Line >= 1000 {
		t.Fatalf("summary %+v, err %v", got.summary, got.err)
	}
	if got.summary.Failed < 10 || got.summary.Failed > 10+4 || got.summary.Failed != got.summary.Line {
		t.Errorf("failed %d rows up to line %d before stopping", got.summary.Failed, got.summary.Line)
	}
	if want := fmt.Sprintf("stopped after line %d of", got.summary.Line); !strings.Contains(got.err.Error(), want) {
		t.Errorf("err %q lacks %q", got.err, want)
	}
}

// When the run stops, the look-up ahead of the workers is abandoned, not waited for.
func TestRunStopAbandonsLookAhead(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{
		fail:       func(int) error { return errors.New("dial tcp: connection refused") },
		lookupWait: 30 * time.Second, // the test takes this long if the look-up is waited for
	}
	got := run(t, t.Context(), licenceRows(t, 1000), backfill.Options{Enqueuer: f, Concurrency: 4})
	if !errors.Is(got.err, backfill.ErrStopped) {
		t.Fatalf("summary %+v, err %v", got.summary, got.err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The reader may or may not have started the second look-up when the run stopped.
	if completed := f.lookups - f.canceled; completed != 1 {
		t.Errorf("%d look-ups, %d of them cancelled; want only the first completed", f.lookups, f.canceled)
	}
}

// Ctrl-C: the run stops taking rows, finishes those in flight, and every row up to the line
// it reports is handled, none after.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fakeEnqueuer{after: func(calls int) {
		if calls == 100 {
			cancel()
		}
	}}
	path := licenceRows(t, 5000)
	got := run(t, ctx, path, backfill.Options{Enqueuer: f, Concurrency: 8})
	if !errors.Is(got.err, backfill.ErrInterrupted) {
		t.Fatalf("err %v, want ErrInterrupted", got.err)
	}
	line := got.summary.Line
	if line < 100 || line > 100+8 || !slices.Equal(f.enqueued(), seq(1, line)) || got.summary.Enqueued != line {
		t.Errorf("stopped after line %d with %d enqueued (%v…): want exactly lines 1 to %d", line, got.summary.Enqueued, f.enqueued()[:5], line)
	}
	want := fmt.Sprintf("interrupted after line %d of %s; re-run the same command to continue", line, path)
	if !strings.Contains(got.err.Error(), want) {
		t.Errorf("err %q lacks %q", got.err, want)
	}
	if b, _ := json.Marshal(got.summary); strings.Contains(string(b), "stoppedWhileValidating") {
		t.Errorf("summary %s: stopped while enqueueing, not validating", b)
	}
}

// Ctrl-C after validation, before the first row is taken (the first look-up was slow): the
// summary still says the run stopped, at line 0, and the message says no row was enqueued.
func TestRunInterruptedBeforeTheFirstRow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &fakeEnqueuer{onLookup: cancel}
	got := run(t, ctx, licenceRows(t, 50), backfill.Options{Enqueuer: f, Concurrency: 4})
	if !errors.Is(got.err, backfill.ErrInterrupted) || len(f.enqueued()) != 0 || got.summary.Line != 0 {
		t.Fatalf("err %v, %d enqueued, line %d; want interrupted before the first row", got.err, len(f.enqueued()), got.summary.Line)
	}
	if !strings.Contains(got.err.Error(), "interrupted before the first row of") {
		t.Errorf("err %q: want it to say no row was enqueued", got.err)
	}
	b, err := json.Marshal(got.summary)
	if err != nil || !strings.Contains(string(b), `"stoppedAfterLine":0`) || strings.Contains(string(b), "stoppedWhileValidating") {
		t.Errorf("summary %s, %v: want stoppedAfterLine 0, not while validating", b, err)
	}
}

func TestRunInterruptedWhileValidating(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := &fakeEnqueuer{}
	got := run(t, ctx, licenceRows(t, 3000), backfill.Options{Enqueuer: f})
	if !errors.Is(got.err, backfill.ErrInterrupted) || !strings.Contains(got.err.Error(), "nothing was enqueued") || len(f.enqueued()) != 0 {
		t.Errorf("err %v, enqueued %d", got.err, len(f.enqueued()))
	}
	// The JSON summary says so too: its stoppedAfterLine alone reads like an enqueue's.
	if b, err := json.Marshal(got.summary); err != nil || !strings.Contains(string(b), `"stoppedWhileValidating":true`) {
		t.Errorf("summary %s, %v: want stoppedWhileValidating", b, err)
	}
}

// Ctrl-C while rows trickle in from a pipe whose writer stays open: the run stops at once
// (the read it waits in ends only when the writer closes) and says how far it read.
func TestRunInterruptedWhileReadingAPipe(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(pw, `{"type":"licence:modify","orderNumber":%d,"product":700,"action":"CANCELLICENCE"}`+"\n", i)
		}
		// The start of a fourth: once the reader has taken it, it has handed on the third.
		fmt.Fprint(pw, `{"type":"licence:modify",`)
		cancel() // the writer stays open
	}()
	in, err := backfill.OpenInput("-", pr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeEnqueuer{}
	done := make(chan error, 1)
	go func() {
		_, err := backfill.Run(ctx, in, backfill.Options{Enqueuer: f, Format: backfill.JSONL})
		done <- err
	}()
	select {
	case err := <-done:
		if want := "interrupted while validating, after line 3 of stdin: nothing was enqueued"; !errors.Is(err, backfill.ErrInterrupted) || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want ErrInterrupted: %q", err, want)
		}
	case <-time.After(time.Minute): // a bound for a hang, not a timing assertion
		t.Fatal("Run still waits on the pipe a minute after Ctrl-C")
	}
	if len(f.enqueued()) != 0 {
		t.Errorf("enqueued %v", f.enqueued())
	}
}

func TestRunRate(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{}
	start := time.Now()
	got := run(t, t.Context(), licenceRows(t, 5), backfill.Options{Enqueuer: f, Rate: 20})
	// 20 rows a second, one at a time: the last of 5 rows starts 200 ms after the first.
	if elapsed := time.Since(start); got.err != nil || elapsed < 150*time.Millisecond {
		t.Errorf("5 rows at --rate 20 took %s (err %v); the limit was not applied", elapsed, got.err)
	}
}

func TestRunInputError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte("orderNumber,product\n1,700\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeEnqueuer{}
	got := run(t, t.Context(), path, backfill.Options{Enqueuer: f, Format: backfill.CSV, SkipInvalid: true})
	var ie *backfill.InputError
	if !errors.As(got.err, &ie) || ie.Line != 1 || len(f.enqueued()) != 0 {
		t.Errorf("err %v, enqueued %d", got.err, len(f.enqueued()))
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	got := run(t, t.Context(), licenceRows(t, 1), backfill.Options{Enqueuer: &fakeEnqueuer{}, TaskOptions: []tasks.Option{tasks.MaxRetry(-1)}})
	if got.err == nil || !strings.Contains(got.err.Error(), "maxRetry: must be 0 to 1000") {
		t.Errorf("err %v", got.err)
	}
}

// What a backfill leaves in Redis is what tasks.Build and asynq make of the same row, options
// and all: the spool between the passes loses nothing.
func TestRunTasksInRedis(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	inspector := asynq.NewInspectorFromRedisClient(r.Client)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	opts := []tasks.Option{tasks.MaxRetry(4), tasks.ProcessAt(at)}
	path := licenceRows(t, 3)
	got := run(t, t.Context(), path, backfill.Options{Enqueuer: tasks.NewEnqueuer(r.Client), TaskOptions: opts, Account: "eu"})
	if got.err != nil || got.summary.Enqueued != 3 {
		t.Fatalf("summary %+v, err %v", got.summary, got.err)
	}
	for order := 1; order <= 3; order++ {
		task, taskOpts, err := tasks.Build(tasks.TypeLicenceModify,
			fmt.Appendf(nil, `{"orderNumber":%d,"product":700,"action":"CANCELLICENCE","account":"eu"}`, order),
			append(opts, tasks.Queue(tasks.QueueBackfill))...)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		for _, o := range taskOpts {
			if o.Type() == asynq.TaskIDOpt {
				id = o.Value().(string)
			}
		}
		info, err := inspector.GetTaskInfo(tasks.QueueBackfill, id)
		if err != nil {
			t.Fatalf("row %d: task %s: %v", order, id, err)
		}
		if info.State != asynq.TaskStateScheduled || !info.NextProcessAt.Equal(at) || info.MaxRetry != 4+tasks.RetryReserve ||
			info.Timeout != 5*time.Minute || info.Retention != 24*time.Hour || string(info.Payload) != string(task.Payload()) {
			t.Errorf("row %d: task %+v", order, info)
		}
	}
}

// With a rate limit, idle workers must not queue up for turns after the last row: at 2 rows a
// second, 64 of them would hold the run for half a minute.
func TestRunRateEndsWithTheRows(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{}
	start := time.Now()
	got := run(t, t.Context(), licenceRows(t, 3), backfill.Options{Enqueuer: f, Rate: 2, Concurrency: 64})
	if elapsed := time.Since(start); got.err != nil || got.summary.Enqueued != 3 || elapsed > 10*time.Second {
		t.Errorf("3 rows at --rate 2 took %s (summary %+v, err %v)", elapsed, got.summary, got.err)
	}
}

// Rows already in Redis cost no enqueue and wait for no turn: continuing a backfill that was
// stopped half-way runs through the rows it already did at once, not at --rate. At one row a
// second, the 40 duplicates here would take 40 s; the 2 new rows take about one.
func TestRunRateSkipsDuplicates(t *testing.T) {
	t.Parallel()
	f := &fakeEnqueuer{existing: func(order int) bool { return order <= 40 }}
	start := time.Now()
	got := run(t, t.Context(), licenceRows(t, 42), backfill.Options{Enqueuer: f, Rate: 1, Concurrency: 4})
	if elapsed := time.Since(start); got.err != nil || got.summary.Duplicate != 40 || got.summary.Enqueued != 2 || elapsed > 20*time.Second {
		t.Errorf("40 duplicates and 2 new rows at --rate 1 took %s (summary %+v, err %v)", elapsed, got.summary, got.err)
	}
}

// A row already enqueued as live traffic, in queue default, is a duplicate for a backfill bound
// for queue backfill: asynq alone would take it again there, and the provider would be called
// twice.
func TestRunDuplicatesAcrossQueues(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	e := tasks.NewEnqueuer(r.Client)
	const n = 300
	path := licenceRows(t, n)
	live := map[string]bool{}
	for order := 1; order <= n; order += 7 {
		task, opts, err := tasks.Build(tasks.TypeLicenceModify, fmt.Appendf(nil, `{"orderNumber":%d,"product":700,"action":"CANCELLICENCE"}`, order))
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.Enqueue(t.Context(), task, opts...)
		if err != nil || res.Duplicate || res.Queue != tasks.QueueDefault {
			t.Fatalf("live task %d: %+v, %v", order, res, err)
		}
		live[res.ID] = true
	}
	got := run(t, t.Context(), path, backfill.Options{Enqueuer: e, TaskOptions: []tasks.Option{tasks.Queue(tasks.QueueBackfill)}, Concurrency: 8})
	if want := (backfill.Summary{Rows: n, Valid: n, Enqueued: n - len(live), Duplicate: len(live)}); got.err != nil || got.summary != want {
		t.Fatalf("summary %+v, err %v; want %+v", got.summary, got.err, want)
	}
	inspector := asynq.NewInspectorFromRedisClient(r.Client)
	pending, err := inspector.ListPendingTasks(tasks.QueueBackfill, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != n-len(live) {
		t.Errorf("queue backfill holds %d tasks, want %d", len(pending), n-len(live))
	}
	for _, info := range pending {
		if live[info.ID] {
			t.Errorf("task %s is in both queues", info.ID)
		}
	}
	// And again: everything is a duplicate now.
	again := run(t, t.Context(), path, backfill.Options{Enqueuer: e, TaskOptions: []tasks.Option{tasks.Queue(tasks.QueueBackfill)}})
	if want := (backfill.Summary{Rows: n, Valid: n, Duplicate: n}); again.err != nil || again.summary != want {
		t.Errorf("second run: summary %+v, err %v; want %+v", again.summary, again.err, want)
	}
}

// Connect is called once every row is valid, and not at all when a bad row stops the run: a
// Redis that cannot be reached hides no bad row.
func TestRunConnectsOnlyToEnqueue(t *testing.T) {
	t.Parallel()
	var calls int
	f := &fakeEnqueuer{}
	connect := func(context.Context) (backfill.Enqueuer, error) { calls++; return f, nil }

	got := run(t, t.Context(), licenceRows(t, 10, 4), backfill.Options{Connect: connect})
	if !errors.Is(got.err, backfill.ErrInvalidRows) || calls != 0 || !strings.Contains(got.stderr, ":4: orderNumber:") {
		t.Fatalf("a bad row: err %v, %d connects, stderr %q; want the row reported and no connect", got.err, calls, got.stderr)
	}
	got = run(t, t.Context(), licenceRows(t, 10), backfill.Options{Connect: connect})
	if got.err != nil || calls != 1 || got.summary.Enqueued != 10 || !slices.Equal(f.enqueued(), seq(1, 10)) {
		t.Fatalf("valid rows: err %v, %d connects, summary %+v", got.err, calls, got.summary)
	}
}

// Redis cannot be reached: every valid row counts as failed, and the invalid rows skipped are
// still reported.
func TestRunCannotConnect(t *testing.T) {
	t.Parallel()
	down := errors.New("cannot reach Redis: connection refused")
	connect := func(context.Context) (backfill.Enqueuer, error) { return nil, down }
	got := run(t, t.Context(), licenceRows(t, 10, 4), backfill.Options{Connect: connect, SkipInvalid: true})
	if !errors.Is(got.err, down) || !errors.Is(got.err, backfill.ErrInvalidRows) || !strings.Contains(got.err.Error(), "nothing was enqueued") {
		t.Errorf("err %v: want the connect error, nothing enqueued, and the invalid row skipped", got.err)
	}
	if s := got.summary; s.Failed != 9 || s.Invalid != 1 || s.Enqueued != 0 || s.Stopped {
		t.Errorf("summary %+v: want the 9 valid rows failed, 1 invalid", s)
	}
}

// Ctrl-C while Redis is being reached (a Redis that accepts connections and does not answer):
// a stop before the first row, not rows that failed.
func TestRunInterruptedWhileConnecting(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	connect := func(ctx context.Context) (backfill.Enqueuer, error) {
		cancel()
		<-ctx.Done()
		return nil, fmt.Errorf("cannot reach Redis: %w", ctx.Err())
	}
	got := run(t, ctx, licenceRows(t, 10), backfill.Options{Connect: connect})
	if !errors.Is(got.err, backfill.ErrInterrupted) || !strings.Contains(got.err.Error(), "before the first row of") {
		t.Errorf("err %v: want interrupted before the first row", got.err)
	}
	b, _ := json.Marshal(got.summary)
	if got.summary.Failed != 0 || !strings.Contains(string(b), `"stoppedAfterLine":0`) {
		t.Errorf("summary %s: want stoppedAfterLine 0 and no failed rows", b)
	}
}
