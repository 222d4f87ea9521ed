package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/time/rate"

	"github.com/ovqueue/ovqueue/tasks"
)

// enqueued is what the enqueue pass did.
type enqueued struct {
	enqueued, duplicate, failed int
	unmarked                    int  // rows' dead letters that could not be marked replayed
	line                        int  // the line of the last row taken by a worker
	interrupted, stopped        bool // ended early by the context, or by failures in a row
}

// chunk is a run of rows from the spool, and what one look-up found of their task IDs.
type chunk struct {
	recs  []record
	found []tasks.Enqueued // by row; nil when the look-up failed
}

// chunkSize is how many rows are looked up at once: enough for every worker twice over, and
// no more than a second's worth under a rate limit, so that what a look-up found is fresh
// when the rows are enqueued.
func (r *runner) chunkSize() int {
	n := min(max(2*r.opt.Concurrency, 16), 256)
	if r.opt.Rate > 0 {
		n = min(n, max(1, int(r.opt.Rate)))
	}
	return n
}

// enqueue enqueues the tasks the validation pass built, Concurrency at a time. When ctx ends
// it stops taking tasks and lets the enqueues in flight finish, so that every row up to the
// line it reports was handled.
func (r *runner) enqueue(ctx context.Context, sp *spool, total int) (enqueued, error) {
	var out enqueued
	if err := sp.rewind(); err != nil {
		return out, err
	}
	var nEnqueued, nDuplicate, nFailed, nUnmarked, streak atomic.Int64
	marker, _ := r.opt.Enqueuer.(ReplayMarker)
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
	// Workers take tasks one at a time and in order, as a bare asynq loop takes its tasks.
	// Taking a task is the point of no return: every task taken is finished, even after ctx
	// ends, so that every row up to the last one taken has been handled.
	//
	// A reader goroutine reads the spool a chunk at a time and looks each chunk's task IDs up
	// in every queue with one round trip, a chunk or two ahead of the workers: a row whose
	// task is already in any queue is a duplicate without an enqueue (asynq alone checks only
	// the row's own queue), the others are enqueued without a look-up of their own.
	var (
		mu      sync.Mutex
		stop    bool       // no more rows: the end, an error, ctx, or failures in a row
		gate    sync.Mutex // with a rate limit, one worker at a time waits for its turn
		cur     *chunk     // the chunk workers take from
		pos     int        // the next row of cur
		readErr error      // the spool could not be read; set before chunks is closed
	)
	chunks, quit := make(chan *chunk, 1), make(chan struct{})
	readerDone := make(chan struct{})
	readCtx, cancelRead := context.WithCancel(ctx)
	go func() {
		defer close(readerDone)
		defer close(chunks)
		size := r.chunkSize()
		for {
			c := &chunk{}
			for len(c.recs) < size {
				rec, err := sp.next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						readErr = err
					}
					break
				}
				c.recs = append(c.recs, rec)
			}
			if len(c.recs) == 0 {
				return
			}
			select {
			case <-quit:
				return
			default:
			}
			ids := make([]string, len(c.recs))
			for i, rec := range c.recs {
				ids[i] = rec.id()
			}
			// On failure the chunk's rows fall back to Enqueue, which looks each up itself.
			if found, err := r.opt.Enqueuer.Lookup(readCtx, ids...); err == nil && len(found) == len(ids) {
				c.found = found
			}
			select {
			case chunks <- c:
			case <-quit:
				return
			}
			if len(c.recs) < size {
				return
			}
		}
	}()
	stopReader := sync.OnceFunc(func() {
		close(quit)
		cancelRead()
		<-readerDone
	})
	defer stopReader()
	take := func() (record, *tasks.Enqueued, bool) {
		if limiter != nil {
			// One worker at a time waits for a turn, and only once it has a row that needs
			// one: idle workers must not each reserve a turn (after the last row they would
			// hold the run for a turn apiece), and a row already in Redis costs no enqueue.
			gate.Lock()
			defer gate.Unlock()
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stop:
			return record{}, nil, false
		case ctx.Err() != nil:
			stop, out.interrupted = true, true
			return record{}, nil, false
		case streak.Load() >= int64(r.failureLimit()):
			stop, out.stopped = true, true
			return record{}, nil, false
		}
		if cur == nil || pos == len(cur.recs) {
			// Looked up while the chunk before was taken: seldom a wait.
			next, ok := <-chunks
			switch {
			case !ok:
				stop = true
				return record{}, nil, false
			case ctx.Err() != nil: // ended while waiting
				stop, out.interrupted = true, true
				return record{}, nil, false
			}
			cur, pos = next, 0
		}
		rec := cur.recs[pos]
		var found *tasks.Enqueued
		if cur.found != nil {
			found = &cur.found[pos]
		}
		if limiter != nil && (found == nil || !found.Duplicate) {
			// The gate keeps this row the next one while the lock is let go.
			mu.Unlock()
			err := limiter.Wait(ctx) // only ctx makes it fail
			mu.Lock()
			if err != nil {
				if !stop {
					stop, out.interrupted = true, true
				}
				return record{}, nil, false
			}
		}
		pos++
		out.line = rec.line
		return rec, found, true
	}
	// Enqueues in flight finish even after ctx ends: a row is either enqueued or reported.
	enqueueCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range r.opt.Concurrency {
		wg.Go(func() {
			for {
				rec, found, ok := take()
				if !ok {
					return
				}
				var res tasks.Enqueued
				var err error
				switch {
				case found == nil: // the look-up failed
					res, err = r.opt.Enqueuer.Enqueue(enqueueCtx, rec.task, rec.opts...)
				case found.Duplicate:
					res = *found
				default:
					res, err = r.opt.Enqueuer.EnqueueNew(enqueueCtx, rec.task, rec.opts...)
				}
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
				// The row's task is in Redis and live: its dead letter is covered. A duplicate
				// still archived (an unchanged row of a task not replayed) is not.
				if rec.entry != "" && marker != nil && res.State != asynq.TaskStateArchived.String() {
					if ok, err := marker.MarkResent(enqueueCtx, rec.entry, rec.entryTask); err != nil {
						nUnmarked.Add(1)
						r.progress.println(fmt.Sprintf("%s:%d: the row's task is in Redis, but its dead letter %s could not be marked replayed: %v", r.in.Name(), rec.line, rec.entry, err))
					} else if !ok {
						r.progress.println(fmt.Sprintf("%s:%d: entryId %s is not a dead letter of task %s in this Redis: nothing marked", r.in.Name(), rec.line, rec.entry, rec.entryTask))
					}
				}
				streak.Store(0)
			}
		})
	}
	wg.Wait()
	stopReader()
	out.enqueued, out.duplicate = int(nEnqueued.Load()), int(nDuplicate.Load())
	out.failed, out.unmarked = int(nFailed.Load()), int(nUnmarked.Load())
	return out, readErr
}
