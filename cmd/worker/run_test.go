package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/config"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/syncbuf"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// run has the signature DESIGN.md gives the mains: run(ctx, args, getenv, stdout, stderr).
var _ func(context.Context, []string, func(string) string, io.Writer, io.Writer) error = run

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// runWorker starts run in the background and returns a stop function that cancels it and
// returns its error.
func runWorker(t *testing.T, args []string, env map[string]string) (stdout, stderr *syncbuf.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr = &syncbuf.Buffer{}, &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"worker"}, args...), envOf(env), stdout, stderr) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stdout, stderr, stop
}

// runWithFake starts a fake provider and a worker that calls it with its default login, on a
// Redis of the test's own, with args and extra settings; as runWorker, it returns the
// worker's stderr and a stop function.
func runWithFake(t *testing.T, args []string, extra map[string]string) (r *redistest.Redis, fake *providertest.Server, stderr *syncbuf.Buffer, stop func() error) {
	t.Helper()
	r = redistest.New(t)
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	env := map[string]string{
		"REDIS_URL": r.URL, "PROVIDER_URL": fake.URL,
		"PROVIDER_LOGIN_NAME": providertest.DefaultLoginName, "PROVIDER_LOGIN_PASSWORD": providertest.DefaultLoginPassword,
	}
	maps.Copy(env, extra)
	_, stderr, stop = runWorker(t, args, env)
	return r, fake, stderr, stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorkerRunsTasksAndStopsCleanly(t *testing.T) {
	t.Parallel()
	r, _, stderr, stop := runWithFake(t, []string{"--poll-interval", "50ms"}, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	c := asynq.NewClient(r.Opt)
	defer c.Close()
	task, opts, err := tasks.NewOVCallbackTask(tasks.OVCallbackPayload{OrderNumber: "31", Action: provider.ActionReplacePhone, PhoneNumber: "+44 20 7946 0958"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Enqueue(task, opts...)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(r.Opt)
	defer insp.Close()
	waitFor(t, "the task to complete", 15*time.Second, func() bool {
		ti, err := insp.GetTaskInfo(info.Queue, info.ID)
		return err == nil && ti.State == asynq.TaskStateCompleted
	})
	// METRICS_ADDR's :0 port is logged, and is where the metrics are.
	m := regexp.MustCompile(`"server":"METRICS_ADDR","addr":"([^"]+)"`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no line with the metrics address:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + m[1] + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz at the logged address %s: %v, %v", m[1], resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
	logs := stderr.String()
	for _, want := range []string{`"message":"provider call"`, `"task":"` + info.ID + `"`, `"phoneNumber":"***-58"`, `"message":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{providertest.DefaultLoginPassword, "7946 0958"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

func TestWorkerConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no account", map[string]string{}, "PROVIDER_LOGIN_NAME"},
		{"bad timeout", map[string]string{"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "PROVIDER_TIMEOUT": "30"}, "PROVIDER_TIMEOUT"},
		{"http provider", map[string]string{"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "PROVIDER_URL": "http://provider.example/"}, "PROVIDER_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"worker"}, envOf(tt.env), &out, &errOut)
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a configuration error naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
	// Redis that cannot be reached is named too, and hides the URL's password.
	err := run(t.Context(), []string{"worker"}, envOf(map[string]string{
		"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0",
	}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable Redis: %v", err)
	}
	if errors.Is(err, config.ErrInvalid) {
		t.Errorf("unreachable Redis is a configuration error (exit 2), but it may be back in a moment: %v", err)
	}
	// A Redis that refuses the login is a configuration error.
	guarded := miniredis.RunT(t)
	guarded.RequireAuth("the-right-one")
	err = run(t.Context(), []string{"worker"}, envOf(map[string]string{
		"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "REDIS_URL": "redis://:hunter2@" + guarded.Addr() + "/0",
	}), io.Discard, io.Discard)
	if want := "REDIS_URL (--redis-url): redis://:xxxxx@" + guarded.Addr() + "/0: the server refused the login: WRONGPASS"; err == nil ||
		!errors.Is(err, config.ErrInvalid) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("login refused: %v; want a configuration error starting %q", err, want)
	}
}

func TestDevModeShowsDemoTasksInTheUI(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	// A login configured for the real provider: the fake takes the demo login instead.
	stdout, stderr, stop := runWorker(t, []string{"-dev", "--ui-addr", "127.0.0.1:0", "--retry-base", "10s"}, map[string]string{"REDIS_URL": r.URL,
		"PROVIDER_LOGIN_NAME": "acme-billing", "PROVIDER_LOGIN_PASSWORD": "real-password"})
	var uiURL string
	waitFor(t, "the banner", 10*time.Second, func() bool {
		for _, line := range strings.Split(stdout.String(), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "UI" {
				uiURL = f[1]
			}
		}
		return uiURL != ""
	})
	insp := asynq.NewInspector(r.Opt)
	defer insp.Close()
	waitFor(t, "demo tasks in every state", 15*time.Second, func() bool {
		q, err := insp.GetQueueInfo("default")
		return err == nil && q.Completed >= 1 && q.Archived == 2 && q.Scheduled >= 1 && q.Retry >= 1
	})
	resp, err := http.Get(uiURL + "api/queues")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"archived":2`) {
		t.Errorf("UI api/queues: %d %s", resp.StatusCode, body)
	}
	// Every demo task names an account only -dev knows: left in a shared Redis, a worker of a
	// real deployment dead-letters them without calling its provider.
	n := 0
	for _, state := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		insp.ListPendingTasks, insp.ListActiveTasks, insp.ListScheduledTasks, insp.ListRetryTasks, insp.ListArchivedTasks, insp.ListCompletedTasks,
	} {
		infos, err := state("default")
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			n++
			var p struct{ Account string }
			if err := json.Unmarshal(info.Payload, &p); err != nil || p.Account != demoAccount {
				t.Errorf("demo task %s names account %q (%v), want %q", info.ID, p.Account, err, demoAccount)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d demo tasks, want 5", n)
	}
	// The warning is logged before the worker takes a task.
	logs := stderr.String()
	warn, started := strings.Index(logs, "-dev with REDIS_URL set"), strings.Index(logs, "worker started")
	if warn < 0 || started < 0 || warn > started {
		t.Errorf("no warning before the worker starts:\n%s", logs)
	}
	out := stdout.String()
	// REDIS_URL is set, so the banner names the test's Redis rather than an embedded one.
	for _, want := range []string{"dev mode", "Redis     " + r.URL, "fake", "900003", "accounts default call it with its demo login",
		"WARNING   REDIS_URL is set: every task waiting in its queues", "(with the same REDIS_URL)"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// --help is asked for: the usage goes to stdout, and nothing to stderr.
func TestHelpGoesToStdout(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"worker", "--help"}, envOf(nil), &stdout, &stderr)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stdout.String(), "Usage: worker") || stderr.Len() != 0 {
		t.Errorf("run --help = %v; stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
}

// A signal while the worker waits for a Redis that does not answer stops it before it starts,
// without an error: it is no failure to reach Redis.
func TestSignalWhileWaitingForRedis(t *testing.T) {
	t.Parallel()
	// Accepts connections and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	var errOut syncbuf.Buffer
	start := time.Now()
	err = run(ctx, []string{"worker"}, envOf(map[string]string{
		"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "REDIS_URL": "redis://" + l.Addr().String() + "/0",
	}), io.Discard, &errOut)
	if err != nil {
		t.Fatalf("run = %v, want nil: a signal during start is no failure", err)
	}
	// The signal is acted on, not the ping's 5 s timeout waited out (go-redis does not give up
	// a read when its context ends).
	if took := time.Since(start); took >= 5*time.Second {
		t.Errorf("run returned %s after start, not at the signal", took.Round(time.Millisecond))
	}
	if !strings.Contains(errOut.String(), "stopped before starting") {
		t.Errorf("log does not say why the worker stopped:\n%s", errOut.String())
	}
}

// TestEchoedPersonalDataIsMasked: an answer that quotes the task's own phone number or e-mail
// address back, in a form the patterns alone miss (no leading +, letters beyond ASCII), shows
// neither in the call's log line nor in the dead letter's.
func TestEchoedPersonalDataIsMasked(t *testing.T) {
	t.Parallel()
	r, fake, stderr, stop := runWithFake(t, []string{"--poll-interval", "50ms"}, nil)
	const phone, email = "020-7946-0958", "jöe.smith@exämple.de"
	fake.Script("33", providertest.Answer{Code: providertest.CodeInvalidArgument, Item: "phoneNumber",
		Message: "bad number " + phone + " (or 02079460958) for " + email})
	c := asynq.NewClient(r.Opt)
	defer c.Close()
	task, opts, err := tasks.NewOVCallbackTask(tasks.OVCallbackPayload{OrderNumber: "33", Action: provider.ActionReplacePhone, PhoneNumber: phone, EmailAddress: email})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter's log line", 15*time.Second, func() bool { return strings.Contains(stderr.String(), `"message":"dead-lettered"`) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	logs := stderr.String()
	if !strings.Contains(logs, `"errorMessage":"bad number ***-58 (or ***-58) for j***@exämple.de"`) {
		t.Errorf("logs lack the masked answer:\n%s", logs)
	}
	// Without the values that are numbers of their own and may hold the digits by chance (the
	// dead-letter record's entry ID is a time in ms; the start line has random ports).
	scrubbed := regexp.MustCompile(`"(entry|config|time)":"[^"]*"`).ReplaceAllString(logs, "")
	for _, personal := range []string{"7946", "0958", "jöe.smith"} {
		if strings.Contains(scrubbed, personal) {
			t.Errorf("logs contain %q:\n%s", personal, logs)
		}
	}
}

// rediss:// to a plain Redis, which waits for the rest of a command that the TLS greeting never
// ends: the timeout says what to look at.
func TestTLSToAPlainRedis(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(t.Context(), []string{"worker"}, envOf(map[string]string{
		"PROVIDER_LOGIN_NAME": "a", "PROVIDER_LOGIN_PASSWORD": "b", "REDIS_URL": "rediss://" + l.Addr().String() + "/0",
	}), io.Discard, io.Discard)
	if want := "does the server take TLS on this port?"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("rediss:// without an answer: %v, want it to say %q", err, want)
	}
}

// The same SIGTERM sent twice at once, to the process and to its group as coreutils timeout
// does, is one request to stop gracefully; the same signal after the window, or another signal
// at once, is the second signal that stops the process.
func TestSecondSignal(t *testing.T) { // not parallel: it signals the process
	exits := make(chan int, 1)
	exitNow = func(code int) { exits <- code }
	t.Cleanup(func() { exitNow = os.Exit })
	kill := func(s syscall.Signal) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		second syscall.Signal
		after  time.Duration
		exits  bool
	}{
		{"a copy at once", syscall.SIGTERM, 0, false},
		{"the same, later", syscall.SIGTERM, 2 * sameSignalWindow, true},
		{"another, at once", syscall.SIGINT, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, stop := stopOnSignal()
			defer stop()
			kill(syscall.SIGTERM)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the first SIGTERM did not end the context")
			}
			// Sent once the first has been taken: two pending SIGTERMs merge in the kernel.
			time.Sleep(tt.after)
			kill(tt.second)
			select {
			case code := <-exits:
				switch {
				case !tt.exits:
					t.Errorf("exit(%d); want no exit", code)
				case code != 1:
					t.Errorf("exit(%d); want exit(1)", code)
				}
			case <-time.After(3 * sameSignalWindow):
				if tt.exits {
					t.Error("no exit at the second signal")
				}
			}
		})
	}
}

// TestWaitsForRedisLoading: a Redis that answers LOADING at start (a restart reading a large
// AOF) is waited for, and so is a spell without any answer while it loads; the worker starts
// once it has loaded, and does not exit.
func TestWaitsForRedisLoading(t *testing.T) {
	t.Parallel()
	backend := miniredis.RunT(t)
	var mode atomic.Int32 // proxyLoading, then proxySilent, proxyLoading again, proxyPass
	addr := loadingProxy(t, backend.Addr(), &mode)
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	_, stderr, stop := runWorker(t, nil, map[string]string{
		"REDIS_URL": "redis://" + addr + "/0", "PROVIDER_URL": fake.URL,
		"PROVIDER_LOGIN_NAME": providertest.DefaultLoginName, "PROVIDER_LOGIN_PASSWORD": providertest.DefaultLoginPassword,
	})
	waitFor(t, "the worker to say it waits", 10*time.Second, func() bool { return strings.Contains(stderr.String(), "Redis is loading") })
	mode.Store(proxySilent)
	waitFor(t, "a ping without an answer", 20*time.Second, func() bool { return strings.Contains(stderr.String(), "did not answer") })
	mode.Store(proxyLoading)
	time.Sleep(1500 * time.Millisecond) // a ping or two more while loading
	if strings.Contains(stderr.String(), "worker started") {
		t.Fatalf("the worker started while Redis was loading:\n%s", stderr.String())
	}
	mode.Store(proxyPass)
	waitFor(t, "the worker to start once Redis has loaded", 15*time.Second, func() bool { return strings.Contains(stderr.String(), "worker started") })
	if err := stop(); err != nil {
		t.Fatalf("run = %v after cancel, want nil", err)
	}
}

const (
	proxyLoading = iota // every command is answered LOADING
	proxySilent         // no command is answered
	proxyPass           // connections go through to the backend
)

// loadingProxy listens on loopback and answers every command as mode says: LOADING, nothing,
// or, once mode is proxyPass, by passing the connection through to backend.
func loadingProxy(t *testing.T, backend string, mode *atomic.Int32) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	keep := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			keep(c)
			go func() {
				br := bufio.NewReader(c)
				for {
					raw, err := readCommand(br)
					if err != nil {
						return
					}
					switch mode.Load() {
					case proxyLoading:
						if _, err := io.WriteString(c, "-LOADING Redis is loading the dataset in memory\r\n"); err != nil {
							return
						}
						continue
					case proxySilent:
						continue
					}
					b, err := net.Dial("tcp", backend)
					if err != nil {
						return
					}
					keep(b)
					if _, err := b.Write(raw); err != nil {
						return
					}
					go func() { _, _ = io.Copy(b, br) }()
					_, _ = io.Copy(c, b)
					return
				}
			}()
		}
	}()
	return l.Addr().String()
}

// readCommand reads one RESP command (an array of bulk strings, or an inline line) and
// returns its bytes.
func readCommand(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadBytes('\n')
	if err != nil || len(line) == 0 || line[0] != '*' {
		return line, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(line[1:])))
	if err != nil {
		return nil, err
	}
	raw := line
	for range n {
		hdr, err := br.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(string(hdr[1:])))
		if err != nil {
			return nil, err
		}
		body := make([]byte, size+2)
		if _, err := io.ReadFull(br, body); err != nil {
			return nil, err
		}
		raw = append(append(raw, hdr...), body...)
	}
	return raw, nil
}

// TestRedisUserWithoutTheWorkersKeys: a Redis ACL user that may use asynq's keys but not the
// worker's own stops the worker at start with a line that says which to grant, rather than
// leave every task put back every few seconds, forever, without a call. A user granted what
// the line (and the README) lists starts.
func TestRedisUserWithoutTheWorkersKeys(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	if !r.Real {
		t.Skip("the embedded Redis has no ACLs; runs with TEST_REDIS_URL")
	}
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	readme := []string{"~asynq:*", "~ovqueue:*", "&asynq:cancel", "&ovqueue:cooldowns:*"}
	for _, tt := range []struct {
		name   string
		grants []string
		rate   string // PROVIDER_RATE
		ok     bool
	}{
		{"asynq's keys only", []string{"~asynq:*", "&*"}, "", false},
		{"what the README lists", readme, "", true},
		{"what the README lists, PROVIDER_RATE set", append(slices.Clone(readme), "~rate:ovqueue:*"), "5", true},
		{"PROVIDER_RATE set, without its keys", readme, "5", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			user := "ovqueue-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			args := append([]any{"ACL", "SETUSER", user, "reset", "on", ">s3cret-pw", "+@all"}, anySlice(tt.grants)...)
			if err := r.Client.Do(t.Context(), args...).Err(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Client.Do(context.Background(), "ACL", "DELUSER", user).Err() })
			env := map[string]string{
				"REDIS_URL": strings.Replace(r.URL, "redis://", "redis://"+user+":s3cret-pw@", 1), "PROVIDER_URL": fake.URL,
				"PROVIDER_LOGIN_NAME": providertest.DefaultLoginName, "PROVIDER_LOGIN_PASSWORD": providertest.DefaultLoginPassword,
				"PROVIDER_RATE": tt.rate,
			}
			if tt.ok {
				_, stderr, stop := runWorker(t, nil, env)
				waitFor(t, "the worker to start", 15*time.Second, func() bool { return strings.Contains(stderr.String(), "worker started") })
				time.Sleep(time.Second) // asynq's subscriber (cancels from the UI) and the cooldowns' are up
				if err := stop(); err != nil {
					t.Fatalf("run = %v", err)
				}
				if strings.Contains(stderr.String(), "NOPERM") {
					t.Errorf("Redis refused the user something:\n%s", stderr.String())
				}
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var stderr syncbuf.Buffer
			err := run(ctx, []string{"worker"}, envOf(env), io.Discard, &stderr)
			if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "REDIS_URL") ||
				!strings.Contains(err.Error(), "~ovqueue:*") || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("run = %v; want a configuration error naming REDIS_URL, the keys to grant and Redis's refusal", err)
			}
			if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(stderr.String(), "s3cret-pw") {
				t.Errorf("the password is shown: %v", err)
			}
		})
	}
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
