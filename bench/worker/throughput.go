package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// throughputRun is one side's measurement of N tasks.
type throughputRun struct {
	rate    float64       // tasks a second, from the first completion to the last
	elapsed time.Duration // from the process's start to the last completion
	enqueue float64       // the enqueue rate of the backlog, for the record

	// CPU time per task, in microseconds: the server process, Redis (the whole server: other
	// clients of a shared Redis count too) and this process (the fake provider, mostly).
	cpuServer, cpuRedis, cpuFake float64
	others                       float64 // share of the machine's CPU used by other processes
	conns                        int64   // TCP connections opened to the fake provider
}

// side is one kind of server measured: the worker binary, or the bare server with a handler.
type side struct {
	name    string
	handler string // "" for the worker binary
}

// throughput runs N tasks through each side, alternating, runs times each, and prints each
// run, the medians and their ratio. With -ladder it also runs the bare server with each
// handler of bareHandlers, to show what each thing the worker does costs.
func (b *bench) throughput(ctx context.Context) error {
	c := b.cfg
	b.printf("\n## Throughput: %d tasks, concurrency %d, %d runs each side\n\n", c.n, c.concurrency, c.runs)
	b.printf("Every side is a child process on the same Redis database, with the worker's queues, weights\n")
	b.printf("and poll interval (1s); the backlog is enqueued before each run and is not timed.\n")
	b.printf("worker: the cmd/worker binary, LOG_LEVEL=info (one JSON line a call, to a file), calling the\n")
	b.printf("fake provider in this process over loopback HTTP, which answers at once.\n")
	b.printf("bare asynq: asynq.Server with a handler that returns nil.\n")
	b.printf("bare+call: the same with a handler that decodes the payload and makes the same provider call.\n")
	b.printf("CPU is per task: the server process, Redis (all its clients), this process (the fake provider).\n\n")
	fake, err := startFake()
	if err != nil {
		return err
	}
	defer fake.Close()

	// bare+call is the hand-rolled alternative: asynq and the same provider call, nothing else.
	sides := []side{{"bare asynq", "noop"}, {"worker", ""}, {"bare+call", "call"}}
	if c.ladder {
		for _, h := range bareHandlers[2:] {
			sides = append(sides, side{"bare+" + h, h})
		}
	}
	rates := map[string][]float64{}
	var runs []throughputRun
	var names []string
	for r := range c.runs {
		order := slices.Clone(sides)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			res, err := b.throughputOnce(ctx, fake, s)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", s.name, r+1, err)
			}
			rates[s.name] = append(rates[s.name], res.rate)
			runs, names = append(runs, res), append(names, s.name)
			b.printf("  run %d  %-34s %6.0f tasks/s  %4.0f µs CPU server, %4.0f Redis, %4.0f fake  %6d provider conns  others %3.0f%%  (%s from start)\n",
				r+1, s.name, res.rate, res.cpuServer, res.cpuRedis, res.cpuFake, res.conns, 100*res.others, res.elapsed.Round(time.Millisecond))
		}
	}
	b.printf("\n| server | tasks/s (median of %d) | CPU µs/task: server | Redis | fake provider | provider connections |\n|---|---|---|---|---|---|\n", c.runs)
	for _, s := range sides {
		cpu := func(f func(throughputRun) float64) float64 {
			var xs []float64
			for i, r := range runs {
				if names[i] == s.name {
					xs = append(xs, f(r))
				}
			}
			return median(xs)
		}
		label := s.name
		switch s.name {
		case "bare asynq":
			label = "bare asynq, no-op handler"
		case "worker":
			label = "ovqueue worker (cmd/worker)"
		case "bare+call":
			label = "bare asynq + the provider call"
		}
		b.printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f |\n", label, median(slices.Clone(rates[s.name])),
			cpu(func(r throughputRun) float64 { return r.cpuServer }), cpu(func(r throughputRun) float64 { return r.cpuRedis }),
			cpu(func(r throughputRun) float64 { return r.cpuFake }), cpu(func(r throughputRun) float64 { return float64(r.conns) }))
	}
	w, bare, call := median(rates["worker"]), median(rates["bare asynq"]), median(rates["bare+call"])
	b.printf("\n**worker / bare asynq = %.2f** (target 0.75 or better); worker / bare+call = %.2f\n", w/bare, w/call)
	return nil
}

func (b *bench) throughputOnce(ctx context.Context, fake *fakeProvider, s side) (throughputRun, error) {
	n := b.cfg.n
	if err := b.db.flush(ctx); err != nil {
		return throughputRun{}, err
	}
	fake.Reset()
	enq, err := b.db.enqueue(ctx, 1, n, 16, nil)
	if err != nil {
		return throughputRun{}, fmt.Errorf("enqueue: %w", err)
	}
	redis0, err := b.redisCPU(ctx)
	if err != nil {
		return throughputRun{}, err
	}
	self0, conns0, machine0 := selfCPU(), fake.conns.Load(), machineCPU()
	start := time.Now()
	var proc *child
	if s.handler == "" {
		proc, err = b.startWorker(fake, map[string]string{"WORKER_CONCURRENCY": strconv.Itoa(b.cfg.concurrency)})
	} else {
		proc, err = b.startBare(b.cfg.concurrency, time.Second, s.handler, fake)
	}
	if err != nil {
		return throughputRun{}, err
	}
	var first, last time.Time
	var atFirst int64
	deadline := start.Add(10 * time.Minute)
	for {
		done, err := b.db.completed(ctx)
		if err != nil {
			_ = proc.stop()
			return throughputRun{}, err
		}
		now := time.Now()
		if first.IsZero() && done > 0 {
			first, atFirst = now, done
		}
		if done >= int64(n) {
			last = now
			break
		}
		if proc.exited() || now.After(deadline) || ctx.Err() != nil {
			err := proc.stop()
			return throughputRun{}, fmt.Errorf("%d of %d tasks completed: %v", done, n, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	redis1, err := b.redisCPU(ctx)
	if err != nil {
		_ = proc.stop()
		return throughputRun{}, err
	}
	self1, conns1, machine1 := selfCPU(), fake.conns.Load(), machineCPU()
	server, err := proc.cpu()
	if err != nil {
		_ = proc.stop()
		return throughputRun{}, err
	}
	if err := proc.stop(); err != nil {
		return throughputRun{}, err
	}
	if s.handler != "noop" {
		if calls := fake.CallCount(); calls != n {
			return throughputRun{}, fmt.Errorf("the fake provider saw %d calls for %d tasks", calls, n)
		}
	}
	if last.Equal(first) {
		return throughputRun{}, fmt.Errorf("every task completed before the first poll: raise -n")
	}
	perTask := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	wall := last.Sub(start)
	others := (machine1 - machine0) - server - (redis1 - redis0) - (self1 - self0)
	return throughputRun{
		rate:      float64(int64(n)-atFirst) / last.Sub(first).Seconds(),
		elapsed:   last.Sub(start),
		enqueue:   enq,
		cpuServer: perTask(server),
		cpuRedis:  perTask(redis1 - redis0),
		cpuFake:   perTask(self1 - self0),
		conns:     conns1 - conns0,
		others:    max(0, others.Seconds()/(wall.Seconds()*float64(runtime.NumCPU()))),
	}, nil
}

// redisCPU is the CPU time the Redis server has used (user and system).
func (b *bench) redisCPU(ctx context.Context) (time.Duration, error) {
	info, err := b.db.rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, k := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, err := strconv.ParseFloat(field(info, k), 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO cpu %s: %q", k, field(info, k))
		}
		total += v
	}
	return time.Duration(total * float64(time.Second)), nil
}

// machineCPU is the CPU time the whole machine has been busy, from /proc/stat.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i > 7 { // guest time is already counted in user
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	const clockTicks = 100
	return time.Duration(busy) * time.Second / clockTicks
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpu is the CPU time the child has used so far (user and system), from /proc.
func (c *child) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) start with the state, field 3.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %q", b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: %q", b)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// median of xs (which it sorts).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}
