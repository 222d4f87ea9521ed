package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// pickups records, per order number, when its task was enqueued and when the provider first
// saw its call.
type pickups struct {
	mu       sync.Mutex
	enqueued map[string]time.Time
	called   map[string]time.Time
	notify   chan string
}

func newPickups() *pickups {
	return &pickups{enqueued: map[string]time.Time{}, called: map[string]time.Time{}, notify: make(chan string, 1<<16)}
}

// hook is the fake provider's hook: it notes the call's arrival and lets the fake answer.
func (p *pickups) hook(c providertest.Call) *providertest.Answer {
	order := c.Form.Get("orderNumber")
	p.mu.Lock()
	_, seen := p.called[order]
	if !seen {
		p.called[order] = c.Time
	}
	p.mu.Unlock()
	if !seen {
		select {
		case p.notify <- order:
		default:
		}
	}
	return nil
}

func (p *pickups) enqueue(order string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enqueued[order] = at
}

// latencies returns the pickup latency of every order given, sorted, and how many were not
// called yet.
func (p *pickups) latencies(orders []string) (lat []time.Duration, missing int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range orders {
		c, ok := p.called[o]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, c.Sub(p.enqueued[o]))
	}
	slices.Sort(lat)
	return lat, missing
}

// latency measures pickup latency for each poll interval: at a steady rate, then one task
// at a time on an idle worker.
func (b *bench) latency(ctx context.Context) error {
	c := b.cfg
	b.printf("\n## Pickup latency: enqueue call to provider call, concurrency %d\n\n", c.concurrency)
	b.printf("steady: %d tasks/s for %s (%d tasks), enqueued one by one on a schedule.\n", c.rate, c.steady, int(c.steady.Seconds()*float64(c.rate)))
	b.printf("idle: %d tasks, each enqueued alone after a random pause, on a worker with nothing else to do.\n\n", c.idleSamples)
	b.printf("| POLL_INTERVAL | load | tasks | p50 | p99 | max |\n|---|---|---|---|---|---|\n")
	for _, poll := range c.polls {
		if err := b.latencyAt(ctx, poll); err != nil {
			return fmt.Errorf("POLL_INTERVAL=%s: %w", poll, err)
		}
	}
	return nil
}

func (b *bench) latencyAt(ctx context.Context, poll time.Duration) error {
	c := b.cfg
	if err := b.db.flush(ctx); err != nil {
		return err
	}
	rec := newPickups()
	fake, err := startFake()
	if err != nil {
		return err
	}
	defer fake.Close()
	fake.SetHook(rec.hook)
	w, err := b.startWorker(fake, map[string]string{"WORKER_CONCURRENCY": strconv.Itoa(c.concurrency), "POLL_INTERVAL": poll.String()})
	if err != nil {
		return err
	}
	defer w.stop()

	order := int64(1)
	send := func() (string, error) {
		task, opts, err := licence(order)
		if err != nil {
			return "", err
		}
		o := strconv.FormatInt(order, 10)
		order++
		at := time.Now()
		if _, err := b.db.client.EnqueueContext(ctx, task, opts...); err != nil {
			return "", err
		}
		rec.enqueue(o, at)
		return o, nil
	}
	waitCall := func(o string, timeout time.Duration) error {
		t := time.NewTimer(timeout)
		defer t.Stop()
		for {
			select {
			case got := <-rec.notify:
				if got == o {
					return nil
				}
			case <-t.C:
				return fmt.Errorf("order %s not called within %s", o, timeout)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	// Warm up: the worker is up, its connections open.
	o, err := send()
	if err != nil {
		return err
	}
	if err := waitCall(o, 30*time.Second); err != nil {
		return err
	}

	// Steady: the i-th task is enqueued at start + i/rate, whatever the previous ones took.
	count := int(c.steady.Seconds() * float64(c.rate))
	interval := time.Second / time.Duration(c.rate)
	orders := make([]string, 0, count)
	start := time.Now()
	for i := range count {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		o, err := send()
		if err != nil {
			return err
		}
		orders = append(orders, o)
	}
	achieved := float64(count) / time.Since(start).Seconds()
	deadline := time.Now().Add(time.Minute)
	var lat []time.Duration
	for {
		var missing int
		lat, missing = rec.latencies(orders)
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d steady tasks never called", missing, count)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.printf("| %s | steady %.0f/s | %d | %s | %s | %s |\n", poll, achieved, len(lat), pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1].Round(time.Millisecond))

	// Idle: one task at a time, after a pause long enough for the worker to go back to polling
	// and random, so that the enqueue falls anywhere in its poll cycle.
	time.Sleep(2 * poll)
	idle := make([]string, 0, c.idleSamples)
	for range c.idleSamples {
		time.Sleep(poll + rand.N(2*poll))
		o, err := send()
		if err != nil {
			return err
		}
		if err := waitCall(o, 30*time.Second+10*poll); err != nil {
			return err
		}
		idle = append(idle, o)
	}
	lat, _ = rec.latencies(idle)
	b.printf("| %s | idle | %d | %s | %s | %s |\n", poll, len(lat), pct(lat, 0.50), pct(lat, 0.99), lat[len(lat)-1].Round(time.Millisecond))
	return w.stop()
}

// pct is the p-th percentile of sorted durations (nearest rank), rounded for print.
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	d := sorted[max(i, 0)]
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
