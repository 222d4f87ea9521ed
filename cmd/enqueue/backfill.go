package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/tasks"
)

// maxConcurrency bounds --concurrency: far beyond what one Redis answers faster with.
const maxConcurrency = 256

// backfillFlags are the flags of `enqueue backfill`.
type backfillFlags struct {
	taskFlags
	format              *string
	dryRun, skipInvalid *bool
	concurrency, rate   cli.Int
}

// newBackfillFlags returns backfill's flag set and the flags it sets.
func newBackfillFlags() (*flag.FlagSet, *backfillFlags) {
	fs := newFlagSet("backfill")
	bf := &backfillFlags{concurrency: cli.Int(backfill.DefaultConcurrency)}
	bf.register(fs, tasks.QueueBackfill)
	bf.format = fs.String("format", "", "the rows' `format`, jsonl or csv (default: from the file's extension; jsonl for standard input)")
	bf.dryRun = fs.Bool("dry-run", false, "validate every row and enqueue nothing")
	bf.skipInvalid = fs.Bool("skip-invalid", false, "enqueue the valid rows even when some are invalid (those are still reported, and the exit code is 1)")
	fs.Var(&bf.concurrency, "concurrency", fmt.Sprintf("enqueue `N` rows at once, 1 to %d", maxConcurrency))
	fs.Var(&bf.rate, "rate", "enqueue at most `N` rows a second; rows already in Redis do not wait (default: as fast as Redis takes them)")
	return fs, bf
}

func (a *app) backfill(ctx context.Context, args []string) error {
	fs, bf := newBackfillFlags()
	positional, done, err := a.parse(fs, args, backfillUsage, backfillMore)
	if done || err != nil {
		return err
	}
	tf, format, dryRun, skipInvalid, concurrency, rate := &bf.taskFlags, bf.format, bf.dryRun, bf.skipInvalid, bf.concurrency, bf.rate

	switch {
	case len(positional) == 0:
		return cli.Usagef("missing FILE: the path of the rows, or - for standard input")
	case len(positional) > 1:
		return cli.Usagef("one FILE at a time, got %d arguments besides the flags (not shown: one may be part of a secret; a value with spaces must be quoted)", len(positional))
	case cli.IsSet(fs, "key"):
		return cli.Usagef("--key: not for a backfill: every row would get the same task ID (rows get theirs from their content)")
	case concurrency < 1 || concurrency > maxConcurrency:
		return cli.Usagef("--concurrency: must be 1 to %d, got %d", maxConcurrency, concurrency)
	case rate < 0:
		return cli.Usagef("--rate: must be 0 (no limit) or more, got %d", rate)
	}
	path := positional[0]
	f, err := inputFormat(path, *format)
	if err != nil {
		return cli.Usage(err)
	}
	opts, err := tf.options(fs)
	if err == nil {
		err = flagErrors(tasks.ValidateAccount(tf.account), nil)
	}
	if err != nil {
		return cli.Usage(err)
	}

	// The URL is read now (a bad one is a usage error before any row is read); Redis is
	// contacted only once every row is valid, so that its absence hides no bad row.
	var connectRedis func(context.Context) (backfill.Enqueuer, error)
	var rdb redis.UniversalClient
	defer func() {
		if rdb != nil {
			_ = rdb.Close()
		}
	}()
	// Read even for a dry run, which never connects: a bad URL is refused before any row is
	// read, as it would be in the run the dry run prepares.
	conn, shown, from, err := tf.redis.conn(a.getenv, a.stderr, int(concurrency)+1) // and the look-ups
	if err != nil {
		return err
	}
	if !*dryRun {
		connectRedis = func(ctx context.Context) (backfill.Enqueuer, error) {
			c, err := connect(ctx, conn, shown, from)
			if err != nil {
				return nil, err
			}
			rdb = c
			return resender{tasks.NewEnqueuer(c), deadletter.New(c)}, nil
		}
	}

	in, err := backfill.OpenInput(path, a.stdin)
	if err != nil {
		return cli.Usagef("cannot read %s: %w", displayName(path), unwrapPath(err))
	}
	defer in.Close()

	summary, runErr := backfill.Run(ctx, in, backfill.Options{
		Format:      f,
		TaskOptions: opts,
		Account:     tf.account,
		SkipInvalid: *skipInvalid,
		DryRun:      *dryRun,
		Concurrency: int(concurrency),
		Rate:        float64(rate),
		Connect:     connectRedis,
		Stderr:      a.stderr,
		Terminal:    a.terminal,
	})
	if errors.Is(runErr, backfill.ErrTempDir) {
		// Nothing was read: a matter of configuration (exit 2), with no summary, as for any
		// other usage or configuration error.
		return cli.Usage(errors.Join(runErr, in.Close()))
	}
	if cli.ExitCode(runErr) == cli.ExitUsage {
		// Redis refused the login or the database: configuration too.
		return errors.Join(runErr, in.Close())
	}
	if tf.json {
		err = a.writeJSON(summary)
	} else {
		_, err = fmt.Fprintln(a.stdout, summary)
	}
	if *dryRun && runErr == nil {
		fmt.Fprintf(a.stderr, "dry run: %s valid, nothing enqueued\n", countRows(summary.Valid))
	}
	if cerr := in.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if runErr != nil {
		return cli.Failed(errors.Join(runErr, err))
	}
	return err
}

// resender enqueues a backfill's rows, and marks the dead letters of rows exported from them.
type resender struct {
	*tasks.Enqueuer
	dead *deadletter.Store
}

var _ backfill.ReplayMarker = resender{}

func (r resender) MarkResent(ctx context.Context, entryID, taskID string) (bool, error) {
	return r.dead.MarkResent(ctx, entryID, taskID, time.Now())
}

// countRows says "1 row" or "3 rows".
func countRows(n int) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

// inputFormat is the --format, else the one the file's extension tells; standard input is
// JSON Lines unless told otherwise.
func inputFormat(path, flagValue string) (backfill.Format, error) {
	if flagValue != "" {
		f, err := backfill.ParseFormat(flagValue)
		if err != nil {
			return "", fmt.Errorf("--format: %w", err)
		}
		return f, nil
	}
	if path == "-" {
		return backfill.JSONL, nil
	}
	if f, ok := backfill.FormatOf(path); ok {
		return f, nil
	}
	return "", fmt.Errorf("--format: cannot tell the format of %s from its extension (.jsonl, .ndjson, .json or .csv); pass --format jsonl or --format csv", path)
}

func displayName(path string) string {
	if path == "-" {
		return backfill.StdinName
	}
	return path
}
