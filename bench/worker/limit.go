package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// The limit section: a backlog of one provider login under PROVIDER_RATE, with a few tasks of
// another login queued behind it in the same queue. It shows what the rate limiter costs the
// backlog (calls a second against PROVIDER_RATE) and how long it holds the other login's
// tasks back, for each POLL_INTERVAL asked for. A change to how tasks wait for PROVIDER_RATE
// must hold the first at every interval; the second is what such a change would improve.

const (
	busyLogin, busyPassword   = "busy-login", "busy-password"
	quietLogin, quietPassword = "quiet-login", "quiet-password"
	quietOrders               = 900_000 // the quiet login's orders are quietOrders+i
)

// limitCalls records when each call of either login reached the fake provider.
type limitCalls struct {
	mu    sync.Mutex
	busy  []time.Time
	quiet []time.Time
}

func (l *limitCalls) hook(c providertest.Call) *providertest.Answer {
	order, _ := strconv.ParseInt(c.Form.Get("orderNumber"), 10, 64)
	l.mu.Lock()
	if order >= quietOrders {
		l.quiet = append(l.quiet, c.Time)
	} else {
		l.busy = append(l.busy, c.Time)
	}
	l.mu.Unlock()
	return nil
}

func (l *limitCalls) snapshot() (busy, quiet []time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.busy), slices.Clone(l.quiet)
}

func (b *bench) limit(ctx context.Context) error {
	c := b.cfg
	b.printf("\n## PROVIDER_RATE: a backlog of one login, and another login's tasks behind it\n\n")
	b.printf("%d tasks of one login, then %d of another, in queue default; PROVIDER_RATE=%g, concurrency %d.\n",
		c.limitBacklog, c.limitQuiet, c.limitRate, c.concurrency)
	b.printf("rate: the busy login's calls a second over its first %s of calls. quiet: from the worker's start to the other login's first and last call.\n\n", c.limitWindow)
	b.printf("| POLL_INTERVAL | busy login, calls/s | of PROVIDER_RATE | quiet login, first call | last call | busy calls before its first |\n|---|---|---|---|---|---|\n")
	for _, poll := range c.limitPolls {
		if err := b.limitAt(ctx, poll); err != nil {
			return fmt.Errorf("POLL_INTERVAL=%s: %w", poll, err)
		}
	}
	return nil
}

func (b *bench) limitAt(ctx context.Context, poll time.Duration) error {
	c := b.cfg
	if err := b.db.flush(ctx); err != nil {
		return err
	}
	rec := &limitCalls{}
	fake, err := startFake(providertest.WithAccount(busyLogin, busyPassword), providertest.WithAccount(quietLogin, quietPassword))
	if err != nil {
		return err
	}
	defer fake.Close()
	fake.SetHook(rec.hook)
	accounts, err := json.Marshal(map[string]map[string]string{
		"busy":  {"loginName": busyLogin, "loginPassword": busyPassword},
		"quiet": {"loginName": quietLogin, "loginPassword": quietPassword},
	})
	if err != nil {
		return err
	}
	file := filepath.Join(b.tmp, "accounts.json")
	if err := os.WriteFile(file, accounts, 0o600); err != nil {
		return err
	}
	enqueue := func(account string, order int64) error {
		task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{Account: account, OrderNumber: tasks.Int(order), Product: 1009, Action: "CANCELLICENCE"})
		if err == nil {
			_, err = b.db.client.EnqueueContext(ctx, task, opts...)
		}
		return err
	}
	for i := range c.limitBacklog {
		if err := enqueue("busy", int64(1+i)); err != nil {
			return err
		}
	}
	for i := range c.limitQuiet {
		if err := enqueue("quiet", int64(quietOrders+i)); err != nil {
			return err
		}
	}
	start := time.Now()
	w, err := b.startWorker(fake, map[string]string{
		"PROVIDER_LOGIN_NAME": "", "PROVIDER_LOGIN_PASSWORD": "", "PROVIDER_ACCOUNTS_FILE": file,
		"PROVIDER_RATE": strconv.FormatFloat(c.limitRate, 'g', -1, 64), "POLL_INTERVAL": poll.String(),
		"WORKER_CONCURRENCY": strconv.Itoa(c.concurrency),
	})
	if err != nil {
		return err
	}
	defer w.stop()

	// Until the window of the busy login's calls has passed and every quiet task was called,
	// or the time allowed runs out.
	deadline := start.Add(c.limitWindow + c.limitMax)
	for {
		busy, quiet := rec.snapshot()
		if len(quiet) >= c.limitQuiet && len(busy) > 0 && time.Since(busy[0]) >= c.limitWindow {
			break
		}
		if w.exited() {
			return w.stop()
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := w.stop(); err != nil {
		return err
	}
	busy, quiet := rec.snapshot()
	slices.SortFunc(busy, time.Time.Compare)
	slices.SortFunc(quiet, time.Time.Compare)
	rate := "none"
	share := ""
	if len(busy) > 1 {
		n := 0
		for _, t := range busy {
			if t.Sub(busy[0]) < c.limitWindow {
				n++
			}
		}
		// At PROVIDER_RATE exactly, a window of W seconds from the first call holds W x rate.
		r := float64(n) / c.limitWindow.Seconds()
		note := ""
		if n == c.limitBacklog { // the backlog ran out within the window: its own span
			r, note = float64(n-1)/busy[n-1].Sub(busy[0]).Seconds(), " (whole backlog)"
		}
		rate, share = fmt.Sprintf("%.2f%s", r, note), fmt.Sprintf("%.2f", r/c.limitRate)
	}
	first, last, before := "not within "+(c.limitWindow+c.limitMax).String(), "", ""
	if len(quiet) > 0 {
		first = quiet[0].Sub(start).Round(time.Millisecond).String()
		n, _ := slices.BinarySearchFunc(busy, quiet[0], time.Time.Compare)
		before = strconv.Itoa(n)
	}
	if len(quiet) >= c.limitQuiet {
		last = quiet[len(quiet)-1].Sub(start).Round(time.Millisecond).String()
	} else {
		last = fmt.Sprintf("%d of %d called", len(quiet), c.limitQuiet)
	}
	b.printf("| %s | %s | %s | %s | %s | %s |\n", poll, rate, share, first, last, before)
	return nil
}
