package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// Enqueuer looks task IDs up in every queue and writes tasks; *tasks.Enqueuer is the real one.
// A duplicate is not an error.
type Enqueuer interface {
	// Lookup reports, for each ID, the queue and state of the task with that ID in any queue.
	Lookup(ctx context.Context, ids ...string) ([]tasks.Enqueued, error)
	// Enqueue looks the task's ID up, then writes the task unless it is a duplicate.
	Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (tasks.Enqueued, error)
	// EnqueueNew writes a task that Lookup found in no queue.
	EnqueueNew(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (tasks.Enqueued, error)
}

var _ Enqueuer = (*tasks.Enqueuer)(nil)

// ReplayMarker is what an Enqueuer may also do: mark the dead letter a row was exported from
// (its entryId) replayed, once the row's task is in Redis and live (enqueued, or a duplicate
// not archived), so that a later `enqueue dead replay` does not send the task the row came
// from, before its fix, again. It marks only a dead letter of task taskID (the row's taskId),
// and returns false when the record holds no such dead letter.
type ReplayMarker interface {
	MarkResent(ctx context.Context, entryID, taskID string) (bool, error)
}

// DefaultConcurrency is how many rows are enqueued at once unless Options say otherwise. With
// one Redis, measured with bench/enqueue, 64 went faster than 16 or 32 and 128 no faster.
const DefaultConcurrency = 64

// DefaultProgressInterval is how often a progress line is written when stderr is not a
// terminal.
const DefaultProgressInterval = 5 * time.Second

// Options configure a backfill.
type Options struct {
	Format      Format
	TaskOptions []tasks.Option // for every row's task: queue, retry budget, schedule
	Account     string         // account of rows that name none; "" leaves them to the default
	SkipInvalid bool           // enqueue the valid rows even when some are invalid
	DryRun      bool           // validate only
	Concurrency int            // rows enqueued at once; 0 means DefaultConcurrency
	Rate        float64        // at most this many rows a second; 0 means no limit
	Enqueuer    Enqueuer       // not needed for a dry run
	// Connect, when Enqueuer is nil, opens one; Run calls it once every row is validated and
	// there are rows to enqueue, so that a Redis that cannot be reached hides no bad row.
	Connect func(context.Context) (Enqueuer, error)

	// Stderr receives bad rows, failed enqueues and progress; Terminal draws a progress bar
	// there instead of writing a line every ProgressInterval (0 means
	// DefaultProgressInterval).
	Stderr           io.Writer
	Terminal         bool
	ProgressInterval time.Duration
}

// Errors that Run returns (wrapped, with counts and advice).
var (
	// ErrInvalidRows: some rows are invalid. Without SkipInvalid nothing was enqueued.
	ErrInvalidRows = errors.New("invalid rows")
	// ErrFailedRows: some rows could not be enqueued.
	ErrFailedRows = errors.New("rows failed to enqueue")
	// ErrInterrupted: the context ended the run before the end of the input.
	ErrInterrupted = errors.New("interrupted")
	// ErrStopped: the run stopped because too many enqueues failed in a row.
	ErrStopped = errors.New("stopped")
	// ErrUnmarked: rows exported from dead letters were enqueued, but their dead letters could
	// not be marked replayed.
	ErrUnmarked = errors.New("dead letters not marked")
	// ErrTempDir: the temporary file could not be created ($TMPDIR missing or read-only), so
	// nothing was read: a matter of configuration.
	ErrTempDir = errors.New("TMPDIR")
)

// Run validates every row of in, then (unless DryRun, or rows are invalid and not
// SkipInvalid) enqueues the valid ones. Bad rows and failed enqueues are written to
// opt.Stderr as "FILE:LINE: field: why". The error, when not nil, says what did not go as
// asked: invalid rows, failed rows, an interruption (the summary then tells how far it got),
// or an *InputError that made the input unreadable.
func Run(ctx context.Context, in *Input, opt Options) (Summary, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = DefaultProgressInterval
	}
	if opt.Stderr == nil {
		opt.Stderr = io.Discard
	}
	if opt.Enqueuer == nil && opt.Connect == nil && !opt.DryRun {
		return Summary{}, errors.New("backfill: no Enqueuer")
	}
	if err := CheckOptions(opt.TaskOptions...); err != nil {
		return Summary{}, fmt.Errorf("backfill: task options: %w", err)
	}
	r := &runner{in: in, opt: opt, progress: newProgress(opt.Stderr, opt.Terminal, opt.ProgressInterval)}
	s := Summary{DryRun: opt.DryRun}

	var sp *spool
	if !opt.DryRun {
		var err error
		if sp, err = newSpool(); err != nil {
			return s, err
		}
		defer sp.close()
	}
	v, err := r.validate(ctx, sp)
	s.Rows, s.Valid, s.Invalid = v.rows, v.rows-v.invalid, v.invalid
	if err != nil {
		if ctx.Err() != nil && !errors.As(err, new(*InputError)) {
			s.Stopped, s.Line, s.Validating = true, v.read, true
			return s, fmt.Errorf("%w while validating, after line %d of %s: nothing was enqueued", ErrInterrupted, v.read, in.Name())
		}
		if errors.As(err, new(*InputError)) { // every row is validated before any is enqueued
			return s, fmt.Errorf("%w: nothing was enqueued", err)
		}
		return s, err
	}
	if opt.DryRun {
		if s.Invalid > 0 {
			return s, tag(ErrInvalidRows, "%s in %s (dry run: %s valid, nothing was enqueued)", count(s.Invalid, "invalid row"), in.Name(), count(s.Valid, "row"))
		}
		return s, nil
	}
	if s.Invalid > 0 && !opt.SkipInvalid {
		if s.Valid == 0 {
			return s, tag(ErrInvalidRows, "%s in %s, and no valid row: nothing was enqueued", count(s.Invalid, "invalid row"), in.Name())
		}
		return s, tag(ErrInvalidRows, "%s in %s: nothing was enqueued; fix them, or pass --skip-invalid to enqueue the %s",
			count(s.Invalid, "invalid row"), in.Name(), count(s.Valid, "valid row"))
	}

	if r.opt.Enqueuer == nil {
		if s.Valid == 0 {
			return s, invalidSkipped(s, in)
		}
		enq, err := opt.Connect(ctx)
		if err != nil && ctx.Err() != nil {
			// Ctrl-C while Redis was being reached: a stop, not a failure of the rows.
			s.Stopped = true
			return s, errors.Join(fmt.Errorf("%w before the first row of %s was enqueued (while reaching Redis); re-run the same command to continue", ErrInterrupted, in.Name()),
				invalidSkipped(s, in))
		}
		if err != nil {
			// Every valid row is one not written.
			s.Failed = s.Valid
			return s, errors.Join(fmt.Errorf("%w: nothing was enqueued", err), invalidSkipped(s, in))
		}
		r.opt.Enqueuer = enq
	}
	e, err := r.enqueue(ctx, sp, s.Valid)
	s.Enqueued, s.Duplicate, s.Failed = e.enqueued, e.duplicate, e.failed
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if err := invalidSkipped(s, in); err != nil {
		errs = append(errs, err)
	}
	if e.unmarked > 0 {
		errs = append(errs, tag(ErrUnmarked, "%s could not be marked replayed, though their rows' tasks are in Redis: a later 'enqueue dead replay' would send the tasks they were exported from (unfixed) again; mark them by running the same command again once Redis takes the mark", count(e.unmarked, "dead letter")))
	}
	if s.Failed > 0 {
		errs = append(errs, tag(ErrFailedRows, "%s failed to enqueue (one that timed out may have been written all the same); re-run the same command to retry: rows already enqueued are reported as duplicates", count(s.Failed, "row")))
	}
	where := fmt.Sprintf("after line %d of %s", e.line, in.Name())
	if e.line == 0 {
		where = fmt.Sprintf("before the first row of %s was enqueued", in.Name())
	}
	switch {
	case e.stopped:
		s.Stopped, s.Line = true, e.line
		errs = append(errs, fmt.Errorf("%w %s: %d enqueues in a row failed; re-run the same command to continue once Redis is back: rows already enqueued are reported as duplicates", ErrStopped, where, r.failureLimit()))
	case e.interrupted:
		s.Stopped, s.Line = true, e.line
		errs = append(errs, fmt.Errorf("%w %s; re-run the same command to continue: rows already enqueued are reported as duplicates", ErrInterrupted, where))
	}
	return s, errors.Join(errs...)
}

// invalidSkipped is the error of a run that skipped invalid rows, nil when there were none.
func invalidSkipped(s Summary, in *Input) error {
	if s.Invalid == 0 {
		return nil
	}
	return tag(ErrInvalidRows, "%s in %s skipped", count(s.Invalid, "invalid row"), in.Name())
}

// runner is one backfill run.
type runner struct {
	in       *Input
	opt      Options
	progress *progress
}

// failureLimit is how many enqueues may fail in a row before the run stops: Redis is then
// gone, and reporting every remaining row as failed would help no one.
func (r *runner) failureLimit() int { return max(10, 2*r.opt.Concurrency) }

// CheckOptions reports what is wrong with task options, with the code of package tasks, before
// any row is read: it applies them to a payload known to be valid.
func CheckOptions(opts ...tasks.Option) error {
	probe := tasks.LicencePayload{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence}
	_, _, err := tasks.NewLicenceTask(probe, opts...)
	return err
}

// count says "1 row" or "3 rows".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// tagged is an error with its own message that matches a sentinel with errors.Is.
type tagged struct {
	msg  string
	kind error
}

func (t *tagged) Error() string { return t.msg }

func (t *tagged) Unwrap() error { return t.kind }

func tag(kind error, format string, args ...any) error {
	return &tagged{msg: fmt.Sprintf(format, args...), kind: kind}
}
