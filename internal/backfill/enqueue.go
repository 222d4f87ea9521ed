package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// enqueued is what the enqueue pass did.
type enqueued struct {
	enqueued, duplicate, failed int
	line                        int  // the line of the last row taken by a worker
	interrupted, stopped        bool // ended early by the context, or by failures in a row
}

// enqueue enqueues the tasks the validation pass built, Concurrency at a time. When ctx ends
// it stops taking tasks and lets the enqueues in flight finish, so that every row up to the
// line it reports was handled.
func (r *runner) enqueue(ctx context.Context, sp *spool, total int) (enqueued, error) {
	var out enqueued
	if err := sp.rewind(); err != nil {
		return out, err
	}
	var nEnqueued, nDuplicate, nFailed, streak atomic.Int64
	start := time.Now()
	r.progress.start(func(terminal bool) string {
		done := nEnqueued.Load() + nDuplicate.Load() + nFailed.Load()
		return enqueueStatus(r.in.Name(), done, int64(total), time.Since(start), nEnqueued.Load(), nDuplicate.Load(), nFailed.Load(), terminal)
	})
	defer r.progress.stop()

	var limiter *rate.Limiter
	if r.opt.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(r.opt.Rate), max(1, int(r.opt.Rate/100)))
	}
	// Workers take tasks from the spool themselves, one at a time and in order, as a bare
	// asynq loop takes its tasks: no goroutine hands them over. Taking a task is the point of
	// no return: every task taken is finished, even after ctx ends, so that every row up to
	// the last one taken has been handled.
	var (
		mu      sync.Mutex
		readErr error
		stop    bool       // no more rows: the end, an error, ctx, or failures in a row
		gate    sync.Mutex // with a rate limit, one worker at a time waits for its turn
	)
	take := func() (record, bool) {
		if limiter != nil {
			// Idle workers must not each reserve a turn: after the last row they would hold
			// the run for a turn apiece.
			gate.Lock()
			defer gate.Unlock()
			mu.Lock()
			stopped := stop
			mu.Unlock()
			if stopped {
				return record{}, false
			}
			if limiter.Wait(ctx) != nil { // only ctx makes it fail
				mu.Lock()
				defer mu.Unlock()
				if !stop {
					stop, out.interrupted = true, true
				}
				return record{}, false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stop:
			return record{}, false
		case ctx.Err() != nil:
			stop, out.interrupted = true, true
			return record{}, false
		case streak.Load() >= int64(r.failureLimit()):
			stop, out.stopped = true, true
			return record{}, false
		}
		next, err := sp.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			stop = true
			return record{}, false
		}
		out.line = next.line
		return next, true
	}
	// Enqueues in flight finish even after ctx ends: a row is either enqueued or reported.
	enqueueCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range r.opt.Concurrency {
		wg.Go(func() {
			for {
				rec, ok := take()
				if !ok {
					return
				}
				res, err := r.opt.Enqueuer.Enqueue(enqueueCtx, rec.task, rec.opts...)
				switch {
				case err != nil:
					nFailed.Add(1)
					streak.Add(1)
					if cause := errors.Unwrap(err); cause != nil && res.ID != "" {
						err = fmt.Errorf("%s: %w", res.ID, cause)
					}
					r.progress.println(fmt.Sprintf("%s:%d: enqueue: %v", r.in.Name(), rec.line, err))
					continue
				case res.Duplicate:
					nDuplicate.Add(1)
				default:
					nEnqueued.Add(1)
				}
				streak.Store(0)
			}
		})
	}
	wg.Wait()
	out.enqueued, out.duplicate = int(nEnqueued.Load()), int(nDuplicate.Load())
	out.failed = int(nFailed.Load())
	return out, readErr
}
