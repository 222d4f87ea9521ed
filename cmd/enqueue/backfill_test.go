package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
)

// write puts content in a file named name in a directory of the test's own.
func write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodJSONL = `{"type":"licence:modify","orderNumber":1001,"product":1061,"action":"CANCELLICENCE","cancelType":"ON EXPIRATION"}

{"type":"ovcallback:update","orderNumber":"2002","action":"ScheduledCallback","preferredTimeUTC":"2024-02-02 13:03"}
{"type":"licence:modify","orderNumber":"1003","product":"700","codeGuardUserEmail":"ops@example.com"}
`

// goodPayloads are the canonical payloads of goodJSONL's rows, as tasks stores them.
var goodPayloads = map[string]string{
	tasks.TypeLicenceModify + "1001":    `{"account":"default","orderNumber":1001,"product":1061,"action":"CANCELLICENCE","cancelType":"ON EXPIRATION"}`,
	tasks.TypeOVCallbackUpdate + "2002": `{"account":"default","orderNumber":"2002","action":"ScheduledCallback","preferredTimeUTC":"2024-02-02 13:03"}`,
	tasks.TypeLicenceModify + "1003":    `{"account":"default","orderNumber":1003,"product":700,"codeGuardUserEmail":"ops@example.com"}`,
}

// expectTasks fails unless queue holds exactly the tasks of these payloads.
func expectTasks(t *testing.T, r *redistest.Redis, queue string, payloads map[string]string) {
	t.Helper()
	got := queued(t, inspect(t, r), queue)
	if len(got) != len(payloads) {
		t.Errorf("%d tasks in %s, want %d", len(got), queue, len(payloads))
	}
	for key, payload := range payloads {
		typ := tasks.TypeLicenceModify
		if strings.HasPrefix(key, tasks.TypeOVCallbackUpdate) {
			typ = tasks.TypeOVCallbackUpdate
		}
		id := taskID(t, typ, payload)
		info, ok := got[id]
		if !ok {
			t.Errorf("no task %s in %s", id, queue)
			continue
		}
		if string(info.Payload) != payload || info.Type != typ {
			t.Errorf("task %s: %s %s, want %s %s", id, info.Type, info.Payload, typ, payload)
		}
	}
}

func TestBackfillJSONL(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	path := write(t, "rows.jsonl", goodJSONL)
	enqueue(t, t.Context(), r, "", "backfill", path).expect(t, cli.ExitOK, "enqueued=3 duplicate=0 invalid=0 failed=0\n", "")
	expectTasks(t, r, tasks.QueueBackfill, goodPayloads)

	// A second run enqueues nothing new.
	enqueue(t, t.Context(), r, "", "backfill", "--json", path).expect(t, cli.ExitOK, `{"enqueued":0,"duplicate":3,"invalid":0,"failed":0}`+"\n", "")
	expectTasks(t, r, tasks.QueueBackfill, goodPayloads)
}

// A row already enqueued as live traffic (queue default) is a duplicate for a backfill bound
// for queue backfill, and a task a backfill enqueued is one for live traffic: the same task ID
// is the same task, whatever the queue.
func TestBackfillDuplicatesAcrossQueues(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	live := taskID(t, tasks.TypeLicenceModify, goodPayloads[tasks.TypeLicenceModify+"1001"])
	enqueue(t, t.Context(), r, "", "licence", "--order", "1001", "--product", "1061", "--action", "CANCELLICENCE", "--cancel-type", "ON EXPIRATION").
		expect(t, cli.ExitOK, "enqueued "+live+" queue=default state=pending\n", "")
	path := write(t, "rows.jsonl", goodJSONL)
	enqueue(t, t.Context(), r, "", "backfill", path).expect(t, cli.ExitOK, "enqueued=2 duplicate=1 invalid=0 failed=0\n", "")
	backfilled := map[string]string{}
	for k, v := range goodPayloads {
		if k != tasks.TypeLicenceModify+"1001" {
			backfilled[k] = v
		}
	}
	expectTasks(t, r, tasks.QueueBackfill, backfilled)

	// The other way: live traffic for a task the backfill holds.
	id := taskID(t, tasks.TypeOVCallbackUpdate, goodPayloads[tasks.TypeOVCallbackUpdate+"2002"])
	enqueue(t, t.Context(), r, "", "callback", "--order", "2002", "--action", "ScheduledCallback", "--time", "2024-02-02 13:03").
		expect(t, cli.ExitOK, "duplicate "+id+" queue=backfill state=pending\n", "")
	if n := len(queued(t, inspect(t, r), tasks.QueueDefault)); n != 1 {
		t.Errorf("%d tasks in default, want 1", n)
	}
}

func TestBackfillCSV(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	path := write(t, "rows.csv", "type,orderNumber,product,action,cancelType,preferredTimeUTC,codeGuardUserEmail\r\n"+
		"licence:modify,1001,1061,CANCELLICENCE,ON EXPIRATION,,\r\n"+
		"ovcallback:update,2002,,ScheduledCallback,,2024-02-02 13:03,\r\n"+
		"licence:modify,1003,700,,,,ops@example.com\r\n")
	enqueue(t, t.Context(), r, "", "backfill", path).expect(t, cli.ExitOK, "enqueued=3 duplicate=0 invalid=0 failed=0\n", "")
	expectTasks(t, r, tasks.QueueBackfill, goodPayloads) // the same tasks as the JSONL rows
}

func TestBackfillStdin(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	enqueue(t, t.Context(), r, goodJSONL, "backfill", "-").expect(t, cli.ExitOK, "enqueued=3 duplicate=0 invalid=0 failed=0\n", "")
	expectTasks(t, r, tasks.QueueBackfill, goodPayloads)
	csv := "type,orderNumber,action\novcallback:update,55,sendCallbackEmail\novcallback:update,,sendCallbackEmail\n"
	enqueue(t, t.Context(), r, csv, "backfill", "--format", "csv", "-").expect(t, cli.ExitFailed,
		"enqueued=0 duplicate=0 invalid=1 failed=0\n",
		"stdin:3: orderNumber: required\nenqueue backfill: 1 invalid row in stdin: nothing was enqueued; fix them, or pass --skip-invalid to enqueue the 1 valid row\n")
	// No valid row: --skip-invalid would enqueue nothing either, so it is not offered.
	enqueue(t, t.Context(), r, csv[:strings.Index(csv, "\n")+1]+"ovcallback:update,,sendCallbackEmail\n", "backfill", "--format", "csv", "-").expect(t, cli.ExitFailed,
		"enqueued=0 duplicate=0 invalid=1 failed=0\n",
		"stdin:2: orderNumber: required\nenqueue backfill: 1 invalid row in stdin, and no valid row: nothing was enqueued\n")
}

func TestBackfillBadRows(t *testing.T) {
	t.Parallel()
	rows := goodJSONL + `{"type":"licence:modify","orderNumber":"12a","product":1061,"action":"CANCELLICENCE"}
{"type":"ovcallback:update","orderNumber":"7","action":"ReplacePhone","colour":"red"}
not json
{"type":"licence:cancel","orderNumber":1}
{"type":"ovcallback:update","orderNumber":"8","action":"ScheduledCallback","preferredTimeUTC":"tomorrow","extensionNumber":"1234567"}
`
	path := write(t, "rows.jsonl", rows)
	reports := path + `:5: orderNumber: must be an integer or a string of digits, got "12a"
` + path + `:6: colour: unknown field (never forwarded: the provider would answer -2)
` + path + `:6: phoneNumber: required
` + path + `:7: row: must be a JSON object {"type": ..., <payload fields>}
` + path + `:8: type: must be "ovcallback:update" or "licence:modify", got "licence:cancel"
` + path + `:9: preferredTimeUTC: must be "yyyy-mm-dd hh24:mi" in UTC, e.g. "2024-02-02 13:03", got "tomorrow"
` + path + `:9: extensionNumber: at most 5 characters, got 7
`
	t.Run("nothing enqueued", func(t *testing.T) {
		t.Parallel()
		r := redistest.New(t)
		enqueue(t, t.Context(), r, "", "backfill", path).expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=5 failed=0\n",
			reports+"enqueue backfill: 5 invalid rows in "+path+": nothing was enqueued; fix them, or pass --skip-invalid to enqueue the 3 valid rows\n")
		expectTasks(t, r, tasks.QueueBackfill, nil)
	})
	t.Run("skip invalid", func(t *testing.T) {
		t.Parallel()
		r := redistest.New(t)
		enqueue(t, t.Context(), r, "", "backfill", path, "--skip-invalid").expect(t, cli.ExitFailed, "enqueued=3 duplicate=0 invalid=5 failed=0\n",
			reports+"enqueue backfill: 5 invalid rows in "+path+" skipped\n")
		expectTasks(t, r, tasks.QueueBackfill, goodPayloads)
	})
	t.Run("dry run", func(t *testing.T) {
		t.Parallel()
		r := redistest.New(t)
		enqueue(t, t.Context(), r, "", "backfill", "--dry-run", path).expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=5 failed=0\n",
			reports+"enqueue backfill: 5 invalid rows in "+path+" (dry run: 3 rows valid, nothing was enqueued)\n")
		expectTasks(t, r, tasks.QueueBackfill, nil)
	})
}

// A row that breaks CSV's quoting is one bad row: the rows after it are still checked.
func TestBackfillCSVQuoting(t *testing.T) {
	t.Parallel()
	path := write(t, "quote.csv", "type,orderNumber,product,action\nlicence:modify,1\"2,1061,CANCELLICENCE\nlicence:modify,x,1061,CANCELLICENCE\nlicence:modify,3,1061,CANCELLICENCE\n")
	enqueue(t, t.Context(), nil, "", "backfill", "--dry-run", path).expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=2 failed=0\n",
		path+`:2: row: csv: column 17: bare " in non-quoted-field
`+path+`:3: orderNumber: must be an integer or a string of digits, got "x"
enqueue backfill: 2 invalid rows in `+path+" (dry run: 1 row valid, nothing was enqueued)\n")
}

// A quote never closed swallows the rows after it: the input is refused, at the line where
// the row began, and nothing is enqueued, --skip-invalid or not.
func TestBackfillCSVQuoteNeverClosed(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	path := write(t, "open.csv", "type,orderNumber,product,action\nlicence:modify,1,1061,CANCELLICENCE\nlicence:modify,\"2,1061,CANCELLICENCE\nlicence:modify,3,1061,CANCELLICENCE\nlicence:modify,4\"x,1061,CANCELLICENCE\n")
	enqueue(t, t.Context(), r, "", "backfill", "--skip-invalid", path).expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=0 failed=0\n",
		"enqueue backfill: "+path+`:3: csv: a quoted cell of the row that begins here runs on to line 5: column 17 there: extraneous or missing " in quoted-field: nothing was enqueued`+"\n")
	expectTasks(t, r, tasks.QueueBackfill, nil)
}

func TestBackfillDryRun(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	path := write(t, "rows.ndjson", goodJSONL)
	// A dry run needs no Redis.
	enqueue(t, t.Context(), nil, "", "backfill", path, "--dry-run", "--redis-url", "redis://127.0.0.1:1/0").
		expect(t, cli.ExitOK, "enqueued=0 duplicate=0 invalid=0 failed=0\n", "dry run: 3 rows valid, nothing enqueued\n")
	// But a bad URL is refused, as it would be in the run the dry run prepares.
	enqueue(t, t.Context(), nil, "", "backfill", path, "--dry-run", "--redis-url", "bogus://h/0").
		expect(t, cli.ExitUsage, "", "~--redis-url: scheme must be redis, rediss, redis-sentinel or redis-socket")
	enqueue(t, t.Context(), r, "", "backfill", path, "--dry-run", "--json").
		expect(t, cli.ExitOK, `{"dryRun":true,"valid":3,"enqueued":0,"duplicate":0,"invalid":0,"failed":0}`+"\n", "dry run: 3 rows valid, nothing enqueued\n")
	expectTasks(t, r, tasks.QueueBackfill, nil)
}

func TestBackfillOptions(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	path := write(t, "rows.jsonl", `{"type":"licence:modify","orderNumber":1,"product":700,"action":"CANCELLICENCE"}
{"type":"licence:modify","orderNumber":2,"product":700,"action":"CANCELLICENCE","account":"us"}
`)
	enqueue(t, t.Context(), r, "", "backfill", path, "--queue", "default", "--account", "eu", "--max-retry", "0", "--in", "2h", "--concurrency", "1", "--rate", "1000").
		expect(t, cli.ExitOK, "enqueued=2 duplicate=0 invalid=0 failed=0\n", "")
	got := queued(t, inspect(t, r), tasks.QueueDefault)
	for _, want := range []string{
		`{"account":"eu","orderNumber":1,"product":700,"action":"CANCELLICENCE"}`,
		`{"account":"us","orderNumber":2,"product":700,"action":"CANCELLICENCE"}`,
	} {
		info, ok := got[taskID(t, tasks.TypeLicenceModify, want)]
		if !ok {
			t.Errorf("no task for %s", want)
			continue
		}
		if info.MaxRetry != tasks.RetryReserve || time.Until(info.NextProcessAt) < 100*time.Minute {
			t.Errorf("task %s: retry %d at %s", info.ID, info.MaxRetry, info.NextProcessAt)
		}
	}
}

func TestBackfillUsage(t *testing.T) {
	t.Parallel()
	good := write(t, "rows.jsonl", goodJSONL)
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no file", []string{"backfill"}, "enqueue backfill: missing FILE: the path of the rows, or - for standard input\n"},
		{"two files", []string{"backfill", good, good}, "~enqueue backfill: one FILE at a time, got 2"},
		{"missing file", []string{"backfill", "/nonexistent/rows.jsonl"}, "enqueue backfill: cannot read /nonexistent/rows.jsonl: no such file or directory\n"},
		{"directory", []string{"backfill", filepath.Dir(good), "--format", "csv"}, "~is a directory"},
		{"unknown extension", []string{"backfill", "rows.txt"}, "~enqueue backfill: --format: cannot tell the format of rows.txt from its extension"},
		{"bad format", []string{"backfill", good, "--format", "xml"}, "enqueue backfill: --format: must be jsonl or csv, got \"xml\"\n"},
		{"key", []string{"backfill", good, "--key", "k"}, "~enqueue backfill: --key: not for a backfill"},
		{"concurrency", []string{"backfill", good, "--concurrency", "0"}, "enqueue backfill: --concurrency: must be 1 to 256, got 0\n"},
		{"rate", []string{"backfill", good, "--rate", "-1"}, "enqueue backfill: --rate: must be 0 (no limit) or more, got -1\n"},
		{"queue", []string{"backfill", good, "--queue", "fast"}, "~enqueue backfill: --queue: must be \"default\" or \"backfill\""},
		{"account", []string{"backfill", good, "--account", "a/b"}, "~enqueue backfill: --account: only letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.stderr
			if !strings.HasPrefix(want, "~") {
				want += "Run 'enqueue backfill --help' for usage.\n"
			}
			// No Redis is needed to reject a command line.
			enqueue(t, t.Context(), nil, "", tt.args...).expect(t, cli.ExitUsage, "", want)
		})
	}
}

// Redis cannot be reached: every valid row is counted as failed, and nothing is enqueued.
func TestBackfillRedisDown(t *testing.T) {
	t.Parallel()
	path := write(t, "rows.jsonl", goodJSONL)
	enqueue(t, t.Context(), nil, "", "backfill", path, "--redis-url", "redis://127.0.0.1:1/0").
		expect(t, cli.ExitFailed, "enqueued=0 duplicate=0 invalid=0 failed=3\n", "enqueue backfill: --redis-url: redis://127.0.0.1:1/0: cannot reach Redis: dial tcp 127.0.0.1:1: connect: connection refused: nothing was enqueued\n")
}

// Every row is validated before Redis is contacted: with Redis down, the bad rows are still
// reported, each with its line, and the summary says so.
func TestBackfillReportsBadRowsWithRedisDown(t *testing.T) {
	t.Parallel()
	path := write(t, "rows.jsonl", goodJSONL+`{"type":"licence:modify","orderNumber":5,"product":99999}`+"\n")
	o := enqueue(t, t.Context(), nil, "", "backfill", path, "--redis-url", "redis://127.0.0.1:1/0", "--json")
	o.expect(t, cli.ExitFailed, `{"enqueued":0,"duplicate":0,"invalid":1,"failed":0}`+"\n", "~")
	if want := path + ":5: product:"; !strings.Contains(o.stderr, want) || strings.Contains(o.stderr, "cannot reach Redis") {
		t.Errorf("stderr %q: want the bad row (%s...), and no word of Redis (it was never needed)", o.stderr, want)
	}
}

// Ctrl-C in the middle: the summary and how far it got; running the same command again
// continues, and what the first run enqueued comes back as duplicates.
func TestBackfillInterrupted(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	const n = 300
	var rows strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&rows, `{"type":"licence:modify","orderNumber":%d,"product":700,"action":"CANCELLICENCE"}`+"\n", i)
	}
	path := write(t, "rows.jsonl", rows.String())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { // Ctrl-C once some rows are in
		for ctx.Err() == nil {
			if n, _ := r.Client.LLen(ctx, "asynq:{backfill}:pending").Result(); n >= 20 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	o := enqueue(t, ctx, r, "", "backfill", path, "--rate", "200", "--concurrency", "2", "--json")
	var sum struct{ Enqueued, StoppedAfterLine int }
	if err := json.Unmarshal([]byte(o.stdout), &sum); err != nil {
		t.Fatalf("stdout %q: %v", o.stdout, err)
	}
	line := sum.StoppedAfterLine
	o.expect(t, cli.ExitFailed, "~", fmt.Sprintf("enqueue backfill: interrupted after line %d of %s; re-run the same command to continue: rows already enqueued are reported as duplicates\n", line, path))
	if line < 20 || line >= n || sum.Enqueued != line {
		t.Fatalf("stopped after line %d with %d enqueued", line, sum.Enqueued)
	}
	got := queued(t, inspect(t, r), tasks.QueueBackfill)
	for i := 1; i <= n; i++ {
		_, in := got[taskID(t, tasks.TypeLicenceModify, fmt.Sprintf(`{"account":"default","orderNumber":%d,"product":700,"action":"CANCELLICENCE"}`, i), tasks.Queue(tasks.QueueBackfill))]
		if in != (i <= line) {
			t.Fatalf("row %d in Redis: %v, but the run stopped after line %d", i, in, line)
		}
	}
	enqueue(t, t.Context(), r, "", "backfill", path).
		expect(t, cli.ExitOK, fmt.Sprintf("enqueued=%d duplicate=%d invalid=0 failed=0\n", n-line, line), "")
}

// A TMPDIR that does not exist is a configuration error (exit 2), said before anything is read,
// with no summary on stdout.
func TestBackfillTempDirMissing(t *testing.T) { // not parallel: it sets TMPDIR
	missing := filepath.Join(t.TempDir(), "gone")
	t.Setenv("TMPDIR", missing)
	r := redistest.New(t)
	path := write(t, "rows.jsonl", goodJSONL)
	enqueue(t, t.Context(), r, "", "backfill", path).expect(t, cli.ExitUsage, "",
		"~TMPDIR: cannot create a temporary file for the built tasks in "+missing+" (set TMPDIR to a writable directory)")
	expectTasks(t, r, tasks.QueueBackfill, nil)
}
