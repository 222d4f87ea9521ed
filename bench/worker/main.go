// Command worker-bench measures what the ovqueue worker costs next to a bare asynq server, on
// one real Redis on loopback, and prints the figures that BENCHMARKS.md records:
//
//   - throughput: N tasks through the worker binary (each a provider call to the fake
//     provider, which answers at once) against a bare asynq server whose handler does nothing,
//     and one whose handler makes the same provider call, at the same concurrency, all run as
//     child processes; the rates, the CPU each process spends per task, and the ratio. With
//     -ladder, bare servers that add the worker's steps one at a time: what costs what;
//   - pickup latency: from the enqueue call to the provider call, p50 and p99, at a steady
//     rate and on an idle worker, for each POLL_INTERVAL asked for;
//   - memory: the worker's peak RSS (VmHWM) at concurrency 100 with a backlog of a million
//     tasks, next to a bare asynq server's under the same load.
//   - limit (only with -only limit): a backlog of one provider login under PROVIDER_RATE with
//     another login's tasks queued behind it: the backlog's calls a second against the rate,
//     and how long the other login waits; then the backlog in queue backfill with live tasks
//     of the same login in queue default: the login's rate, and how long each live task
//     waits. For each -limit-poll.
//
// It FLUSHDBs the database it is given (never database 0 unless -force) and holds that
// database's redistest lock meanwhile, so that tests sharing the server leave it alone:
//
//	go run ./bench/worker -redis redis://127.0.0.1:6390/250
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(bareEnv) == "1" {
		if err := runBare(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "bare asynq server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "worker-bench:", err)
		os.Exit(1)
	}
}

// config is what the command line asks for.
type config struct {
	redisURL string
	force    bool
	only     map[string]bool
	worker   string // a worker binary to use instead of building one

	n           int
	concurrency int
	runs        int
	ladder      bool

	rate        int
	steady      time.Duration
	idleSamples int
	polls       []time.Duration

	backlog        int
	rssConcurrency int
	rssDuration    time.Duration
	rssBare        bool

	limitRate    float64
	limitBacklog int
	limitQuiet   int
	limitWindow  time.Duration
	limitMax     time.Duration
	limitPolls   []time.Duration
}

func parse(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	fs := flag.NewFlagSet("worker-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: go run ./bench/worker -redis redis://HOST:PORT/DB [flags]   (the database is flushed)")
		fs.PrintDefaults()
	}
	c := &config{}
	fs.StringVar(&c.redisURL, "redis", getenv("BENCH_REDIS_URL"), "Redis `URL` with the database to use and FLUSH (default $BENCH_REDIS_URL)")
	fs.BoolVar(&c.force, "force", false, "allow database 0")
	only := fs.String("only", "throughput,latency,rss", "which `sections` to run, comma-separated: throughput, latency, rss, limit")
	fs.StringVar(&c.worker, "worker", "", "worker `binary` to measure (default: go build ./cmd/worker)")
	fs.IntVar(&c.n, "n", 20000, "throughput: tasks per run")
	fs.IntVar(&c.concurrency, "concurrency", 20, "throughput, latency and limit: WORKER_CONCURRENCY, and the bare server's concurrency")
	fs.IntVar(&c.runs, "runs", 3, "throughput: runs of each side, alternating")
	fs.BoolVar(&c.ladder, "ladder", false, "throughput: also run the bare server with handlers that add, one at a time, what the worker does (what costs what)")
	fs.IntVar(&c.rate, "rate", 500, "latency: steady enqueue rate, tasks a second")
	fs.DurationVar(&c.steady, "steady", 10*time.Second, "latency: how long to enqueue at the steady rate")
	fs.IntVar(&c.idleSamples, "idle-samples", 50, "latency: tasks enqueued one at a time on an idle worker")
	polls := fs.String("poll", "1s,100ms", "latency: POLL_INTERVAL `values` to measure, comma-separated")
	fs.IntVar(&c.backlog, "backlog", 1_000_000, "memory: tasks waiting in Redis")
	fs.IntVar(&c.rssConcurrency, "rss-concurrency", 100, "memory: WORKER_CONCURRENCY")
	fs.DurationVar(&c.rssDuration, "rss-duration", 60*time.Second, "memory: how long each server works on the backlog")
	fs.BoolVar(&c.rssBare, "rss-bare", true, "memory: also measure a bare asynq server, for comparison")
	fs.Float64Var(&c.limitRate, "limit-rate", 5, "limit: PROVIDER_RATE")
	fs.IntVar(&c.limitBacklog, "limit-backlog", 400, "limit: tasks of the busy login, queued first")
	fs.IntVar(&c.limitQuiet, "limit-quiet", 10, "limit: tasks of the other login, queued behind them; and live tasks of the busy login, enqueued while its backfill drains")
	fs.DurationVar(&c.limitWindow, "limit-window", 30*time.Second, "limit: the busy login's calls counted from its first, for its rate")
	fs.DurationVar(&c.limitMax, "limit-max", time.Minute, "limit: how much longer to wait for the other login's calls")
	limitPolls := fs.String("limit-poll", "1s,5s", "limit: POLL_INTERVAL `values` to measure, comma-separated")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if c.redisURL == "" {
		return nil, fmt.Errorf("-redis or BENCH_REDIS_URL: required, e.g. redis://127.0.0.1:6390/250 (its database is flushed)")
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		switch s = strings.TrimSpace(s); s {
		case "throughput", "latency", "rss", "limit":
			c.only[s] = true
		case "":
		default:
			return nil, fmt.Errorf("-only: unknown section %q: want throughput, latency, rss or limit", s)
		}
	}
	var err error
	if c.polls, err = durations("-poll", *polls); err != nil {
		return nil, err
	}
	if c.limitPolls, err = durations("-limit-poll", *limitPolls); err != nil {
		return nil, err
	}
	switch {
	case !(c.limitRate > 0) || c.limitRate > 1_000_000: // NaN too
		return nil, fmt.Errorf("-limit-rate: a PROVIDER_RATE above 0, at most 1000000, got %g", c.limitRate)
	case c.limitBacklog < 1 || c.limitQuiet < 1:
		return nil, fmt.Errorf("-limit-backlog and -limit-quiet: at least 1 each, got %d and %d", c.limitBacklog, c.limitQuiet)
	case c.limitQuiet >= quietOrders:
		return nil, fmt.Errorf("-limit-quiet: at most %d", quietOrders-1)
	case c.limitBacklog >= quietOrders:
		return nil, fmt.Errorf("-limit-backlog: at most %d", quietOrders-1)
	case c.limitWindow <= 0 || c.limitMax < 0:
		return nil, fmt.Errorf("-limit-window must be positive and -limit-max not negative")
	}
	return c, nil
}

// durations parses a comma-separated list of positive durations.
func durations(name, list string) ([]time.Duration, error) {
	var ds []time.Duration
	for _, s := range strings.Split(list, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive duration", name, s)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	cfg, err := parse(args, getenv, out)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.redisURL, cfg.force)
	if err != nil {
		return err
	}
	defer db.Close()

	tmp, err := os.MkdirTemp("", "worker-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := cfg.worker
	if bin == "" {
		if bin, err = buildWorker(ctx, tmp); err != nil {
			return err
		}
	}
	b := &bench{cfg: cfg, db: db, workerBin: bin, tmp: tmp, out: out}
	b.printMachine(ctx)
	if cfg.only["throughput"] {
		if err := b.throughput(ctx); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if cfg.only["latency"] {
		if err := b.latency(ctx); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	if cfg.only["rss"] {
		if err := b.memory(ctx); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	if cfg.only["limit"] {
		if err := b.limit(ctx); err != nil {
			return fmt.Errorf("limit: %w", err)
		}
	}
	return db.flush(context.WithoutCancel(ctx))
}

// bench is one run of the command.
type bench struct {
	cfg       *config
	db        *database
	workerBin string
	tmp       string // the run's temporary directory: the worker binary, the servers' logs
	out       io.Writer
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }
