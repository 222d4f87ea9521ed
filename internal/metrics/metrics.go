// Package metrics exposes the worker to Prometheus: the provider calls it makes, the time
// tasks wait on rate limits, dead letters, and the size and latency of each queue (read from
// Redis at scrape time, so any one worker's /metrics shows the whole fleet's queues). It also
// serves /healthz (the process is up) and /readyz (Redis answers).
package metrics

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/tasks"
)

const namespace = "ovqueue"

// readyTimeout bounds how long /readyz waits for Redis to answer.
const readyTimeout = 2 * time.Second

// Metrics holds the worker's collectors. It implements handler.Observer.
type Metrics struct {
	reg          *prometheus.Registry
	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	waits        *prometheus.CounterVec
	waitSeconds  *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	unrecorded   *prometheus.CounterVec
	rdb          redis.UniversalClient
}

var _ handler.Observer = (*Metrics)(nil)

// New registers every collector; queues are read through insp on each scrape.
func New(rdb redis.UniversalClient, insp *asynq.Inspector, queues []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rdb: rdb,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "provider_calls_total",
			Help: "Provider calls by endpoint and outcome: the errorCode, or http_<status>, no_code, transport.",
		}, []string{"endpoint", "code"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "provider_call_duration_seconds",
			Help:    "Duration of provider calls.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limit_waits_total",
			Help: "Times a task waited or was rescheduled because of a limit: reason cooldown (after -42) or rate (PROVIDER_RATE).",
		}, []string{"account", "reason"}),
		waitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "rate_limit_wait_seconds_total",
			Help: "Time tasks waited, or were rescheduled for, because of a limit.",
		}, []string{"account", "reason"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dead_letters_total",
			Help: "Tasks dead-lettered by this process, by type and reason.",
		}, []string{"type", "reason"}),
		unrecorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dead_letters_unrecorded_total",
			Help: "Dead letters whose record the worker gave up, by type and reason, each on a 'dead letter not recorded' log line: Redis refused it (the task is archived without it), or was away as the worker stopped (the task runs again, and may be recorded then).",
		}, []string{"type", "reason"}),
	}
	m.reg.MustRegister(m.calls, m.callDuration, m.waits, m.waitSeconds, m.deadLetters, m.unrecorded,
		&queueCollector{insp: insp, queues: queues},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ProviderCall counts one provider call.
func (m *Metrics) ProviderCall(endpoint, code string, d time.Duration) {
	m.calls.WithLabelValues(endpoint, code).Inc()
	m.callDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// RateLimitWait counts a wait on a limit.
func (m *Metrics) RateLimitWait(account, reason string, d time.Duration) {
	m.waits.WithLabelValues(account, reason).Inc()
	m.waitSeconds.WithLabelValues(account, reason).Add(d.Seconds())
}

// DeadLettered counts a dead-lettered task whose record was appended.
func (m *Metrics) DeadLettered(r deadletter.Record) {
	m.deadLetters.WithLabelValues(typeLabel(r.Type), r.Reason).Inc()
}

// DeadLetterUnrecorded counts a dead letter whose record Redis did not take.
func (m *Metrics) DeadLetterUnrecorded(r deadletter.Record) {
	m.unrecorded.WithLabelValues(typeLabel(r.Type), r.Reason).Inc()
}

// typeLabel is a task type as a label value. A type no worker runs counts as "other": any
// producer can invent types, and each would otherwise be a series of its own.
func typeLabel(typ string) string {
	if typ != tasks.TypeOVCallbackUpdate && typ != tasks.TypeLicenceModify {
		return "other"
	}
	return typ
}

// Handler serves /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		// asynq's client does not end a command at its context's deadline (go-redis's
		// ContextTimeoutEnabled is off): a Redis that hangs would hold the answer for the
		// client's read timeout, past a probe's own timeout. Answer at the deadline.
		done := make(chan error, 1)
		go func() { done <- m.rdb.Ping(ctx).Err() }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			http.Error(w, "redis: unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// queueCollector reads each queue's state from Redis when Prometheus scrapes.
type queueCollector struct {
	insp   *asynq.Inspector
	queues []string
}

var (
	queueSizeDesc = prometheus.NewDesc(namespace+"_queue_tasks",
		"Tasks in a queue by state (pending, active, scheduled, retry, archived, completed).", []string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc(namespace+"_queue_latency_seconds",
		"Age of the oldest pending task in a queue.", []string{"queue"}, nil)
	queuePausedDesc = prometheus.NewDesc(namespace+"_queue_paused",
		"1 when the queue is paused.", []string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc(namespace+"_queue_processed_today",
		"Tasks processed (succeeded or failed) today, as asynq counts them.", []string{"queue"}, nil)
	queueFailedDesc = prometheus.NewDesc(namespace+"_queue_failed_today",
		"Task runs that failed today, as asynq counts them.", []string{"queue"}, nil)
	scrapeErrorDesc = prometheus.NewDesc(namespace+"_queue_scrape_error",
		"1 when the queue could not be read from Redis on this scrape.", []string{"queue"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueSizeDesc, queueLatencyDesc, queuePausedDesc, queueProcessedDesc, queueFailedDesc, scrapeErrorDesc} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	// A queue that has never held a task does not exist yet: it is empty, not an error.
	// (GetQueueInfo's not-found error does not wrap asynq.ErrQueueNotFound, so ask first.)
	known, err := c.insp.Queues()
	if err != nil {
		for _, q := range c.queues {
			ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1, q)
		}
		return
	}
	for _, q := range c.queues {
		var info *asynq.QueueInfo
		if !slices.Contains(known, q) {
			info = &asynq.QueueInfo{Queue: q}
		} else if info, err = c.insp.GetQueueInfo(q); err != nil {
			ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 1, q)
			continue
		}
		ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, 0, q)
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			ch <- prometheus.MustNewConstMetric(queueSizeDesc, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(queueLatencyDesc, prometheus.GaugeValue, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(queuePausedDesc, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.GaugeValue, float64(info.Processed), q)
		ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.GaugeValue, float64(info.Failed), q)
	}
}
