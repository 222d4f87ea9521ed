package tasks_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
)

// BenchmarkLookup measures the look-up of a backfill chunk (128 IDs) in the two queues, none of
// them there (a first run) or all of them there (a re-run). It reports the server's time per
// ID, from Redis's own command statistics; run it against a real server, with TEST_REDIS_URL
// (miniredis's figures say nothing about Redis).
func BenchmarkLookup(b *testing.B) {
	if os.Getenv("TEST_REDIS_URL") == "" {
		b.Skip("TEST_REDIS_URL is not set: this measures a real Redis")
	}
	for _, present := range []bool{false, true} {
		b.Run(map[bool]string{false: "absent", true: "present"}[present], func(b *testing.B) {
			r := redistest.New(b)
			e := tasks.NewEnqueuer(r.Client)
			ids := make([]string, 128)
			for i := range ids {
				task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: tasks.Int(1000 + i), Product: 700, Action: "CANCELLICENCE"})
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = idOf(opts)
				if present {
					if _, err := e.EnqueueNew(b.Context(), task, opts...); err != nil {
						b.Fatal(err)
					}
				}
			}
			if _, err := e.Lookup(b.Context(), ids...); err != nil { // loads the script
				b.Fatal(err)
			}
			r.Client.ConfigResetStat(b.Context())
			for b.Loop() {
				found, err := e.Lookup(b.Context(), ids...)
				if err != nil || found[0].Duplicate != present {
					b.Fatalf("Lookup: %v, %v", found[0], err)
				}
			}
			b.StopTimer()
			stats, err := r.Client.Info(b.Context(), "commandstats").Result()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(evalshaMicros(b, stats)/float64(b.N)/float64(len(ids)), "redis-µs/ID")
		})
	}
}

// evalshaMicros is the server's total time in EVALSHA since CONFIG RESETSTAT, from INFO
// commandstats ("cmdstat_evalsha:calls=N,usec=U,...").
func evalshaMicros(b *testing.B, stats string) float64 {
	for line := range strings.Lines(stats) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:")
		if !ok {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(field, "usec="); ok {
				usec, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				return usec
			}
		}
	}
	b.Fatalf("no EVALSHA in %q", stats)
	return 0
}
