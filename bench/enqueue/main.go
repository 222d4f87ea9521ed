// Command enqueue-bench measures `enqueue backfill` against a bare asynq client loop on a real
// Redis, and the CLI's peak memory on a large file:
//
//	BENCH_REDIS_URL=redis://127.0.0.1:6379/15 go run ./bench/enqueue [-rows 100000] [-runs 5]
//	    [-concurrency 64] [-memory-rows 1000000] [-flush] [-enqueue path/to/enqueue]
//
// It EMPTIES the database at BENCH_REDIS_URL (FLUSHDB) before each run and at the end, so it
// refuses a database that holds keys unless -flush says that is fine.
//
// Both sides enqueue the same rows (half licence changes, half callbacks) on the backfill
// queue, with the same concurrency and the same task options: the deterministic task ID, queue,
// retry budget, timeout and retention that package tasks sets. So Redis does the same work for
// each, but for the CLI's look-up of its rows' task IDs in the other queues (asynq's enqueue
// script checks the task's own queue either way): the database starts with queue default
// known, as on a system in use. The bare loop has its tasks built in memory before the clock
// starts: it is the most asynq can do. The CLI is the built binary,
// run as an operator would with stderr not a terminal, and timed from start to exit: reading,
// validating and building every row, then enqueueing. Each run is a pair, one of each, back to
// back on an empty database, in alternating order; the ratio reported is the median of the
// pairs' ratios. CPU time a row (user + system) is printed too: on a busy machine it is
// steadier than the rates. The peak memory is the CLI's peak resident set (VmHWM, sampled from
// /proc while it runs: Linux only).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "enqueue-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	url         string
	rows        int
	runs        int
	concurrency int
	memoryRows  int
	flush       bool
	binary      string
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	var c config
	fs.IntVar(&c.rows, "rows", 100_000, "rows to enqueue in each timed run")
	fs.IntVar(&c.runs, "runs", 5, "timed runs of each side; medians are reported")
	fs.IntVar(&c.concurrency, "concurrency", backfill.DefaultConcurrency, "the CLI's --concurrency, and the bare loop's goroutines")
	fs.IntVar(&c.memoryRows, "memory-rows", 1_000_000, "rows of the peak-memory run (0: skip it)")
	fs.BoolVar(&c.flush, "flush", false, "empty the database even if it holds keys")
	fs.StringVar(&c.binary, "enqueue", "", "the enqueue binary (default: build ./cmd/enqueue)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c.url = getenv("BENCH_REDIS_URL")
	if c.url == "" {
		return errors.New("BENCH_REDIS_URL is not set: give it a Redis database the benchmark may empty, e.g. redis://127.0.0.1:6379/15")
	}
	opt, err := asynq.ParseRedisURI(c.url)
	if err != nil {
		return fmt.Errorf("BENCH_REDIS_URL: %w", err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	if n, err := rdb.DBSize(ctx).Result(); err != nil {
		return fmt.Errorf("redis: %w", err)
	} else if n > 0 && !c.flush {
		return fmt.Errorf("the database holds %d keys; pass -flush to let the benchmark empty it", n)
	}
	defer rdb.FlushDB(context.WithoutCancel(ctx))

	dir, err := os.MkdirTemp("", "enqueue-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.binary == "" {
		c.binary = filepath.Join(dir, "enqueue")
		build := exec.CommandContext(ctx, "go", "build", "-o", c.binary, "github.com/ovqueue/ovqueue/cmd/enqueue")
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}

	file := filepath.Join(dir, "rows.jsonl")
	built, err := writeRows(file, c.rows, true)
	if err != nil {
		return err
	}
	fmt.Printf("%d rows, concurrency %d, %d runs each, Redis %s\n", c.rows, c.concurrency, c.runs, redact(c.url))

	// Each run is a pair, bare loop and CLI back to back, in alternating order, each on an
	// empty database; the ratio of a pair is less at the mercy of whatever else the machine
	// is doing than the ratio of two medians.
	var bare, cli []time.Duration
	var ratios []float64
	var bareCPU, cliCPU time.Duration
	for i := range c.runs {
		var b, e result
		for j := range 2 {
			// Empty, but for the queue live traffic goes to, as on a system in use: the CLI
			// looks its rows up there too (the bare loop checks only its own queue).
			if err := rdb.FlushDB(ctx).Err(); err != nil {
				return err
			}
			if err := rdb.SAdd(ctx, "asynq:queues", tasks.QueueDefault).Err(); err != nil {
				return err
			}
			if (i+j)%2 == 0 {
				if b, err = bareLoop(ctx, opt, built, c.concurrency); err != nil {
					return fmt.Errorf("bare asynq: %w", err)
				}
			} else if e, err = runCLI(ctx, c, file, c.rows); err != nil {
				return fmt.Errorf("enqueue backfill: %w", err)
			}
		}
		bare, cli = append(bare, b.wall), append(cli, e.wall)
		bareCPU, cliCPU = bareCPU+b.cpu, cliCPU+e.cpu
		ratios = append(ratios, b.wall.Seconds()/e.wall.Seconds())
		fmt.Printf("  run %d: bare asynq %6.0f rows/s, enqueue backfill %6.0f rows/s, ratio %.2f\n", i+1, rate(c.rows, b.wall), rate(c.rows, e.wall), ratios[i])
	}
	dry, err := runCLI(ctx, c, file, 0, "--dry-run")
	if err != nil {
		return fmt.Errorf("enqueue backfill --dry-run: %w", err)
	}
	perRow := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(c.runs*c.rows) }
	fmt.Printf("bare asynq loop:   %7.0f rows/s  (median %s; %.1f µs CPU a row in the client)\n", rate(c.rows, median(bare)), median(bare).Round(time.Millisecond), perRow(bareCPU))
	fmt.Printf("enqueue backfill:  %7.0f rows/s  (median %s; %.1f µs CPU a row; validation alone, --dry-run: %s)\n", rate(c.rows, median(cli)), median(cli).Round(time.Millisecond), perRow(cliCPU), dry.wall.Round(time.Millisecond))
	fmt.Printf("ratio CLI/bare:    %7.2f  (median of the runs' ratios; target 0.90 or more)\n", medianFloat(ratios))

	if c.memoryRows > 0 {
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			return err
		}
		big := filepath.Join(dir, "big.jsonl")
		if _, err := writeRows(big, c.memoryRows, false); err != nil {
			return err
		}
		fi, _ := os.Stat(big)
		res, err := runCLI(ctx, c, big, c.memoryRows)
		if err != nil {
			return fmt.Errorf("enqueue backfill (memory): %w", err)
		}
		fmt.Printf("peak memory:       %7.1f MB peak RSS (VmHWM) for %d rows (%.0f MB file) at %.0f rows/s  (target under 100 MB)\n",
			float64(res.maxRSS)/(1<<20), c.memoryRows, float64(fi.Size())/1e6, rate(c.memoryRows, res.wall))
	}
	return nil
}

// writeRows writes n rows, half licence changes and half callbacks, each with its own order
// number, and returns their tasks as the CLI would build them (when keep is set).
func writeRows(path string, n int, keep bool) ([]built, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []built
	var buf []byte
	for i := range n {
		var typ string
		var payload any
		order := 10_000_000 + i
		if i%2 == 0 {
			typ = tasks.TypeLicenceModify
			payload = tasks.LicencePayload{OrderNumber: tasks.Int(order), Product: 1061, Action: provider.ActionCancelLicence, CancelType: provider.CancelOnExpiration}
		} else {
			typ = tasks.TypeOVCallbackUpdate
			payload = tasks.OVCallbackPayload{OrderNumber: strconv.Itoa(order), Action: provider.ActionScheduledCallback,
				PreferredTimeUTC: "2024-02-02 13:03", EmailAddress: "ops@example.com", Comments: "backfill of the February callbacks"}
		}
		p, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		buf = append(buf[:0], `{"type":"`+typ+`",`...)
		buf = append(buf, p[1:]...)
		buf = append(buf, '\n')
		if _, err := f.Write(buf); err != nil {
			return nil, err
		}
		if keep {
			task, opts, err := tasks.Build(typ, p, tasks.Queue(tasks.QueueBackfill))
			if err != nil {
				return nil, err
			}
			out = append(out, built{task, opts})
		}
	}
	return out, f.Close()
}

type built struct {
	task *asynq.Task
	opts []asynq.Option
}

// result is one timed run.
type result struct {
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // bytes, sampled; the CLI only
}

// bareLoop enqueues the tasks with workers goroutines sharing one asynq client.
func bareLoop(ctx context.Context, opt asynq.RedisConnOpt, all []built, workers int) (result, error) {
	if o, ok := opt.(asynq.RedisClientOpt); ok {
		o.PoolSize = max(o.PoolSize, workers) // as the CLI does
		opt = o
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	if err := client.Ping(); err != nil {
		return result{}, err
	}
	cpu0 := cpuTime()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(all) {
					return
				}
				if _, err := client.EnqueueContext(ctx, all[i].task, all[i].opts...); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return result{wall: time.Since(start), cpu: cpuTime() - cpu0}, firstErr
}

// cpuTime is this process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCLI runs `enqueue backfill FILE --json` and checks that it enqueued want rows.
func runCLI(ctx context.Context, c config, file string, want int, extra ...string) (result, error) {
	args := append([]string{"backfill", file, "--json", "--concurrency", strconv.Itoa(c.concurrency), "--redis-url", c.url}, extra...)
	cmd := exec.CommandContext(ctx, c.binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	peak := watchPeak(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	maxRSS := peak()
	if err != nil {
		return result{}, fmt.Errorf("%w: %s%s", err, stdout.String(), stderr.String())
	}
	var sum struct{ Enqueued, Duplicate, Invalid, Failed int }
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		return result{}, fmt.Errorf("summary %q: %w", stdout.String(), err)
	}
	if sum.Enqueued != want || sum.Duplicate+sum.Invalid+sum.Failed != 0 {
		return result{}, fmt.Errorf("summary %s, want enqueued=%d only", bytes.TrimSpace(stdout.Bytes()), want)
	}
	return result{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), maxRSS: maxRSS}, nil
}

// watchPeak samples the process's peak resident set (VmHWM in /proc/PID/status, Linux) until
// the returned function is called, which returns it in bytes (0 when unknown). The child's
// rusage would not do: Go starts children with CLONE_VM, so their ru_maxrss counts this
// process's memory from before exec.
func watchPeak(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, line := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
						peak.Store(max(peak.Load(), kb<<10))
					}
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

func medianFloat(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func redact(raw string) string {
	opt, err := redis.ParseURL(raw)
	if err != nil || opt.Password == "" {
		return raw
	}
	return "(password hidden) " + opt.Addr
}
