package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{}) // as main does
	os.Exit(m.Run())
}

// run has the signature DESIGN.md gives the mains: run(ctx, args, getenv, stdout, stderr).
var _ func(context.Context, []string, func(string) string, io.Writer, io.Writer) error = run

// TestRunAsMainCalls: run, as main calls it, runs the command in args.
func TestRunAsMainCalls(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"enqueue", "callback", "--action", "sendCallbackEmail"}, func(string) string { return "" }, &stdout, &stderr)
	if code := cli.ExitCode(err); code != 2 || !strings.Contains(stderr.String(), "--order") {
		t.Errorf("callback without --order: exit %d, stderr %q; want 2 and --order named", code, stderr.String())
	}
}

// outcome is what one run of the command left: its streams and exit code.
type outcome struct {
	stdout, stderr string
	code           int
}

// enqueue runs the command as main does, with REDIS_URL set to r (when not nil) and stdin.
func enqueue(t *testing.T, ctx context.Context, r *redistest.Redis, stdin string, args ...string) outcome {
	t.Helper()
	getenv := func(k string) string {
		if k == "REDIS_URL" && r != nil {
			return r.URL
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	err := runWithInput(ctx, append([]string{"enqueue"}, args...), getenv, strings.NewReader(stdin), &stdout, &stderr)
	return outcome{stdout.String(), stderr.String(), cli.ExitCode(err)}
}

// expect fails the test unless the run ended with code, and stdout and stderr are as given
// (exactly, or for a string starting with "~", containing the rest).
func (o outcome) expect(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if o.code != code {
		t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", o.code, code, o.stdout, o.stderr)
	}
	match := func(name, got, want string) {
		if c, ok := strings.CutPrefix(want, "~"); ok {
			if !strings.Contains(got, c) {
				t.Errorf("%s:\n%s\nlacks:\n%s", name, got, c)
			}
		} else if got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
	match("stdout", o.stdout, stdout)
	match("stderr", o.stderr, stderr)
}

// inspect returns an inspector on r, closed with the test.
func inspect(t *testing.T, r *redistest.Redis) *asynq.Inspector {
	t.Helper()
	i := asynq.NewInspector(r.Opt)
	t.Cleanup(func() { _ = i.Close() })
	return i
}

// queued lists the tasks of every state in queue, by ID.
func queued(t *testing.T, i *asynq.Inspector, queue string) map[string]*asynq.TaskInfo {
	t.Helper()
	out := map[string]*asynq.TaskInfo{}
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){i.ListPendingTasks, i.ListScheduledTasks, i.ListArchivedTasks, i.ListCompletedTasks}
	for _, list := range lists {
		infos, err := list(queue, asynq.PageSize(100_000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			out[info.ID] = info
		}
	}
	return out
}

// taskID is the ID tasks.Build gives a payload.
func taskID(t *testing.T, typ, payload string, opts ...tasks.Option) string {
	t.Helper()
	_, aopts, err := tasks.Build(typ, []byte(payload), opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range aopts {
		if o.Type() == asynq.TaskIDOpt {
			return o.Value().(string)
		}
	}
	t.Fatal("no task ID")
	return ""
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"no command", nil, cli.ExitUsage, "", "~enqueue: no command given\nRun 'enqueue --help' for usage.\n"},
		{"unknown command", []string{"frob"}, cli.ExitUsage, "", "enqueue: unknown command \"frob\": want callback, licence, backfill or dead\nRun 'enqueue --help' for usage.\n"},
		{"help", []string{"--help"}, cli.ExitOK, "~Exit codes:\n  0  done; duplicates count as done", ""},
		{"help command", []string{"help", "backfill"}, cli.ExitOK, "~Usage: enqueue backfill FILE|-", ""},
		{"callback help", []string{"callback", "--help"}, cli.ExitOK, "~Examples:\n  enqueue callback --order 1234567", ""},
		{"licence help", []string{"licence", "-h"}, cli.ExitOK, "~  --cancel-type WHEN", ""},
		{"license help", []string{"license", "--order", "1", "--help"}, cli.ExitOK, "~(alias: enqueue license)", ""},
		{"backfill help", []string{"backfill", "x.csv", "--help"}, cli.ExitOK, "~  --skip-invalid", ""},
		{"dead help", []string{"dead", "--help"}, cli.ExitOK, "~  enqueue dead replay --code -14", ""},
		{"dead list help", []string{"dead", "list", "--help"}, cli.ExitOK, "~  --code VALUE", ""},
		{"dead without subcommand", []string{"dead"}, cli.ExitUsage, "", "enqueue dead: missing subcommand: list, export FILE or replay\nRun 'enqueue dead --help' for usage.\n"},
		{"dead unknown subcommand", []string{"dead", "purge"}, cli.ExitUsage, "", "~enqueue dead: unknown subcommand \"purge\""},
		{"dead list argument", []string{"dead", "list", "extra"}, cli.ExitUsage, "", "enqueue dead list: unexpected argument (not shown: it may be part of a secret; a value with spaces must be quoted)\nRun 'enqueue dead list --help' for usage.\n"},
		{"dead export without file", []string{"dead", "export"}, cli.ExitUsage, "", "~enqueue dead export: missing FILE"},
		// A flag of another command is named (it is no secret), with the commands that take it.
		{"dead replay with a task flag", []string{"dead", "replay", "--queue=default"}, cli.ExitUsage, "", "enqueue dead replay: --queue is not a flag of dead replay (only of callback, licence, backfill)\nRun 'enqueue dead replay --help' for usage.\n"},
		{"backfill with a payload flag", []string{"backfill", "rows.jsonl", "--phone", "+1"}, cli.ExitUsage, "", "enqueue backfill: --phone is not a flag of backfill (only of callback)\nRun 'enqueue backfill --help' for usage.\n"},
		{"licence with a backfill flag", []string{"licence", "--format", "csv"}, cli.ExitUsage, "", "enqueue licence: --format is not a flag of licence (only of backfill)\nRun 'enqueue licence --help' for usage.\n"},
		{"dead code not a number", []string{"dead", "list", "--code", "x"}, cli.ExitUsage, "", "~enqueue dead list: --code: must be an integer, got \"x\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enqueue(t, t.Context(), nil, "", tt.args...).expect(t, tt.code, tt.stdout, tt.stderr)
		})
	}
}

func TestRedisURL(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-pa55"
	guarded := miniredis.RunT(t)
	guarded.RequireAuth("the-right-one")
	tests := []struct {
		name, url, stderr string
		code              int
	}{
		{"not a URL", "redis://:" + password + "@host:port/0", "enqueue licence: --redis-url: must be a URL such as redis://127.0.0.1:6379/0: invalid port \":port\" after host\nRun 'enqueue licence --help' for usage.\n", cli.ExitUsage},
		{"digits before a slash in the password", "redis://:12345/" + password + "@127.0.0.1:6390/0", "~--redis-url: must be a URL such as redis://127.0.0.1:6379/0, got \"redis://:xxxxx@127.0.0.1:6390/0\": malformed login (percent-encode special characters of the password)", cli.ExitUsage},
		{"port out of range", "redis://:" + password + "@127.0.0.1:99999/0", "~--redis-url: \"redis://:xxxxx@127.0.0.1:99999/0\": port must be 1 to 65535, got \"99999\"", cli.ExitUsage},
		{"bad scheme", "http://:" + password + "@host:6379/0", "~--redis-url: scheme must be redis, rediss, redis-sentinel or redis-socket, got \"http://:xxxxx@host:6379/0\"", cli.ExitUsage},
		{"bad database", "redis://:" + password + "@host:6379/zero", "~--redis-url: \"redis://:xxxxx@host:6379/zero\": could not parse redis uri: database number", cli.ExitUsage},
		{"sentinel without master", "redis-sentinel://:" + password + "@host:26379", "~must name the sentinels and the master", cli.ExitUsage},
		{"unreachable", "redis://:" + password + "@127.0.0.1:1/0", "enqueue licence: --redis-url: redis://:xxxxx@127.0.0.1:1/0: cannot reach Redis: dial tcp 127.0.0.1:1: connect: connection refused\n", cli.ExitFailed},
		{"given twice", "redis://:" + password + "@127.0.0.1:1/0\x00--redis-url=redis://:" + password + "@127.0.0.1:2/0", "enqueue licence: --redis-url given twice: give it once\nRun 'enqueue licence --help' for usage.\n", cli.ExitUsage},
		{"login refused", "redis://:" + password + "@" + guarded.Addr() + "/0", "enqueue licence: --redis-url: redis://:xxxxx@" + guarded.Addr() + "/0: the server refused the login: WRONGPASS invalid username-password pair\nRun 'enqueue licence --help' for usage.\n", cli.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"licence", "--order", "1", "--product", "700", "--action", "CANCELLICENCE", "--redis-url"}
			o := enqueue(t, t.Context(), nil, "", append(args, strings.Split(tt.url, "\x00")...)...)
			o.expect(t, tt.code, "", tt.stderr)
			if strings.Contains(o.stderr, password) {
				t.Errorf("the password is in stderr: %s", o.stderr)
			}
		})
	}
}

// A Redis that takes longer than the first contact's bound is reported with why, as far as a
// plain dial can tell: a sentinel that refuses connections took go-redis 36 s of retries.
func TestRedisSlowToReach(t *testing.T) { // not parallel: it shortens pingTimeout
	old := pingTimeout
	pingTimeout = 300 * time.Millisecond
	t.Cleanup(func() { pingTimeout = old })
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	args := []string{"licence", "--order", "1", "--product", "700", "--action", "CANCELLICENCE", "--redis-url"}
	enqueue(t, t.Context(), nil, "", append(args, "redis-sentinel://127.0.0.1:1?master=m")...).expect(t, cli.ExitFailed, "",
		"enqueue licence: --redis-url: redis-sentinel://127.0.0.1:1?master=m: cannot reach Redis: no answer in 300ms: dial tcp 127.0.0.1:1: connect: connection refused\n")
	enqueue(t, t.Context(), nil, "", append(args, "redis-sentinel://"+silent.Addr().String()+"?master=m")...).expect(t, cli.ExitFailed, "",
		"enqueue licence: --redis-url: redis-sentinel://"+silent.Addr().String()+"?master=m: cannot reach Redis: no answer in 300ms: the sentinels accept connections, but no answer came through them (is the master down, or its name wrong?)\n")
	// A plain Redis given a TLS greeting waits for the rest of a command.
	enqueue(t, t.Context(), nil, "", append(args, "rediss://"+silent.Addr().String()+"/0")...).expect(t, cli.ExitFailed, "",
		"enqueue licence: --redis-url: rediss://"+silent.Addr().String()+"/0: cannot reach Redis: no answer in 300ms: it accepts connections but does not answer (rediss:// speaks TLS: does the server take TLS on this port?)\n")
	// go-redis's read timeout (3 s) may end the first contact before the bound does: the
	// reason is told all the same, not a bare "i/o timeout".
	pingTimeout = 10 * time.Second
	enqueue(t, t.Context(), nil, "", append(args, "redis://"+silent.Addr().String()+"/0")...).expect(t, cli.ExitFailed, "",
		"enqueue licence: --redis-url: redis://"+silent.Addr().String()+"/0: cannot reach Redis: no answer: it accepts connections but does not answer\n")
}

// An empty --redis-url while REDIS_URL is set is an error, as it is for the worker: a script's
// --redis-url="$URL" with URL unset must not write into whatever Redis the shell points at.
func TestEmptyRedisURLFlag(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	enqueue(t, t.Context(), r, "", "licence", "--order", "1", "--product", "700", "--action", "CANCELLICENCE", "--redis-url=").
		expect(t, cli.ExitUsage, "", "~--redis-url is empty but REDIS_URL is set: leave the flag out, or unset REDIS_URL")
	if n := len(queued(t, inspect(t, r), tasks.QueueDefault)); n != 0 {
		t.Errorf("%d tasks enqueued into REDIS_URL's Redis", n)
	}
}

// A Redis ACL login (user and password) works, as it does for the worker.
func TestRedisURLWithUser(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	m.RequireUserAuth("billing", "s3cr3t-pa55")
	enqueue(t, t.Context(), nil, "", "licence", "--order", "1", "--product", "700", "--action", "CANCELLICENCE",
		"--redis-url", "redis://billing:s3cr3t-pa55@"+m.Addr()+"/0").expect(t, cli.ExitOK, "~enqueued licence:modify:1:", "")
}

// A sentinel URL with a database works as asynq reads it (database 0), with a warning.
func TestSentinelURLWithDatabase(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-pa55"
	var warn bytes.Buffer
	r := redisFlag{url: "redis-sentinel://ops:" + password + "@10.0.0.1:26379/2?master=m"}
	opt, _, _, err := r.conn(func(string) string { return "" }, &warn, 4)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok || f.DB != 0 || f.MasterName != "m" || f.SentinelUsername != "ops" || f.SentinelPassword != password || f.PoolSize < 4 {
		t.Errorf("options = %T %+v", opt, opt)
	}
	if got := warn.String(); !strings.Contains(got, "--redis-url") || !strings.Contains(got, "using database 0") || strings.Contains(got, password) {
		t.Errorf("warning = %q", got)
	}
}
