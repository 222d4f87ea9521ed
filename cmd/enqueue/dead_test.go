package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
)

// deadLetters is a dead-letter record as a worker would leave it:
//
//	archived: a licence change asynq's archive still holds (errorCode -4)
//	gone:     a callback asynq has forgotten (errorCode -14)
//	invalid:  a payload that no longer validates (errorCode 0)
//	keyed:    a licence change enqueued with --key, forgotten by asynq (errorCode -4)
//	replayed: one replayed before (errorCode -14)
type deadLetters struct {
	r                                        *redistest.Redis
	store                                    *deadletter.Store
	archived, gone, invalid, keyed, replayed deadletter.Record
}

var failedAt = time.Date(2024, 2, 2, 13, 3, 0, 0, time.UTC)

func newDeadLetters(t *testing.T) *deadLetters {
	t.Helper()
	r := redistest.New(t)
	d := &deadLetters{r: r, store: deadletter.New(r.Client)}
	build := func(typ, payload string, opts ...tasks.Option) (string, *asynq.Task, []asynq.Option) {
		task, aopts, err := tasks.Build(typ, []byte(payload), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return taskID(t, typ, payload, opts...), task, aopts
	}

	id, task, opts := build(tasks.TypeLicenceModify, `{"orderNumber":9,"product":1061,"action":"CANCELLICENCE"}`, tasks.MaxRetry(3))
	client := asynq.NewClient(r.Opt)
	defer client.Close()
	if _, err := client.Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	if err := inspect(t, r).ArchiveTask(tasks.QueueDefault, id); err != nil {
		t.Fatal(err)
	}
	d.archived = deadletter.Record{TaskID: id, Type: task.Type(), Queue: tasks.QueueDefault, Payload: task.Payload(),
		Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4), ErrorMessage: "Invalid product", ErrorItem: "product", Attempts: 1, FailedAt: failedAt}

	id, task, _ = build(tasks.TypeOVCallbackUpdate, `{"orderNumber":"77","action":"ReplacePhone","phoneNumber":"+1 555"}`)
	d.gone = deadletter.Record{TaskID: id, Type: task.Type(), Queue: tasks.QueueDefault, Payload: task.Payload(),
		Reason: deadletter.ReasonRetriesSpent, ErrorCode: deadletter.Code(-14), ErrorMessage: "busy", HTTPStatus: 503, Attempts: 11, FailedAt: failedAt.Add(time.Minute)}

	d.invalid = deadletter.Record{TaskID: "ovcallback:update:5:0000000000000000", Type: tasks.TypeOVCallbackUpdate, Queue: tasks.QueueDefault,
		Payload: json.RawMessage(`{"orderNumber":"5","action":"Callback"}`), Reason: deadletter.ReasonInvalidPayload,
		ErrorMessage: "action: must be one of ...", FailedAt: failedAt.Add(2 * time.Minute)}

	id, task, _ = build(tasks.TypeLicenceModify, `{"orderNumber":10,"product":700,"action":"CANCELLICENCE"}`, tasks.Key("inv-2024-0001"))
	d.keyed = deadletter.Record{TaskID: id, Type: task.Type(), Queue: tasks.QueueBackfill, Payload: task.Payload(),
		Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4), ErrorMessage: "Invalid product", Attempts: 1, FailedAt: failedAt.Add(3 * time.Minute)}

	_, task, _ = build(tasks.TypeOVCallbackUpdate, `{"orderNumber":"78","action":"sendCallbackEmail"}`)
	d.replayed = deadletter.Record{TaskID: "ovcallback:update:78:x", Type: task.Type(), Queue: tasks.QueueDefault, Payload: task.Payload(),
		Reason: deadletter.ReasonRetriesSpent, ErrorCode: deadletter.Code(-14), ErrorMessage: "busy", Attempts: 11, FailedAt: failedAt.Add(4 * time.Minute)}

	for _, rec := range []*deadletter.Record{&d.archived, &d.gone, &d.invalid, &d.keyed, &d.replayed} {
		entry, err := d.store.Append(t.Context(), *rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.EntryID = entry
	}
	if err := d.store.MarkReplayed(t.Context(), d.replayed.EntryID, failedAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return d
}

// export writes the two dead letters of code to a file, and returns its path and content.
func (d *deadLetters) export(t *testing.T, code string) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	enqueue(t, t.Context(), d.r, "", "dead", "export", path, "--code", code).expect(t, cli.ExitOK, "exported=2 file="+path+"\n", "")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestDeadList(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	lines := []string{
		"2024-02-02T13:03:00Z " + d.archived.TaskID + ` type=licence:modify queue=default reason=permanent errorCode=-4 attempts=1 replayed=no errorMessage="Invalid product"`,
		"2024-02-02T13:04:00Z " + d.gone.TaskID + ` type=ovcallback:update queue=default reason=retries-exhausted errorCode=-14 attempts=11 replayed=no errorMessage="busy"`,
		"2024-02-02T13:05:00Z " + d.invalid.TaskID + ` type=ovcallback:update queue=default reason=invalid-payload errorCode=none attempts=0 replayed=no errorMessage="action: must be one of ..."`,
		"2024-02-02T13:06:00Z licence:modify:inv-2024-0001 type=licence:modify queue=backfill reason=permanent errorCode=-4 attempts=1 replayed=no errorMessage=\"Invalid product\"",
		"2024-02-02T13:07:00Z ovcallback:update:78:x type=ovcallback:update queue=default reason=retries-exhausted errorCode=-14 attempts=11 replayed=2024-02-02T14:03:00Z errorMessage=\"busy\"",
	}
	tests := []struct {
		name   string
		args   []string
		want   []int // indexes into lines
		stderr string
	}{
		{"all", nil, []int{0, 1, 2, 3, 4}, ""},
		{"by code", []string{"--code", "-4"}, []int{0, 3}, ""},
		{"by code zero", []string{"--code=0"}, []int{2}, ""},
		{"by type", []string{"--type", "ovcallback:update"}, []int{1, 2, 4}, ""},
		{"by both", []string{"--type", "ovcallback:update", "--code", "-14"}, []int{1, 4}, ""},
		{"none", []string{"--code", "-42"}, nil, "no dead letters match\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var want strings.Builder
			for _, i := range tt.want {
				want.WriteString(lines[i] + "\n")
			}
			enqueue(t, t.Context(), d.r, "", append([]string{"dead", "list"}, tt.args...)...).expect(t, cli.ExitOK, want.String(), tt.stderr)
		})
	}

	o := enqueue(t, t.Context(), d.r, "", "dead", "list", "--json", "--code", "-14")
	var got []listed
	for _, line := range strings.Split(strings.TrimSpace(o.stdout), "\n") {
		var l listed
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, l)
	}
	if len(got) != 2 || got[0].EntryID != d.gone.EntryID || got[0].TaskID != d.gone.TaskID || string(got[0].Payload) != string(d.gone.Payload) ||
		got[0].HTTPStatus != 503 || got[1].ReplayedAt == nil {
		t.Errorf("--json: %+v", got)
	}
}

func TestDeadExport(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	path, got := d.export(t, "-4")
	var want strings.Builder
	for _, rec := range []deadletter.Record{d.archived, d.keyed} {
		line, _, err := backfillExportRow(rec)
		if err != nil {
			t.Fatal(err)
		}
		want.WriteString(line + "\n")
	}
	if string(got) != want.String() {
		t.Errorf("export:\n%s\nwant:\n%s", got, want.String())
	}
	// One line written out, so that the format itself is pinned here too.
	if first, _, _ := strings.Cut(string(got), "\n"); first != `{"type":"licence:modify","account":"default","orderNumber":9,"product":1061,"action":"CANCELLICENCE","errorCode":-4,"errorMessage":"Invalid product","errorItem":"product","reason":"permanent","attempts":1,"failedAt":"2024-02-02T13:03:00Z","taskId":"licence:modify:9:a2e5f55852b4ff61","entryId":"`+d.archived.EntryID+`"}` {
		t.Errorf("first line:\n%s", first)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, %v: rows hold personal data", fi.Mode(), err)
	}

	// Someone's fixed rows are never overwritten.
	enqueue(t, t.Context(), d.r, "", "dead", "export", path).expect(t, cli.ExitUsage, "",
		"enqueue dead export: "+path+" already exists: choose another name, or remove it first\nRun 'enqueue dead export --help' for usage.\n")
	if again, _ := os.ReadFile(path); string(again) != string(got) {
		t.Error("the export was overwritten")
	}
	// JSON Lines in a .csv file would be read back as CSV by a backfill.
	csvPath := filepath.Join(t.TempDir(), "fix.CSV")
	enqueue(t, t.Context(), d.r, "", "dead", "export", csvPath).expect(t, cli.ExitUsage, "",
		"~the export is JSON Lines; name it .jsonl")
	if _, err := os.Stat(csvPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: %v, want no file", csvPath, err)
	}

	// An export that fails once its file exists (here the read of the record: Ctrl-C) leaves
	// no file behind, so the same command can simply be run again.
	stopped, stop := context.WithCancel(t.Context())
	stop()
	failed := filepath.Join(t.TempDir(), "failed.jsonl")
	c := &deadCmd{app: &app{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard},
		fs: newFlagSet("dead export"), store: deadletter.New(d.r.Client), rdb: d.r.Client}
	if err := c.export(stopped, failed); !errors.Is(err, context.Canceled) {
		t.Errorf("export with a cancelled context: %v", err)
	}
	if _, err := os.Stat(failed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left %s behind (%v)", failed, err)
	}
	enqueue(t, t.Context(), d.r, "", "dead", "export", failed, "--code", "-4").expect(t, cli.ExitOK, "exported=2 file="+failed+"\n", "")

	enqueue(t, t.Context(), d.r, "", "dead", "export", "-", "--type", "licence:modify", "--json").expect(t, cli.ExitOK, want.String(), `{"exported":2}`+"\n")
	enqueue(t, t.Context(), d.r, "", "dead", "export", filepath.Join(t.TempDir(), "new.jsonl"), "--json", "--code", "-42").
		expect(t, cli.ExitOK, `~{"exported":0,"file":"`, "")
}

// An export fed back to backfill: the export fields are ignored and the tasks come back with
// the IDs they had (for content IDs; a --key is the caller's to give again).
func TestDeadExportBackfillRoundTrip(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	path, _ := d.export(t, "-14")
	enqueue(t, t.Context(), d.r, "", "backfill", path, "--queue", "default").expect(t, cli.ExitOK, "enqueued=2 duplicate=0 invalid=0 failed=0\n", "")
	got := queued(t, inspect(t, d.r), tasks.QueueDefault)
	info, ok := got[d.gone.TaskID]
	if !ok || string(info.Payload) != string(d.gone.Payload) || info.State != asynq.TaskStatePending {
		t.Errorf("task %s after the round trip: %+v", d.gone.TaskID, info)
	}

	// The whole record: the invalid row is reported with its line, nothing is enqueued.
	all := filepath.Join(t.TempDir(), "all.jsonl")
	enqueue(t, t.Context(), d.r, "", "dead", "export", all).expect(t, cli.ExitOK, "exported=5 file="+all+"\n", "")
	enqueue(t, t.Context(), d.r, "", "backfill", all).expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=1 failed=0\n",
		all+`:3: action: must be one of ScheduledCallback, ManualCallback, ReplacePhone, replaceEmailAddress, sendCallbackEmail, got "Callback"`+"\n"+
			"enqueue backfill: 1 invalid row in "+all+": nothing was enqueued; fix them, or pass --skip-invalid to enqueue the 4 valid rows\n")
}

// The README's fix-and-resend: export, fix the rows, backfill them. Once a row's task is in
// Redis and live (enqueued, or a duplicate of a live task), the dead letter it was exported
// from is marked replayed, so that a later replay does not send the task it came from
// (unfixed) again. A row whose task is a duplicate still archived leaves its dead letter open.
func TestDeadExportFixBackfillThenReplay(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	path, b := d.export(t, "-4")
	// The fix: d.archived's product becomes another; d.keyed's row is left as it was, and its
	// task (forgotten by asynq) is back under its key already.
	fixed := strings.Replace(string(b), `"orderNumber":9,"product":1061`, `"orderNumber":9,"product":1062`, 1)
	if fixed == string(b) {
		t.Fatalf("the export has no row to fix:\n%s", b)
	}
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	task, opts, err := tasks.Build(d.keyed.Type, d.keyed.Payload, tasks.Key("inv-2024-0001"), tasks.Queue(tasks.QueueBackfill))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asynq.NewClientFromRedisClient(d.r.Client).Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	// And an unchanged row of a task still archived: no resend, its dead letter stays open.
	unchanged := filepath.Join(t.TempDir(), "unchanged.jsonl")
	line, _, err := backfillExportRow(d.archived)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unchanged, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	enqueue(t, t.Context(), d.r, "", "backfill", unchanged, "--queue", "default").expect(t, cli.ExitOK, "enqueued=0 duplicate=1 invalid=0 failed=0\n", "")
	enqueue(t, t.Context(), d.r, "", "dead", "list", "--code", "-4").expect(t, cli.ExitOK, "~"+d.archived.TaskID+" type=licence:modify queue=default reason=permanent errorCode=-4 attempts=1 replayed=no", "")

	enqueue(t, t.Context(), d.r, "", "backfill", path, "--queue", "default").expect(t, cli.ExitOK, "enqueued=1 duplicate=1 invalid=0 failed=0\n", "")
	o := enqueue(t, t.Context(), d.r, "", "dead", "list", "--code", "-4")
	if strings.Count(o.stdout, "replayed=20") != 2 {
		t.Errorf("dead letters after the backfill, want both marked replayed:\n%s", o.stdout)
	}
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--code", "-4").expect(t, cli.ExitOK, "replayed=0 duplicate=0 failed=0 skipped=2\n", "")
	info, err := inspect(t, d.r).GetTaskInfo(tasks.QueueDefault, d.archived.TaskID)
	if err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("the unfixed task: %+v, %v; want it left archived", info, err)
	}
}

// A mark that fails fails the backfill (exit 1), though its rows are enqueued; running it
// again marks the dead letters. An entryId that is not a dead letter of the row's task (an
// export from another Redis or database) marks nothing, and says so.
func TestBackfillOfAnExportMarksOnlyItsDeadLetters(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	path, b := d.export(t, "-14")
	// The replayed dead letter's row names d.gone's entry: as if from another database.
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		rows = append(rows, strings.Replace(l, d.replayed.EntryID, d.gone.EntryID, 1))
	}
	if err := os.WriteFile(path, []byte(strings.Join(rows, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Redis refuses the mark: the key holds a string.
	replayed, err := d.r.Client.HGetAll(t.Context(), deadletter.ReplayedKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.r.Client.Del(t.Context(), deadletter.ReplayedKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := d.r.Client.Set(t.Context(), deadletter.ReplayedKey, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	o := enqueue(t, t.Context(), d.r, "", "backfill", path, "--queue", "default")
	o.expect(t, cli.ExitFailed, "enqueued=2 duplicate=0 invalid=0 failed=0\n", "~1 dead letter could not be marked replayed, though their rows' tasks are in Redis")
	if !strings.Contains(o.stderr, "could not be marked replayed: mark dead letter "+d.gone.EntryID) || !strings.Contains(o.stderr, "WRONGTYPE") {
		t.Errorf("stderr lacks the row's failed mark:\n%s", o.stderr)
	}
	if err := d.r.Client.Del(t.Context(), deadletter.ReplayedKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := d.r.Client.HSet(t.Context(), deadletter.ReplayedKey, replayed).Err(); err != nil {
		t.Fatal(err)
	}
	// Again: the rows are duplicates now, live, and the mark goes through. The row whose
	// entryId is another task's dead letter marks nothing.
	o = enqueue(t, t.Context(), d.r, "", "backfill", path, "--queue", "default")
	o.expect(t, cli.ExitOK, "enqueued=0 duplicate=2 invalid=0 failed=0\n", "~entryId "+d.gone.EntryID+" is not a dead letter of task "+d.replayed.TaskID+" in this Redis: nothing marked")
	got, err := d.r.Client.HGetAll(t.Context(), deadletter.ReplayedKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[d.gone.EntryID] == "" || got[d.replayed.EntryID] != replayed[d.replayed.EntryID] {
		t.Errorf("replayed marks %v; want d.gone's new, d.replayed's as it was (%v)", got, replayed)
	}
}

// A task enqueued with a key comes back from an export as the same task while its row is
// unchanged (a duplicate while the task is in Redis, as for a task without a key), and as a
// new task once the row is edited.
func TestDeadExportBackfillKeepsTheKeyOfUnchangedRows(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	payload := `{"orderNumber":10101,"product":1061,"action":"CANCELLICENCE"}`
	task, opts, err := tasks.Build(tasks.TypeLicenceModify, []byte(payload), tasks.Key("billing-row-777"))
	if err != nil {
		t.Fatal(err)
	}
	const keyed = "licence:modify:billing-row-777"
	client := asynq.NewClient(r.Opt)
	defer client.Close()
	if _, err := client.Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	if err := inspect(t, r).ArchiveTask(tasks.QueueDefault, keyed); err != nil {
		t.Fatal(err)
	}
	if _, err := deadletter.New(r.Client).Append(t.Context(), deadletter.Record{TaskID: keyed, Type: task.Type(), Queue: tasks.QueueDefault,
		Payload: task.Payload(), Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4), Attempts: 1, FailedAt: failedAt}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	enqueue(t, t.Context(), r, "", "dead", "export", path).expect(t, cli.ExitOK, "exported=1 file="+path+"\n", "")
	enqueue(t, t.Context(), r, "", "backfill", path, "--queue", "default").expect(t, cli.ExitOK, "enqueued=0 duplicate=1 invalid=0 failed=0\n", "")

	// Edited, the row is a new task with its content's ID.
	row, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(row), `"product":1061`, `"product":1060`, 1)
	if edited == string(row) {
		t.Fatalf("test setup: no product to edit in %s", row)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.jsonl")
	if err := os.WriteFile(fixed, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	enqueue(t, t.Context(), r, "", "backfill", fixed, "--queue", "default").expect(t, cli.ExitOK, "enqueued=1 duplicate=0 invalid=0 failed=0\n", "")
	want := taskID(t, tasks.TypeLicenceModify, `{"orderNumber":10101,"product":1060,"action":"CANCELLICENCE"}`)
	if info, ok := queued(t, inspect(t, r), tasks.QueueDefault)[want]; !ok || info.State != asynq.TaskStatePending {
		t.Errorf("the edited row is not pending as %s: %+v", want, info)
	}
}

func TestDeadReplay(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	insp := inspect(t, d.r)
	enqueue(t, t.Context(), d.r, "", "dead", "replay").expect(t, cli.ExitFailed,
		"replayed "+d.archived.TaskID+" queue=default state=pending from=archive\n"+
			"replayed "+d.gone.TaskID+" queue=default state=pending from=record\n"+
			"replayed licence:modify:inv-2024-0001 queue=backfill state=pending from=record\n"+
			"replayed=3 duplicate=0 failed=1 skipped=1\n",
		d.invalid.TaskID+`: rebuild from the record: action: must be one of ScheduledCallback, ManualCallback, ReplacePhone, replaceEmailAddress, sendCallbackEmail, got "Callback" (it cannot be replayed as it is: export it with 'enqueue dead export', fix the row, and backfill it)`+"\n"+
			"enqueue dead replay: 1 dead letter could not be replayed\n")

	for _, rec := range []deadletter.Record{d.archived, d.gone, d.keyed} {
		info, err := insp.GetTaskInfo(rec.Queue, rec.TaskID)
		if err != nil || info.State != asynq.TaskStatePending || string(info.Payload) != string(rec.Payload) {
			t.Errorf("task %s after replay: %+v, %v", rec.TaskID, info, err)
		}
	}
	if _, err := insp.GetTaskInfo(tasks.QueueDefault, d.replayed.TaskID); err == nil {
		t.Error("a dead letter replayed before was replayed again")
	}
	// The archived copy is replaced by a fresh task that keeps its retry budget (3, plus the
	// reserve) and starts with none of it spent.
	if info, err := insp.GetTaskInfo(d.archived.Queue, d.archived.TaskID); err != nil || info.MaxRetry != 3+tasks.RetryReserve || info.Retried != 0 {
		t.Errorf("replayed archived task: %+v, %v; want MaxRetry %d, Retried 0", info, err, 3+tasks.RetryReserve)
	}

	// Once only: the replayed ones are skipped now; the invalid one still fails.
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--json").expect(t, cli.ExitFailed,
		`{"replayed":0,"duplicate":0,"failed":1,"skipped":4}`+"\n", "~rebuild from the record")
}

func TestDeadReplayDuplicatesAndFilters(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	// Someone already put the forgotten callback back by hand.
	enqueue(t, t.Context(), d.r, "", "callback", "--order", "77", "--action", "ReplacePhone", "--phone", "+1 555").
		expect(t, cli.ExitOK, "enqueued "+d.gone.TaskID+" queue=default state=pending\n", "")
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--code", "-14", "--json").expect(t, cli.ExitOK,
		`{"result":"duplicate","id":"`+d.gone.TaskID+`","queue":"default","state":"pending"}`+"\n"+
			`{"replayed":0,"duplicate":1,"failed":0,"skipped":1}`+"\n", "")
	// A type no worker runs is warned of (a typo would read as "no dead letters match"), not
	// refused: misrouted tasks of that type are in the record.
	enqueue(t, t.Context(), d.r, "", "dead", "list", "--type", "licence").expect(t, cli.ExitOK, "",
		"enqueue dead list: warning: --type \"licence\" is not a type the workers run (ovcallback:update, licence:modify); only misrouted tasks can have it\nno dead letters match\n")
	// An empty --type (an unset shell variable) is refused, not read as "every type".
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--type", "").expect(t, cli.ExitUsage, "",
		"~--type is empty: name a task type (ovcallback:update, licence:modify), or leave --type out for every type")
	// Only what the filters match was touched: the archived licence change is still archived.
	info, err := inspect(t, d.r).GetTaskInfo(tasks.QueueDefault, d.archived.TaskID)
	if err != nil || info.State != asynq.TaskStateArchived {
		t.Errorf("archived task: %+v, %v", info, err)
	}
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--type", "licence:modify").expect(t, cli.ExitOK,
		"replayed "+d.archived.TaskID+" queue=default state=pending from=archive\n"+
			"replayed licence:modify:inv-2024-0001 queue=backfill state=pending from=record\n"+
			"replayed=2 duplicate=0 failed=0 skipped=0\n", "")
}

// A dead letter whose task is back in another queue is a duplicate, not replayed a second time.
func TestDeadReplayDuplicateInAnotherQueue(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	// The forgotten callback died in default; someone put it back through a backfill.
	path := write(t, "fix.jsonl", `{"type":"ovcallback:update","orderNumber":"77","action":"ReplacePhone","phoneNumber":"+1 555"}`+"\n")
	enqueue(t, t.Context(), d.r, "", "backfill", path).expect(t, cli.ExitOK, "enqueued=1 duplicate=0 invalid=0 failed=0\n", "")
	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--code", "-14").expect(t, cli.ExitOK,
		"duplicate "+d.gone.TaskID+" queue=backfill state=pending\n"+
			"replayed=0 duplicate=1 failed=0 skipped=1\n", "")
	if n := len(queued(t, inspect(t, d.r), tasks.QueueDefault)); n != 1 { // the archived licence change only
		t.Errorf("%d tasks in default, want 1", n)
	}
}

// Doubles from before the look-up across queues (or from a plain asynq client): a task
// archived in both queues is replayed once, in its record's queue; one archived in one queue
// and live in the other is a duplicate, and its archived copy is left alone.
func TestDeadReplayDoubles(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	insp := inspect(t, d.r)
	client := asynq.NewClientFromRedisClient(d.r.Client)
	// d.archived is archived in default; archive a copy in backfill too.
	task, opts, err := tasks.Build(tasks.TypeLicenceModify, d.archived.Payload, tasks.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(task, append(opts, asynq.Queue(tasks.QueueBackfill))...); err != nil {
		t.Fatal(err)
	}
	if err := insp.ArchiveTask(tasks.QueueBackfill, d.archived.TaskID); err != nil {
		t.Fatal(err)
	}
	// d.keyed's record says backfill: archive it there, and have it live in default.
	task, opts, err = tasks.Build(d.keyed.Type, d.keyed.Payload, tasks.Key("inv-2024-0001"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{tasks.QueueBackfill, tasks.QueueDefault} {
		if _, err := client.Enqueue(task, append(opts, asynq.Queue(q))...); err != nil {
			t.Fatal(err)
		}
	}
	if err := insp.ArchiveTask(tasks.QueueBackfill, d.keyed.TaskID); err != nil {
		t.Fatal(err)
	}

	enqueue(t, t.Context(), d.r, "", "dead", "replay", "--type", "licence:modify").expect(t, cli.ExitOK,
		"replayed "+d.archived.TaskID+" queue=default state=pending from=archive\n"+
			"duplicate "+d.keyed.TaskID+" queue=default state=pending\n"+
			"replayed=1 duplicate=1 failed=0 skipped=0\n", "")
	for _, c := range []struct {
		queue, id string
		want      asynq.TaskState
	}{
		{tasks.QueueDefault, d.archived.TaskID, asynq.TaskStatePending},
		{tasks.QueueBackfill, d.archived.TaskID, asynq.TaskStateArchived},
		{tasks.QueueDefault, d.keyed.TaskID, asynq.TaskStatePending},
		{tasks.QueueBackfill, d.keyed.TaskID, asynq.TaskStateArchived},
	} {
		if info, err := insp.GetTaskInfo(c.queue, c.id); err != nil || info.State != c.want {
			t.Errorf("%s in %s after replay: %+v, %v; want %s", c.id, c.queue, info, err, c.want)
		}
	}
}

func backfillExportRow(r deadletter.Record) (string, bool, error) {
	b, flat, err := backfill.ExportRow(r)
	return string(b), flat, err
}

// An entry of the stream that is not a record (a foreign XADD, a damaged copy) is skipped and
// reported: the dead letters after it stay within reach of list, export and replay.
func TestDeadLettersAfterAnUnreadableEntry(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	store := deadletter.New(r.Client)
	good := func(order string) deadletter.Record {
		payload := `{"orderNumber":"` + order + `","action":"sendCallbackEmail"}`
		return deadletter.Record{TaskID: taskID(t, tasks.TypeOVCallbackUpdate, payload), Type: tasks.TypeOVCallbackUpdate,
			Queue: tasks.QueueDefault, Payload: json.RawMessage(payload), Reason: deadletter.ReasonRetriesSpent,
			ErrorCode: deadletter.Code(-14), ErrorMessage: "busy", Attempts: 11, FailedAt: failedAt}
	}
	first, second := good("81"), good("82")
	if _, err := store.Append(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	bad, err := r.Client.XAdd(t.Context(), &redis.XAddArgs{Stream: deadletter.Key, Values: []string{"record", "garbage{"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	skipped := "~1 entry of " + deadletter.Key + " could not be read and was skipped: dead letter " + bad + ": invalid character"

	o := enqueue(t, t.Context(), r, "", "dead", "list")
	o.expect(t, cli.ExitFailed, "~"+first.TaskID, skipped)
	if !strings.Contains(o.stdout, first.TaskID) || !strings.Contains(o.stdout, second.TaskID) {
		t.Errorf("list:\n%s\nwant both %s and %s", o.stdout, first.TaskID, second.TaskID)
	}

	path := filepath.Join(t.TempDir(), "dead.jsonl")
	enqueue(t, t.Context(), r, "", "dead", "export", path).expect(t, cli.ExitFailed, "exported=2 file="+path+"\n", skipped)
	b, err := os.ReadFile(path)
	if err != nil || strings.Count(string(b), "\n") != 2 {
		t.Errorf("export kept %q, %v; want the two records", b, err)
	}

	enqueue(t, t.Context(), r, "", "dead", "replay").expect(t, cli.ExitFailed,
		"replayed "+first.TaskID+" queue=default state=pending from=record\n"+
			"replayed "+second.TaskID+" queue=default state=pending from=record\n"+
			"replayed=2 duplicate=0 failed=0 skipped=0\n", skipped)
}

// failAgain stands in for a worker while a replay runs: each time the replay reports a task
// put back, the task fails at once, is archived and gets a dead letter of its own.
type failAgain struct {
	t     *testing.T
	d     *deadLetters
	out   strings.Builder
	again int
}

func (w *failAgain) Write(p []byte) (int, error) {
	w.out.Write(p)
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "replayed" || f[1] == "" || !strings.HasPrefix(f[2], "queue=") {
			continue
		}
		id, queue := f[1], strings.TrimPrefix(f[2], "queue=")
		if err := inspect(w.t, w.d.r).ArchiveTask(queue, id); err != nil {
			w.t.Errorf("archive %s: %v", id, err)
		}
		rec := w.d.archived
		if id != rec.TaskID {
			rec = w.d.keyed
		}
		rec.FailedAt = rec.FailedAt.Add(time.Hour)
		if _, err := w.d.store.Append(w.t.Context(), rec); err != nil {
			w.t.Errorf("append: %v", err)
		}
		w.again++
	}
	return len(p), nil
}

// A replay puts each task back once: not again for a second dead letter of the same task
// (dead-lettered twice before, say after a "Run" in the UI), nor for the dead letters its own
// replays earn when they fail again while it runs. Those wait for the next replay.
func TestDeadReplayOncePerTask(t *testing.T) {
	t.Parallel()
	d := newDeadLetters(t)
	second := d.archived
	second.FailedAt = second.FailedAt.Add(30 * time.Minute)
	if _, err := d.store.Append(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "REDIS_URL" {
			return d.r.URL
		}
		return ""
	}
	replay := func(want string) {
		t.Helper()
		w := &failAgain{t: t, d: d}
		var stderr strings.Builder
		err := runWithInput(t.Context(), []string{"enqueue", "dead", "replay", "--type", "licence:modify"}, getenv, strings.NewReader(""), w, &stderr)
		if err != nil || w.out.String() != want {
			t.Errorf("replay: %v\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", err, w.out.String(), want, stderr.String())
		}
	}
	replay("replayed " + d.archived.TaskID + " queue=default state=pending from=archive\n" +
		"replayed licence:modify:inv-2024-0001 queue=backfill state=pending from=record\n" +
		"replayed=2 duplicate=0 failed=0 skipped=1\n")
	// The two that failed again during the first replay, once each.
	replay("replayed " + d.archived.TaskID + " queue=default state=pending from=archive\n" +
		"replayed licence:modify:inv-2024-0001 queue=backfill state=pending from=archive\n" +
		"replayed=2 duplicate=0 failed=0 skipped=3\n")
	if n, err := d.store.Len(t.Context()); err != nil || n != 5+1+4 {
		t.Errorf("%d records, %v; want 10", n, err)
	}
}
