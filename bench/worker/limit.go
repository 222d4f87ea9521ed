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

// The limit section: a backlog of one provider login under PROVIDER_RATE, in two cases.
//
//   - logins: a few tasks of another login queued behind the backlog in the same queue. It
//     shows what the rate limiter costs the backlog (calls a second against PROVIDER_RATE)
//     and how long it holds the other login's tasks back.
//   - live: the backlog in queue backfill, and live tasks of the same login enqueued in
//     queue default while it drains, one a second. It shows that the login keeps its rate
//     and how long each live task waits for its call.
//
// Each runs for each POLL_INTERVAL asked for. A change to how tasks wait for PROVIDER_RATE
// must hold the rate at every interval.

const (
	busyLogin, busyPassword   = "busy-login", "busy-password"
	quietLogin, quietPassword = "quiet-login", "quiet-password"
	quietOrders               = 900_000 // the quiet login's orders are quietOrders+i
)

// limitCalls records when each call reached the fake provider: the backlog's, and the
// others' (the other login's, or the live tasks') by order number.
type limitCalls struct {
	mu     sync.Mutex
	busy   []time.Time
	quiet  []time.Time
	orders map[int64]time.Time // the others' first calls
}

func (l *limitCalls) hook(c providertest.Call) *providertest.Answer {
	order, _ := strconv.ParseInt(c.Form.Get("orderNumber"), 10, 64)
	l.mu.Lock()
	if order >= quietOrders {
		l.quiet = append(l.quiet, c.Time)
		if _, ok := l.orders[order]; !ok {
			l.orders[order] = c.Time
		}
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

func (l *limitCalls) calledAt(order int64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.orders[order]
	return t, ok
}

func (b *bench) limit(ctx context.Context) error {
	c := b.cfg
	b.printf("\n## PROVIDER_RATE: a backlog of one login, and another login's tasks behind it\n\n")
	b.printf("%d tasks of one login, then %d of another, in queue default; PROVIDER_RATE=%g, concurrency %d.\n",
		c.limitBacklog, c.limitQuiet, c.limitRate, c.concurrency)
	b.printf("rate: the busy login's calls a second over its first %s of calls. quiet: from the worker's start to the other login's first and last call.\n\n", c.limitWindow)
	b.printf("| POLL_INTERVAL | busy login, calls/s | of PROVIDER_RATE | quiet login, first call | last call | busy calls before its first |\n|---|---|---|---|---|---|\n")
	for _, poll := range c.limitPolls {
		if err := b.limitAt(ctx, poll, false); err != nil {
			return fmt.Errorf("POLL_INTERVAL=%s: %w", poll, err)
		}
	}
	b.printf("\n%d tasks of one login in queue backfill; from %s after the worker's start, %d live tasks of the same login in queue default, one every %s.\n",
		c.limitBacklog, liveFrom, c.limitQuiet, liveEvery)
	b.printf("rate: the login's calls a second (backfill and live) over the first %s of its calls. wait: from a live task's enqueue to its call.\n\n", c.limitWindow)
	b.printf("| POLL_INTERVAL | login, calls/s | of PROVIDER_RATE | live task's wait, p50 | max | live tasks called |\n|---|---|---|---|---|---|\n")
	for _, poll := range c.limitPolls {
		if err := b.limitAt(ctx, poll, true); err != nil {
			return fmt.Errorf("POLL_INTERVAL=%s, live tasks: %w", poll, err)
		}
	}
	return nil
}

// The live case: when the first live task is enqueued, and how often the next.
const liveFrom, liveEvery = 5 * time.Second, time.Second

// limitAt measures one case at one POLL_INTERVAL: the other login's tasks behind the backlog,
// or (live) the same login's live tasks beside it.
func (b *bench) limitAt(ctx context.Context, poll time.Duration, live bool) error {
	c := b.cfg
	if err := b.db.flush(ctx); err != nil {
		return err
	}
	rec := &limitCalls{orders: map[int64]time.Time{}}
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
	enqueue := func(ctx context.Context, account string, order int64, queue string) error {
		task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{Account: account, OrderNumber: tasks.Int(order), Product: 1009, Action: "CANCELLICENCE"},
			tasks.Queue(queue))
		if err == nil {
			_, err = b.db.client.EnqueueContext(ctx, task, opts...)
		}
		return err
	}
	backlogQueue := tasks.QueueDefault
	if live {
		backlogQueue = tasks.QueueBackfill
	}
	for i := range c.limitBacklog {
		if err := enqueue(ctx, "busy", int64(1+i), backlogQueue); err != nil {
			return err
		}
	}
	if !live {
		for i := range c.limitQuiet {
			if err := enqueue(ctx, "quiet", int64(quietOrders+i), tasks.QueueDefault); err != nil {
				return err
			}
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

	// The live tasks, enqueued while the backlog drains; enqueued[i] is when order
	// quietOrders+i was.
	enqueued := make([]time.Time, c.limitQuiet)
	liveErr := make(chan error, 1)
	if live {
		ctx, cancel := context.WithCancel(ctx) // ends the enqueueing on an early return
		defer cancel()
		go func() {
			next := start.Add(liveFrom)
			for i := range c.limitQuiet {
				select {
				case <-ctx.Done():
					liveErr <- ctx.Err()
					return
				case <-time.After(time.Until(next)):
				}
				enqueued[i] = time.Now()
				if err := enqueue(ctx, "busy", int64(quietOrders+i), tasks.QueueDefault); err != nil {
					liveErr <- err
					return
				}
				next = next.Add(liveEvery)
			}
			liveErr <- nil
		}()
	} else {
		liveErr <- nil
	}

	// Until the window of the busy login's calls has passed and every quiet or live task was
	// called, or the time allowed runs out.
	deadline := start.Add(c.limitWindow + c.limitMax)
	if live {
		deadline = deadline.Add(liveFrom + time.Duration(c.limitQuiet)*liveEvery)
	}
	for {
		busy, quiet := rec.snapshot()
		// A backlog call past the window, so that the window's count is of a whole window.
		windowDone := len(busy) > 0 && (busy[len(busy)-1].Sub(busy[0]) >= c.limitWindow || len(busy) >= c.limitBacklog)
		if len(quiet) >= c.limitQuiet && windowDone {
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
	if err := <-liveErr; err != nil { // the enqueueing goroutine has ended: enqueued is ours
		return fmt.Errorf("enqueue a live task: %w", err)
	}
	busy, quiet := rec.snapshot()
	if live {
		// The login's calls: the backlog's and the live tasks'.
		busy = append(busy, quiet...)
	}
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
		if n == len(busy) { // every call fell within the window: their own span
			r, note = float64(n-1)/busy[n-1].Sub(busy[0]).Seconds(), " (whole backlog)"
		}
		rate, share = fmt.Sprintf("%.2f%s", r, note), fmt.Sprintf("%.2f", r/c.limitRate)
	}
	if live {
		var waits []time.Duration
		for i, at := range enqueued {
			if called, ok := rec.calledAt(int64(quietOrders + i)); ok && !at.IsZero() {
				waits = append(waits, called.Sub(at))
			}
		}
		p50, worst := "none called", ""
		if len(waits) > 0 {
			slices.Sort(waits)
			p50 = waits[(len(waits)-1)/2].Round(time.Millisecond).String()
			worst = waits[len(waits)-1].Round(time.Millisecond).String()
		}
		b.printf("| %s | %s | %s | %s | %s | %d of %d |\n", poll, rate, share, p50, worst, len(waits), c.limitQuiet)
		return nil
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
