package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// rssRun is one server's memory under the backlog.
type rssRun struct {
	name      string
	peak      int64 // VmHWM at the end, bytes
	last      int64 // VmRSS at the end, bytes
	processed int64
	elapsed   time.Duration
	scrapes   int   // /metrics scrapes served (worker only)
	scrapeMax int64 // largest /metrics answer, bytes
}

// memory enqueues the backlog, then lets the worker (and a bare asynq server, for comparison)
// work on it for a while and reads their peak resident set.
func (b *bench) memory(ctx context.Context) error {
	c := b.cfg
	b.printf("\n## Memory: concurrency %d, backlog of %d tasks\n\n", c.rssConcurrency, c.backlog)
	if err := b.db.flush(ctx); err != nil {
		return err
	}
	start := time.Now()
	rate, err := b.db.enqueue(ctx, 1, c.backlog, 32, func(done int64) {
		b.printf("  enqueued %d (%s)\n", done, time.Since(start).Round(time.Second))
	})
	if err != nil {
		return fmt.Errorf("enqueue the backlog: %w", err)
	}
	used, _ := b.db.rdb.Info(ctx, "memory").Result()
	b.printf("  backlog of %d enqueued in %s (%.0f/s); Redis %s\n", c.backlog, time.Since(start).Round(time.Second), rate, field(used, "used_memory_human"))

	fake, err := startFake()
	if err != nil {
		return err
	}
	defer fake.Close()
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	w, err := b.startWorker(fake, map[string]string{
		"WORKER_CONCURRENCY": strconv.Itoa(c.rssConcurrency),
		"METRICS_ADDR":       addr,
	})
	if err != nil {
		return err
	}
	runs := []rssRun{}
	r, err := b.watch(ctx, w, "ovqueue worker", "http://"+addr+"/metrics", fake)
	if err != nil {
		return err
	}
	runs = append(runs, r)
	if c.rssBare {
		bare, err := b.startBare(c.rssConcurrency, time.Second, "noop", nil)
		if err != nil {
			return err
		}
		r, err := b.watch(ctx, bare, "bare asynq", "", nil)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	b.printf("\n| process | peak RSS (VmHWM) | RSS at the end | tasks processed | in |\n|---|---|---|---|---|\n")
	for _, r := range runs {
		b.printf("| %s | **%.1f MB** | %.1f MB | %d (%.0f/s) | %s |\n", r.name, mb(r.peak), mb(r.last), r.processed,
			float64(r.processed)/r.elapsed.Seconds(), r.elapsed.Round(time.Second))
	}
	if runs[0].scrapes > 0 {
		b.printf("\nThe worker served /metrics every 5s meanwhile (%d scrapes, up to %d bytes), as under Prometheus.\n", runs[0].scrapes, runs[0].scrapeMax)
	}
	b.printf("MB = 10^6 bytes. Target for the worker: under 100 MB.\n")
	return nil
}

// watch lets proc work for the configured duration, sampling its memory every second and
// scraping metricsURL (if any) every five, then stops it.
func (b *bench) watch(ctx context.Context, proc *child, name, metricsURL string, fake *fakeProvider) (rssRun, error) {
	r := rssRun{name: name}
	before, err := b.db.completed(ctx)
	if err != nil {
		_ = proc.stop()
		return r, err
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; time.Since(start) < b.cfg.rssDuration; i++ {
		select {
		case <-ctx.Done():
			_ = proc.stop()
			return r, ctx.Err()
		case <-tick.C:
		}
		if proc.exited() {
			return r, proc.stop()
		}
		if fake != nil {
			fake.Reset() // the fake's record of calls would grow by the thousands a second
		}
		if metricsURL != "" && i%5 == 0 {
			n, err := scrape(ctx, metricsURL)
			if err != nil {
				_ = proc.stop()
				return r, fmt.Errorf("scrape %s: %w", metricsURL, err)
			}
			r.scrapes++
			r.scrapeMax = max(r.scrapeMax, n)
		}
		if i%10 == 0 {
			rss, hwm, _ := proc.memory()
			done, _ := b.db.completed(ctx)
			b.printf("  %-14s %3ds  RSS %6.1f MB  peak %6.1f MB  processed %d\n", name, i, mb(rss), mb(hwm), done-before)
		}
	}
	rss, hwm, err := proc.memory()
	if err != nil {
		_ = proc.stop()
		return r, err
	}
	after, err := b.db.completed(ctx)
	if err != nil {
		_ = proc.stop()
		return r, err
	}
	r.peak, r.last, r.processed, r.elapsed = hwm, rss, after-before, time.Since(start)
	return r, proc.stop()
}

func scrape(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return n, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func mb(b int64) float64 { return float64(b) / 1e6 }
