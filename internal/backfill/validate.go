package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ovqueue/ovqueue/provider"
)

// batchRows is how many rows travel together in the validation pass.
const batchRows = 256

type batch struct {
	seq  int
	rows []row
}

// verdict is what validating one batch found.
type verdict struct {
	seq     int
	rows    int
	line    int      // the batch's last line
	bad     int      // rows with a problem
	reports []string // one "FILE:LINE: field: why" a problem, in line order
	records []byte   // the valid rows' tasks, encoded for the spool, in line order
	err     error    // a task that cannot be spooled: a bug, not a bad row
}

// validated is what the validation pass found.
type validated struct {
	rows, invalid int
	line          int // the last line validated
	read          int // the last line read (ahead of line when interrupted)
}

// validate reads the whole input once and reports every bad row, in line order. Rows are
// decoded, validated and (when sp is not nil) built in parallel, one worker a CPU; the
// reports and the built tasks are put back in line order before they are written. Building
// stops at the first bad row unless SkipInvalid: nothing will be enqueued, so only the
// reports matter.
func (r *runner) validate(ctx context.Context, sp *spool) (validated, error) {
	var v validated
	var read atomic.Int64
	rows, header, err := newRowReader(r.in.Name(), r.opt.Format, countingReader{r.in.r, &read})
	if err != nil {
		return v, err
	}

	var line, invalid atomic.Int64
	r.progress.start(func(terminal bool) string {
		return validateStatus(r.in, read.Load(), int(line.Load()), int(invalid.Load()), terminal)
	})
	defer r.progress.stop()

	var building atomic.Bool
	building.Store(sp != nil)
	workers := runtime.GOMAXPROCS(0)
	batches := make(chan batch, workers)
	verdicts := make(chan verdict, workers)
	var readErr error
	var lastRead atomic.Int64
	go func() { // reader
		defer close(batches)
		b := batch{rows: make([]row, 0, batchRows)}
		for {
			rw, err := rows.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			lastRead.Store(int64(rw.line))
			b.rows = append(b.rows, rw)
			if len(b.rows) == batchRows {
				if ctx.Err() != nil {
					return
				}
				batches <- b
				b = batch{seq: b.seq + 1, rows: make([]row, 0, batchRows)}
			}
		}
		if len(b.rows) > 0 && ctx.Err() == nil {
			batches <- b
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			d := newDecoder(r.opt.Format, header, r.opt.Account)
			bu := &builder{opts: r.opt.TaskOptions}
			for b := range batches {
				verdicts <- r.check(d, bu, b, building.Load())
			}
		})
	}
	go func() { wg.Wait(); close(verdicts) }()

	// Write reports and tasks in line order: a batch may finish before an earlier one.
	var spoolErr error
	next, early := 0, map[int]verdict{}
	for {
		var got verdict
		var ok bool
		select {
		case got, ok = <-verdicts:
		case <-ctx.Done():
			// Stop now, even if the reader waits on a pipe whose writer is still open (a
			// Read that nothing but the writer can end). What is in flight is drained in
			// the background; the reader quits at its next row.
			go func() {
				for range verdicts {
				}
			}()
			v.read = max(v.line, int(lastRead.Load()))
			return v, ctx.Err()
		}
		if !ok {
			break
		}
		early[got.seq] = got
		for {
			b, ok := early[next]
			if !ok {
				break
			}
			delete(early, next)
			next++
			v.rows += b.rows
			v.line = b.line
			for _, rep := range b.reports {
				r.progress.println(rep)
			}
			v.invalid = int(invalid.Add(int64(b.bad)))
			line.Store(int64(b.line))
			if v.invalid > 0 && !r.opt.SkipInvalid {
				building.Store(false)
			}
			switch {
			case spoolErr != nil:
			case b.err != nil:
				spoolErr = b.err
				building.Store(false)
			case building.Load() && len(b.records) > 0:
				if spoolErr = sp.write(b.records); spoolErr != nil {
					building.Store(false)
				}
			}
		}
	}
	v.read = max(v.line, int(lastRead.Load()))
	if readErr != nil {
		return v, readErr
	}
	if spoolErr != nil {
		return v, spoolErr
	}
	if err := ctx.Err(); err != nil {
		return v, err
	}
	return v, nil
}

// check validates one batch, and builds and encodes its tasks when build is set.
func (r *runner) check(d *decoder, bu *builder, b batch, build bool) verdict {
	out := verdict{seq: b.seq, rows: len(b.rows)}
	for _, row := range b.rows {
		out.line = row.line
		typ, payload, err := d.decode(row)
		if err == nil {
			if !build {
				err = bu.validate(typ, payload)
			} else if task, opts, berr := bu.build(typ, payload); berr != nil {
				err = berr
			} else if out.err == nil {
				if key := d.origin.key(typ, taskID(opts)); key != "" {
					// Exported from a task with a key, and unchanged: the same task. An ID that is
					// no valid key (a plain asynq client's own) leaves the row its content's ID.
					if kt, kopts, kerr := bu.buildKeyed(typ, payload, key); kerr == nil {
						task, opts = kt, kopts
					}
				}
				entry, entryTask := d.origin.entryID, d.origin.taskID
				if entryTask == "" {
					entry = "" // a dead letter is marked only for the task it names
				}
				out.records, out.err = appendRecord(out.records, row.line, task, opts, entry, entryTask)
			}
		}
		if err != nil {
			out.bad++
			out.reports = append(out.reports, rowReports(r.in.Name(), row.line, err)...)
		}
	}
	return out
}

// rowReports writes a bad row's problems as "FILE:LINE: field: why", one a field.
func rowReports(name string, line int, err error) []string {
	fes := provider.FieldErrors(err)
	if len(fes) == 0 {
		return []string{fmt.Sprintf("%s:%d: row: %v", name, line, err)}
	}
	out := make([]string, len(fes))
	for i, fe := range fes {
		out[i] = fmt.Sprintf("%s:%d: %s: %s", name, line, fe.Field, fe.Problem)
	}
	return out
}
