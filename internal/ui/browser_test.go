package ui_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/internal/ui"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// chromiumPath is where Debian's chromium package (which .ci/run installs) puts the browser.
const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test when there is no browser to drive, except in CI (CI=true), where
// a missing browser is a broken pipeline and fails the test.
func needChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test: %s is missing in CI (install Debian's chromium): %v", chromiumPath, err)
		}
		t.Skipf("browser test: %s not found; install chromium to run it", chromiumPath)
	}
}

// startWorker runs the worker's machinery as cmd/worker wires it (handlers, fleet limiter,
// dead-letter record, asynq server) against the fake provider, until the test ends.
func startWorker(t *testing.T, r *redistest.Redis, fake *providertest.Server) {
	t.Helper()
	pc, err := provider.New(fake.URL, provider.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	h, err := handler.New(handler.Config{
		Client: pc, Accounts: map[string]provider.Credentials{tasks.DefaultAccount: creds},
		Fleet: ratelimit.New(r.Client, time.Second, 0), Logger: log, RateLimitMaxWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{
		Redis: r.Client, Handlers: h, DeadLetters: deadletter.New(r.Client),
		Retry:       retry.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond},
		Concurrency: 4, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Shutdown()
		<-w.Stopped() // before the Redis client closes: asynq panics if it closes under it
	})
}

// TestBrowserShowsQueuesAndDeadLetters drives headless Chromium through the embedded asynqmon,
// with a worker that has completed tasks in both queues and dead-lettered one on a permanent
// provider error.
func TestBrowserShowsQueuesAndDeadLetters(t *testing.T) {
	needChromium(t)
	t.Parallel()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	r := redistest.New(t)
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.Script("424242", providertest.Answer{Code: providertest.CodeInvalidArgument, Item: "product"})
	startWorker(t, r, fake)

	client := asynq.NewClientFromRedisClient(r.Client)
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	enqueue := func(order tasks.Int, opts ...tasks.Option) *asynq.TaskInfo {
		t.Helper()
		task, o, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: order, Product: 700, Action: provider.ActionCancelLicence}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		info, err := client.Enqueue(task, o...)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	ok := enqueue(424241)
	dead := enqueue(424242)
	back := enqueue(424243, tasks.Queue(tasks.QueueBackfill))
	for _, w := range []struct {
		info  *asynq.TaskInfo
		state asynq.TaskState
	}{{ok, asynq.TaskStateCompleted}, {dead, asynq.TaskStateArchived}, {back, asynq.TaskStateCompleted}} {
		for {
			got, err := insp.GetTaskInfo(w.info.Queue, w.info.ID)
			if err == nil && got.State == w.state {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("task %s did not become %s (now %v, %v)", w.info.ID, w.state, got, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	const user, pass = "operator", "correct horse battery"
	base := serve(t, r, ui.Options{User: user, Password: pass})

	// Without credentials: 401 and a challenge, not the app.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/queues/default?status=archived", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("no credentials: %d, WWW-Authenticate %q; want 401 with a Basic challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	browser := newBrowser(t, ctx, user, pass)

	// The dashboard lists both queues, each linking to its page.
	home := pageText(t, browser, base+"/", "default", "backfill")
	for _, q := range tasks.Queues {
		sel := `a[href="/queues/` + q + `"]`
		links, err := chromedp.Run(browser, chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll('`+sel+`')).map(a => a.textContent.trim())`))
		if err != nil {
			t.Fatalf("queue %s: no link on the dashboard: %v\npage:\n%s", q, err, home)
		}
		if len(links) == 0 || links[0] != q {
			t.Errorf("queue %s: links %q", q, links)
		}
	}

	// The archived tab of queue default shows the dead letter with the provider's error.
	archived := pageText(t, browser, base+"/queues/default?status=archived", dead.ID, "errorCode -4")
	if strings.Contains(archived, ok.ID) {
		t.Errorf("the completed task %s is listed among the archived ones", ok.ID)
	}
	// The task's own page shows its full last error, with the offending field.
	pageText(t, browser, base+"/queues/default/tasks/"+dead.ID, dead.ID, "archived", "errorCode -4", "errorItem product")
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// newBrowser starts headless Chromium until ctx ends or the test does, sending basic auth
// with every request, as a browser does once its user has logged in.
func newBrowser(t *testing.T, ctx context.Context, user, pass string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	if _, err := chromedp.Call(browser, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(browser, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": auth},
	}); err != nil {
		t.Fatalf("set the Authorization header: %v", err)
	}
	return browser
}

// TestBrowserRefusesAnotherSitesForm: a page of another site (another port of the same host)
// that a logged-in operator opens submits a form to the UI's API to pause a queue. The browser
// sends the UI's credentials with it; the UI refuses it. The UI's own page can still pause the
// queue, as its button does.
func TestBrowserRefusesAnotherSitesForm(t *testing.T) {
	needChromium(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := redistest.New(t)
	client := asynq.NewClientFromRedisClient(r.Client)
	task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: 424250, Product: 700, Action: provider.ActionCancelLicence})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(task, append(opts, asynq.ProcessIn(time.Hour))...); err != nil { // the queue exists
		t.Fatal(err)
	}
	paused := func() bool { return queuePaused(t, r) }

	const user, pass = "operator", "correct horse battery"
	base := serve(t, r, ui.Options{User: user, Password: pass})
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<form id="f" method="POST" enctype="text/plain" action="` + base + `/api/queues/default:pause">` +
			`<input name="x" value="y"></form><script>document.getElementById("f").submit()</script>`))
	}))
	t.Cleanup(evil.Close)
	browser := newBrowser(t, ctx, user, pass)

	// The form is submitted, and the browser shows the UI's answer to it.
	pageText(t, browser, evil.URL+"/", "cross-origin request refused")
	if paused() {
		t.Fatal("another site's form paused queue default")
	}

	// The UI's own page takes the same action.
	pageText(t, browser, base+"/", "default")
	status, err := chromedp.Run(browser, chromedp.Evaluate[int](
		`fetch("/api/queues/default:pause", {method: "POST"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status < 200 || status > 299 || !paused() {
		t.Fatalf("the UI's own page: pause answered %d (%v), paused %v; want it paused", status, err, paused())
	}
}

// pageText opens url and polls the page's text until it holds every one of wants (the UI is a
// single-page app that fills itself in from the API), failing the test when the browser's
// time runs out.
func pageText(t *testing.T, browser context.Context, url string, wants ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	var text string
	for {
		var err error
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		missing := ""
		for _, w := range wants {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if err == nil && missing == "" {
			return text
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %q never appeared (last error %v); page text:\n%s", url, missing, err, text)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
