package metrics_test

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/metrics"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// serve builds the metrics for rdb and queues and serves their handler.
func serve(t *testing.T, rdb redis.UniversalClient, queues []string) (*metrics.Metrics, string) {
	t.Helper()
	m := metrics.New(rdb, asynq.NewInspectorFromRedisClient(rdb), queues)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape fetches /metrics, which must succeed.
func scrape(t *testing.T, base string) string {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	return body
}

// sample returns the value of one series, written as Prometheus prints it
// (`name{a="x",b="y"}`, labels in alphabetical order), and whether it is there.
func sample(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}

func wantSample(t *testing.T, body, series string, want float64) {
	t.Helper()
	got, ok := sample(body, series)
	if !ok {
		t.Errorf("no series %s in /metrics", series)
		return
	}
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", series, got, want)
	}
}

// unreachable is a Redis client for an address where nothing listens.
func unreachable(t *testing.T) redis.UniversalClient {
	t.Helper()
	// A privileged port no test binds (a closed :0 listener's port may be taken again by a
	// parallel test).
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	// /healthz says the process is up: it answers even when Redis does not.
	_, base := serve(t, unreachable(t), tasks.Queues)
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz: %d %q, want 200 ok", code, body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	t.Run("redis up, then gone", func(t *testing.T) {
		t.Parallel()
		r := redistest.New(t)
		_, base := serve(t, r.Client, tasks.Queues)
		if code, body := get(t, base+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz with Redis up: %d %q, want 200", code, body)
		}
		if r.Mini == nil {
			t.Skip("a real Redis cannot be stopped from here; the unreachable case covers it")
		}
		r.Mini.Close()
		if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz after Redis stopped: %d %q, want 503", code, body)
		}
	})
	t.Run("redis silent", func(t *testing.T) {
		t.Parallel()
		// A Redis that takes the connection and never answers: the client's own read timeout
		// (a minute here) would hold /readyz past any probe's timeout; it answers at its own.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		c := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
		t.Cleanup(func() { _ = c.Close() })
		_, base := serve(t, c, tasks.Queues)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("/readyz did not answer while Redis stayed silent: %v", err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/readyz: %d, want 503", resp.StatusCode)
		}
	})
	t.Run("redis unreachable", func(t *testing.T) {
		t.Parallel()
		_, base := serve(t, unreachable(t), tasks.Queues)
		code, body := get(t, base+"/readyz")
		if code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz: %d %q, want 503", code, body)
		}
		if strings.Contains(body, "127.0.0.1") {
			t.Errorf("/readyz tells strangers where Redis is: %q", body)
		}
	})
}

func TestQueueGauges(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	c := asynq.NewClientFromRedisClient(r.Client)
	const pending, scheduled = 3, 2
	for i := range pending + scheduled {
		task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: tasks.Int(7000 + i), Product: 1061, Action: provider.ActionCancelLicence})
		if err != nil {
			t.Fatal(err)
		}
		if i >= pending {
			opts = append(opts, asynq.ProcessIn(time.Hour))
		}
		if _, err := c.Enqueue(task, opts...); err != nil {
			t.Fatal(err)
		}
	}
	// backfill and ghost have never held a task: asynq does not know them at all.
	_, base := serve(t, r.Client, []string{tasks.QueueDefault, tasks.QueueBackfill, "ghost"})
	body := scrape(t, base)

	wantSample(t, body, `ovqueue_queue_tasks{queue="default",state="pending"}`, pending)
	wantSample(t, body, `ovqueue_queue_tasks{queue="default",state="scheduled"}`, scheduled)
	wantSample(t, body, `ovqueue_queue_tasks{queue="default",state="archived"}`, 0)
	wantSample(t, body, `ovqueue_queue_scrape_error{queue="default"}`, 0)
	if v, ok := sample(body, `ovqueue_queue_latency_seconds{queue="default"}`); !ok || v < 0 {
		t.Errorf("queue latency of default: %v, %v", v, ok)
	}
	for _, q := range []string{tasks.QueueBackfill, "ghost"} {
		for _, state := range []string{"pending", "active", "scheduled", "retry", "archived", "completed"} {
			wantSample(t, body, `ovqueue_queue_tasks{queue="`+q+`",state="`+state+`"}`, 0)
		}
		wantSample(t, body, `ovqueue_queue_scrape_error{queue="`+q+`"}`, 0)
		wantSample(t, body, `ovqueue_queue_paused{queue="`+q+`"}`, 0)
	}

	// A task more shows on the next scrape: the gauges are read from Redis each time.
	task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: 7999, Product: 1061, Action: provider.ActionCancelLicence}, tasks.Queue(tasks.QueueBackfill))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(task, opts...); err != nil {
		t.Fatal(err)
	}
	body = scrape(t, base)
	wantSample(t, body, `ovqueue_queue_tasks{queue="backfill",state="pending"}`, 1)
	wantSample(t, body, `ovqueue_queue_tasks{queue="default",state="pending"}`, pending)
}

func TestQueueGaugesWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	// Redis being down is a scrape error, not a fleet of empty queues.
	_, base := serve(t, unreachable(t), tasks.Queues)
	body := scrape(t, base)
	for _, q := range tasks.Queues {
		wantSample(t, body, `ovqueue_queue_scrape_error{queue="`+q+`"}`, 1)
		if _, ok := sample(body, `ovqueue_queue_tasks{queue="`+q+`",state="pending"}`); ok {
			t.Errorf("queue %s reported as a size while Redis is down", q)
		}
	}
}

func TestObserverCounters(t *testing.T) {
	t.Parallel()
	m, base := serve(t, unreachable(t), nil)
	const ep = "!modifyThirdPartyDetails"
	m.ProviderCall(ep, "-42", 300*time.Millisecond)
	m.ProviderCall(ep, "-42", 200*time.Millisecond)
	m.ProviderCall(ep, "0", 50*time.Millisecond)
	m.ProviderCall("!UpdateUserOvCallback", "http_503", 2*time.Second)
	m.RateLimitWait("default", "cooldown", 2*time.Second)
	m.RateLimitWait("default", "cooldown", 500*time.Millisecond)
	m.RateLimitWait("eu", "rate", 250*time.Millisecond)
	m.DeadLettered(deadletter.Record{TaskID: "licence:modify:1:x", Type: tasks.TypeLicenceModify, Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4)})
	m.DeadLettered(deadletter.Record{TaskID: "licence:modify:2:x", Type: tasks.TypeLicenceModify, Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-16)})
	m.DeadLettered(deadletter.Record{TaskID: "ovcallback:update:3:x", Type: tasks.TypeOVCallbackUpdate, Reason: deadletter.ReasonRetriesSpent})
	m.DeadLettered(deadletter.Record{TaskID: "junk:1:x", Type: "junk:1", Reason: deadletter.ReasonUnknownType})
	m.DeadLettered(deadletter.Record{TaskID: "junk:2:x", Type: "junk:2", Reason: deadletter.ReasonUnknownType})
	m.DeadLetterUnrecorded(deadletter.Record{TaskID: "licence:modify:5:x", Type: tasks.TypeLicenceModify, Reason: deadletter.ReasonPermanent})
	m.DeadLetterUnrecorded(deadletter.Record{TaskID: "junk:3:x", Type: "junk:3", Reason: deadletter.ReasonUnknownType})
	body := scrape(t, base)

	wantSample(t, body, `ovqueue_provider_calls_total{code="-42",endpoint="!modifyThirdPartyDetails"}`, 2)
	wantSample(t, body, `ovqueue_provider_calls_total{code="0",endpoint="!modifyThirdPartyDetails"}`, 1)
	wantSample(t, body, `ovqueue_provider_calls_total{code="http_503",endpoint="!UpdateUserOvCallback"}`, 1)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_count{endpoint="!modifyThirdPartyDetails"}`, 3)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_sum{endpoint="!modifyThirdPartyDetails"}`, 0.55)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_bucket{endpoint="!modifyThirdPartyDetails",le="0.1"}`, 1)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_bucket{endpoint="!modifyThirdPartyDetails",le="0.25"}`, 2)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_bucket{endpoint="!modifyThirdPartyDetails",le="+Inf"}`, 3)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_bucket{endpoint="!UpdateUserOvCallback",le="1"}`, 0)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_bucket{endpoint="!UpdateUserOvCallback",le="2.5"}`, 1)
	wantSample(t, body, `ovqueue_rate_limit_waits_total{account="default",reason="cooldown"}`, 2)
	wantSample(t, body, `ovqueue_rate_limit_wait_seconds_total{account="default",reason="cooldown"}`, 2.5)
	wantSample(t, body, `ovqueue_rate_limit_waits_total{account="eu",reason="rate"}`, 1)
	wantSample(t, body, `ovqueue_rate_limit_wait_seconds_total{account="eu",reason="rate"}`, 0.25)
	wantSample(t, body, `ovqueue_dead_letters_total{reason="permanent",type="licence:modify"}`, 2)
	wantSample(t, body, `ovqueue_dead_letters_total{reason="retries-exhausted",type="ovcallback:update"}`, 1)
	wantSample(t, body, `ovqueue_dead_letters_total{reason="unknown-type",type="other"}`, 2)
	wantSample(t, body, `ovqueue_dead_letters_unrecorded_total{reason="permanent",type="licence:modify"}`, 1)
	wantSample(t, body, `ovqueue_dead_letters_unrecorded_total{reason="unknown-type",type="other"}`, 1)
	if strings.Contains(body, `type="junk:`) {
		t.Error("an unknown task type became a label value")
	}
	// Task IDs and error codes would make a series per task: they are not labels.
	if strings.Contains(body, "licence:modify:1:x") {
		t.Error("a task ID became a label")
	}
}

// TestWorkerFeedsMetrics wires the metrics the way cmd/worker does (handler Observer and the
// worker's OnDeadLetter) and runs real tasks against the fake provider.
func TestWorkerFeedsMetrics(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	fake.Script("8002", providertest.Answer{Code: -4, Item: "product"})
	m, base := serve(t, r.Client, tasks.Queues)

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
		Fleet: ratelimit.New(r.Client, time.Second, 0), Logger: log, Observer: m, RateLimitMaxWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Options{
		Redis: r.Client, Handlers: h, DeadLetters: deadletter.New(r.Client),
		Retry:       retry.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond},
		Concurrency: 2, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		Logger: log, OnDeadLetter: m.DeadLettered,
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

	c := asynq.NewClientFromRedisClient(r.Client)
	for _, order := range []tasks.Int{8001, 8002} {
		task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: order, Product: 1061, Action: provider.ActionCancelLicence})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Enqueue(task, opts...); err != nil {
			t.Fatal(err)
		}
	}
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		body = scrape(t, base)
		done, _ := sample(body, `ovqueue_queue_tasks{queue="default",state="completed"}`)
		dead, _ := sample(body, `ovqueue_queue_tasks{queue="default",state="archived"}`)
		if done == 1 && dead == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not finish; /metrics:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The dead-letter counter is bumped after asynq archives the task: poll briefly for it.
	for time.Now().Before(deadline) {
		if v, _ := sample(body, `ovqueue_dead_letters_total{reason="permanent",type="licence:modify"}`); v == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
		body = scrape(t, base)
	}
	wantSample(t, body, `ovqueue_provider_calls_total{code="0",endpoint="!modifyThirdPartyDetails"}`, 1)
	wantSample(t, body, `ovqueue_provider_calls_total{code="-4",endpoint="!modifyThirdPartyDetails"}`, 1)
	wantSample(t, body, `ovqueue_provider_call_duration_seconds_count{endpoint="!modifyThirdPartyDetails"}`, 2)
	wantSample(t, body, `ovqueue_dead_letters_total{reason="permanent",type="licence:modify"}`, 1)
	wantSample(t, body, `ovqueue_queue_tasks{queue="default",state="pending"}`, 0)
	if strings.Contains(body, providertest.DefaultLoginPassword) {
		t.Error("/metrics shows the provider password")
	}
}

// TestReadmeNamesEveryMetric holds README.md to what /metrics serves: every ovqueue_ family is
// named there, and every name the README gives (with the labels it lists, `name{a,b}`, or uses
// in a query, `name{a="x"}`) is one the worker serves, with those labels.
func TestReadmeNamesEveryMetric(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	r := redistest.New(t)
	m, base := serve(t, r.Client, tasks.Queues)
	// Counters show once they count something.
	m.ProviderCall("!modifyThirdPartyDetails", "0", time.Millisecond)
	m.RateLimitWait("default", "cooldown", time.Second)
	m.DeadLettered(deadletter.Record{Type: tasks.TypeLicenceModify, Reason: deadletter.ReasonPermanent})
	m.DeadLetterUnrecorded(deadletter.Record{Type: tasks.TypeLicenceModify, Reason: deadletter.ReasonPermanent})
	served := map[string]map[string]bool{} // family -> its label names
	series := regexp.MustCompile(`^(ovqueue_[a-z_]+)(?:\{([^}]*)\})? `)
	for _, line := range strings.Split(scrape(t, base), "\n") {
		sm := series.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		name := sm[1]
		if strings.HasSuffix(name, "_seconds_bucket") || strings.HasSuffix(name, "_seconds_sum") || strings.HasSuffix(name, "_seconds_count") {
			name = name[:strings.LastIndex(name, "_")]
		}
		if served[name] == nil {
			served[name] = map[string]bool{}
		}
		for _, pair := range strings.Split(sm[2], ",") {
			if label, _, ok := strings.Cut(pair, "="); ok && label != "le" {
				served[name][label] = true
			}
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d ovqueue_ families scraped: %v", len(served), served)
	}

	named := map[string]bool{}
	mention := regexp.MustCompile(`(ovqueue_[a-z_]*[a-z])(\{[^}]*\})?`)
	for _, sm := range mention.FindAllStringSubmatch(string(readme), -1) {
		// Every ovqueue_ word is a metric: Redis keys and channels are ovqueue:...
		name := sm[1]
		named[name] = true
		labels, ok := served[name]
		if !ok {
			t.Errorf("README.md names %s, which /metrics does not serve", sm[0])
			continue
		}
		given := map[string]bool{}
		query := strings.ContainsAny(sm[2], "=~")
		for _, part := range strings.Split(strings.Trim(sm[2], "{}"), ",") {
			label := part
			if i := strings.IndexAny(part, "=!~"); i >= 0 {
				label = part[:i]
			}
			if label = strings.TrimSpace(label); label != "" {
				given[label] = true
			}
		}
		for label := range given {
			if !labels[label] {
				t.Errorf("README.md gives %s a label %q it does not have (it has %v)", sm[0], label, labels)
			}
		}
		// A list of the labels (name{a,b}) lists them all; a query (name{a="x"}) uses some.
		if sm[2] != "" && !query && len(given) != len(labels) {
			t.Errorf("README.md lists %s; the metric's labels are %v", sm[0], labels)
		}
	}
	for name := range served {
		if !named[name] {
			t.Errorf("/metrics serves %s, which README.md does not name", name)
		}
	}
}
