package faulttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/internal/syncbuf"
	"github.com/ovqueue/ovqueue/tasks"
)

// summary is the JSON summary of `enqueue backfill --json`.
type summary struct {
	Enqueued         int `json:"enqueued"`
	Duplicate        int `json:"duplicate"`
	Invalid          int `json:"invalid"`
	Failed           int `json:"failed"`
	StoppedAfterLine int `json:"stoppedAfterLine"`
}

// backfillRun is one finished run of the enqueue CLI.
type backfillRun struct {
	code           int
	stdout, stderr string
}

// writeRows writes n valid JSONL rows for orders first, first+1, ... and returns the path.
func writeRows(t *testing.T, first int64, n int) string {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"type":"licence:modify","orderNumber":%d,"product":1009,"action":"CANCELLICENCE"}`+"\n", first+int64(i))
	}
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startBackfill starts `enqueue backfill FILE --json` with more args against redisURL.
func startBackfill(t *testing.T, redisURL, file string, args ...string) (*exec.Cmd, *syncbuf.Buffer, *syncbuf.Buffer) {
	t.Helper()
	cmd := exec.Command(enqueueBinary(t), append([]string{"backfill", file, "--json"}, args...)...)
	cmd.Env = []string{"REDIS_URL=" + redisURL}
	stdout, stderr := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

// finish waits for the CLI to exit, at most timeout.
func finish(t *testing.T, cmd *exec.Cmd, stdout, stderr *syncbuf.Buffer, timeout time.Duration) backfillRun {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("enqueue backfill still running after %s\nstderr:\n%s", timeout, tail(stderr.String(), 20))
	}
	return backfillRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func (r backfillRun) summary(t *testing.T) summary {
	t.Helper()
	var s summary
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &s); err != nil {
		t.Fatalf("the summary on stdout is not JSON (%v): %q\nstderr:\n%s", err, r.stdout, tail(r.stderr, 20))
	}
	return s
}

// TestBackfillWhenRedisFails runs the enqueue CLI's backfill against a Redis that is down, or
// that goes down in the middle: it exits 1 and names every row it could not write, rather
// than dropping rows or claiming success, and running it again once Redis is back enqueues
// exactly the rows that were missing.
func TestBackfillWhenRedisFails(t *testing.T) {
	t.Parallel()

	t.Run("Redis down", func(t *testing.T) {
		t.Parallel()
		file := writeRows(t, 500000, 100)
		const addr = "127.0.0.1:1" // a privileged port no test binds: nothing listens there
		cmd, stdout, stderr := startBackfill(t, "redis://"+addr+"/0", file)
		r := finish(t, cmd, stdout, stderr, 60*time.Second)
		if r.code != 1 {
			t.Errorf("exit code %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, addr) {
			t.Errorf("stderr does not name the Redis that failed (%s): %q", addr, r.stderr)
		}
		if strings.Contains(r.stdout, `"failed":0`) {
			t.Errorf("stdout claims no row failed: %s", r.stdout)
		}
	})

	t.Run("Redis goes down mid-run", func(t *testing.T) {
		t.Parallel()
		const rows = 20000
		const first = 600000
		e := newEnv(t)
		file := writeRows(t, first, rows)
		// 4,000 rows a second: Redis stops about half a second in, long before the end.
		cmd, stdout, stderr := startBackfill(t, e.redis.URL(), file, "--rate", "4000")
		waitUntil(t, "1,000 rows in Redis", 30*time.Second, func() (bool, string) {
			n := e.queue(tasks.QueueBackfill).Pending
			return n >= 1000, fmt.Sprintf("%d pending", n)
		})
		e.redis.stop()
		r := finish(t, cmd, stdout, stderr, 60*time.Second)
		e.redis.start()

		s := r.summary(t)
		t.Logf("first run, Redis stopped under it: exit %d, %+v", r.code, s)
		if r.code != 1 {
			t.Errorf("exit code %d, want 1", r.code)
		}
		if s.Failed == 0 {
			t.Errorf("no row reported failed although Redis went away: %+v", s)
		}
		// Every failed row is named on stderr, with its line.
		failedLines := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(file)+`:\d+: `).FindAllString(r.stderr, -1)
		if len(failedLines) != s.Failed {
			t.Errorf("stderr names %d rows, the summary counts %d failed:\n%s", len(failedLines), s.Failed, tail(r.stderr, 20))
		}
		// Every row up to where it stopped is accounted for; none silently dropped.
		if handled := s.Enqueued + s.Duplicate + s.Failed; s.StoppedAfterLine != 0 && handled != s.StoppedAfterLine {
			t.Errorf("stopped after line %d but accounts for %d rows (%+v)", s.StoppedAfterLine, handled, s)
		} else if s.StoppedAfterLine == 0 && handled != rows {
			t.Errorf("read the whole file but accounts for %d of %d rows (%+v)", handled, rows, s)
		}
		// Every row reported enqueued survived the restart (AOF).
		if n := e.queue(tasks.QueueBackfill).Pending; n < s.Enqueued {
			t.Errorf("%d tasks in Redis after its restart, fewer than the %d reported enqueued", n, s.Enqueued)
		}

		// The same command again, Redis back: it writes exactly what was missing.
		cmd, stdout, stderr = startBackfill(t, e.redis.URL(), file)
		r2 := finish(t, cmd, stdout, stderr, 60*time.Second)
		s2 := r2.summary(t)
		t.Logf("second run: exit %d, %+v", r2.code, s2)
		if r2.code != 0 || s2.Failed != 0 || s2.Enqueued+s2.Duplicate != rows {
			t.Errorf("second run: exit %d, %+v; want exit 0 and all %d rows enqueued or duplicate\nstderr:\n%s", r2.code, s2, rows, tail(r2.stderr, 20))
		}
		if n := e.queue(tasks.QueueBackfill).Pending; n != rows {
			t.Errorf("%d tasks in Redis, want %d", n, rows)
		}
	})
}

// TestBackfillCtrlC sends SIGINT to the enqueue binary in the middle of a backfill: it stops
// taking rows, finishes those in flight, says how far it got, and exits 1; every row up to
// that line is in Redis and none after; the same command again enqueues exactly the rest.
func TestBackfillCtrlC(t *testing.T) {
	t.Parallel()
	const rows = 5000
	const first = 700000
	e := newEnv(t)
	file := writeRows(t, first, rows)
	cmd, stdout, stderr := startBackfill(t, e.redis.URL(), file, "--rate", "500")
	waitUntil(t, "200 rows in Redis", 30*time.Second, func() (bool, string) {
		n := e.queue(tasks.QueueBackfill).Pending
		return n >= 200, fmt.Sprintf("%d pending", n)
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r := finish(t, cmd, stdout, stderr, 30*time.Second)
	s := r.summary(t)
	t.Logf("interrupted: exit %d, %+v", r.code, s)
	if r.code != 1 {
		t.Errorf("exit code %d after SIGINT, want 1", r.code)
	}
	if s.StoppedAfterLine < 200 || s.StoppedAfterLine >= rows || s.Enqueued != s.StoppedAfterLine || s.Failed != 0 {
		t.Fatalf("summary %+v: want it stopped part-way, every row up to its line enqueued", s)
	}
	if want := fmt.Sprintf("interrupted after line %d of %s", s.StoppedAfterLine, file); !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, tail(r.stderr, 5))
	}
	if n := e.queue(tasks.QueueBackfill).Pending; n != s.Enqueued {
		t.Errorf("%d tasks in Redis, the summary says %d enqueued", n, s.Enqueued)
	}

	cmd, stdout, stderr = startBackfill(t, e.redis.URL(), file)
	r2 := finish(t, cmd, stdout, stderr, 60*time.Second)
	s2 := r2.summary(t)
	if r2.code != 0 || s2.Duplicate != s.Enqueued || s2.Enqueued != rows-s.Enqueued {
		t.Errorf("second run: exit %d, %+v; want the %d rows done as duplicates and the other %d enqueued", r2.code, s2, s.Enqueued, rows-s.Enqueued)
	}
}
