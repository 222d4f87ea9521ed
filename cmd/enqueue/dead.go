package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
	"github.com/redis/go-redis/v9"
)

// deadFlags are the flags of the dead subcommands.
type deadFlags struct {
	redis redisFlag
	code  cli.Int
	typ   string
	json  bool
}

func (d *deadFlags) register(fs *flag.FlagSet) {
	d.redis.register(fs)
	fs.Var(&d.code, "code", "only dead letters with this provider errorCode (0: failures without one)")
	fs.StringVar(&d.typ, "type", "", "only dead letters of this task `type`: ovcallback:update or licence:modify")
	fs.BoolVar(&d.json, "json", false, "write results as JSON")
}

// deadCmd is one run of a dead subcommand.
type deadCmd struct {
	*app
	fs    *flag.FlagSet
	flags deadFlags
	store *deadletter.Store
	rdb   redis.UniversalClient
}

// match applies the --code and --type filters.
func (c *deadCmd) match(r deadletter.Record) bool {
	// --code 0 means the failures without a code: null in the record (0 in one written
	// before the record had null).
	if cli.IsSet(c.fs, "code") {
		code := 0
		if r.ErrorCode != nil {
			code = *r.ErrorCode
		}
		if code != int(c.flags.code) {
			return false
		}
	}
	return c.flags.typ == "" || r.Type == c.flags.typ
}

// dead runs `enqueue dead list|export|replay` and returns the command's name.
func (a *app) dead(ctx context.Context, args []string) (string, error) {
	if len(args) == 0 {
		return "dead", cli.Usagef("missing subcommand: list, export FILE or replay")
	}
	sub := args[0]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(a.stdout, deadHelp)
		return "dead", nil
	case "list", "export", "replay":
	default:
		return "dead", cli.Usagef("unknown subcommand %q: want list, export FILE or replay", sub)
	}
	name := "dead " + sub
	c := &deadCmd{app: a, fs: newFlagSet(name)}
	c.flags.register(c.fs)
	positional, done, err := a.parse(c.fs, args[1:], deadUsage, deadMore)
	if done || err != nil {
		return name, err
	}
	switch {
	case sub == "export" && len(positional) == 0:
		return name, cli.Usagef("missing FILE: the path to write, or - for standard output")
	case sub == "export" && len(positional) > 1, sub != "export" && len(positional) > 0:
		return name, cli.Usagef("unexpected argument (not shown: it may be part of a secret; a value with spaces must be quoted)")
	}
	if cli.IsSet(c.fs, "type") && c.flags.typ == "" {
		// An unset shell variable: without this, a replay of one type would replay them all.
		return name, cli.Usagef("--type is empty: name a task type (%s, %s), or leave --type out for every type",
			tasks.TypeOVCallbackUpdate, tasks.TypeLicenceModify)
	}
	switch c.flags.typ {
	case "", tasks.TypeOVCallbackUpdate, tasks.TypeLicenceModify:
	default:
		// Not refused: the record also holds tasks of types no worker knows (dead-lettered
		// for that reason), and they can be picked out by it. But a typo would match nothing
		// and read as "no dead letters", so say so.
		fmt.Fprintf(a.stderr, "enqueue %s: warning: --type %q is not a type the workers run (%s, %s); only misrouted tasks can have it\n",
			name, c.flags.typ, tasks.TypeOVCallbackUpdate, tasks.TypeLicenceModify)
	}

	rdb, err := c.flags.redis.open(ctx, a.getenv, a.stderr, 1)
	if err != nil {
		return name, err
	}
	defer rdb.Close()
	c.store, c.rdb = deadletter.New(rdb), rdb

	switch sub {
	case "list":
		return name, c.list(ctx)
	case "export":
		return name, c.export(ctx, positional[0])
	default:
		return name, c.replay(ctx)
	}
}

// listed is a record as `dead list --json` writes it.
type listed struct {
	EntryID string `json:"entryId"`
	deadletter.Record
}

// list writes one line per matching record, oldest first.
func (c *deadCmd) list(ctx context.Context) error {
	w := bufio.NewWriter(c.stdout)
	n := 0
	err := c.store.Scan(ctx, func(r deadletter.Record) error {
		if !c.match(r) {
			return nil
		}
		n++
		if c.flags.json {
			return writeJSONLine(w, listed{EntryID: r.EntryID, Record: r})
		}
		replayed := "no"
		if r.ReplayedAt != nil {
			replayed = r.ReplayedAt.UTC().Format(time.RFC3339)
		}
		_, err := fmt.Fprintf(w, "%s %s type=%s queue=%s reason=%s errorCode=%s attempts=%d replayed=%s errorMessage=%s\n",
			r.FailedAt.UTC().Format(time.RFC3339), r.TaskID, r.Type, r.Queue, r.Reason, deadletter.CodeText(r.ErrorCode), r.Attempts,
			replayed, strconv.Quote(r.ErrorMessage))
		return err
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return cli.Failed(err)
	}
	if n == 0 && !c.flags.json {
		fmt.Fprintln(c.stderr, "no dead letters match")
	}
	return nil
}

// export writes the matching records as backfill rows to path ("-": stdout). It never
// overwrites a file: fixed rows are someone's work.
func (c *deadCmd) export(ctx context.Context, path string) (err error) {
	var unreadable *deadletter.UnreadableError // entries skipped: the file is kept, the command fails
	defer func() {
		if err == nil && unreadable != nil {
			err = cli.Failed(unreadable)
		}
	}()
	var out io.Writer = c.stdout
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		// A backfill reads a file by its extension: this one would be read as CSV, and fail.
		return cli.Usagef("%s: the export is JSON Lines; name it .jsonl (a backfill reads a .csv file as CSV)", path)
	}
	if path != "-" {
		// Assigned, not declared: the deferred clean-up below must see the function's err.
		var f *os.File
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // rows hold e-mail addresses and phone numbers
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return cli.Usagef("%s already exists: choose another name, or remove it first", path)
			}
			return cli.Usagef("cannot create %s: %w", path, unwrapPath(err))
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = cli.Failedf("write %s: %w", path, cerr)
			}
			if err != nil {
				_ = os.Remove(path) // never leave half an export behind
			}
		}()
		out = f
	}
	w := bufio.NewWriter(out)
	n := 0
	err = c.store.Scan(ctx, func(r deadletter.Record) error {
		if !c.match(r) {
			return nil
		}
		line, flat, err := backfill.ExportRow(r)
		if err != nil {
			return err
		}
		if !flat {
			fmt.Fprintf(c.stderr, "%s: the payload is not an object of payload fields; written whole as \"payload\": fix that row before a backfill\n", r.TaskID)
		}
		n++
		_, err = w.Write(append(line, '\n'))
		return err
	})
	// Entries that are not records were skipped: the export of the others stands, and the
	// command fails once it has said what it wrote.
	if errors.As(err, &unreadable) {
		err = nil
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return cli.Failedf("export to %s: %w", displayOut(path), err)
	}
	if path == "-" {
		// Standard output holds the rows: the summary goes to standard error, as JSON with --json.
		if c.flags.json {
			return writeJSONLine(c.stderr, map[string]any{"exported": n})
		}
		fmt.Fprintf(c.stderr, "exported=%d\n", n)
		return nil
	}
	if c.flags.json {
		return c.writeJSON(map[string]any{"exported": n, "file": path})
	}
	_, err = fmt.Fprintf(c.stdout, "exported=%d file=%s\n", n, path)
	return err
}

// replaySummary is the last line of `dead replay`.
type replaySummary struct {
	Replayed  int `json:"replayed"`
	Duplicate int `json:"duplicate"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"` // already replayed
}

func (s replaySummary) String() string {
	return fmt.Sprintf("replayed=%d duplicate=%d failed=%d skipped=%d", s.Replayed, s.Duplicate, s.Failed, s.Skipped)
}

// replay enqueues every matching record not yet replayed: from asynq's archive when it still
// holds the task, else rebuilt from the record with the record's task ID.
func (c *deadCmd) replay(ctx context.Context) error {
	inspector, enqueuer := asynq.NewInspectorFromRedisClient(c.rdb), tasks.NewEnqueuer(c.rdb)
	var sum replaySummary
	// The tasks this run has put back (or found back). A task dead-lettered twice has two
	// records: once the first is replayed, the second is covered by that replay, even if
	// the task has failed and been archived again in the meantime.
	handled := make(map[string]struct{})
	err := c.store.Scan(ctx, func(r deadletter.Record) error {
		if !c.match(r) {
			return nil
		}
		if r.ReplayedAt != nil {
			sum.Skipped++
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err // Ctrl-C: stop between dead letters, never inside one
		}
		// Once started, a replay and the mark that it happened go through together.
		one := context.WithoutCancel(ctx)
		if _, ok := handled[r.TaskID]; ok {
			if err := c.store.MarkReplayed(one, r.EntryID, time.Now()); err != nil {
				sum.Failed++
				fmt.Fprintf(c.stderr, "%s: replayed earlier in this run, but recording that for this dead letter failed: %v\n", r.TaskID, err)
				return nil
			}
			sum.Skipped++
			return nil
		}
		res, err := replayOne(one, inspector, enqueuer, r)
		if err == nil {
			handled[r.TaskID] = struct{}{}
			if merr := c.store.MarkReplayed(one, r.EntryID, time.Now()); merr != nil {
				err = fmt.Errorf("replayed, but recording that failed (a later replay will report it as a duplicate): %w", merr)
			}
		}
		if err != nil {
			sum.Failed++
			fmt.Fprintf(c.stderr, "%s: %v\n", r.TaskID, err)
			return nil
		}
		if res.Result == "duplicate" {
			sum.Duplicate++
		} else {
			sum.Replayed++
		}
		if c.flags.json {
			return c.writeJSON(res)
		}
		from := ""
		if res.From != "" {
			from = " from=" + res.From
		}
		_, err = fmt.Fprintf(c.stdout, "%s %s queue=%s state=%s%s\n", res.Result, res.ID, res.Queue, res.State, from)
		return err
	})
	if c.flags.json {
		if werr := c.writeJSON(sum); err == nil {
			err = werr
		}
	} else {
		fmt.Fprintln(c.stdout, sum)
	}
	switch {
	case ctx.Err() != nil:
		return cli.Failedf("interrupted: the dead letters not yet replayed are still there; run the same command again to continue")
	case err != nil:
		return cli.Failed(err)
	case sum.Failed > 0:
		if sum.Failed == 1 {
			return cli.Failedf("1 dead letter could not be replayed")
		}
		return cli.Failedf("%d dead letters could not be replayed", sum.Failed)
	}
	return nil
}

// replayOne puts one dead letter back in its queue, unless the task is back already, in any
// queue.
func replayOne(ctx context.Context, inspector *asynq.Inspector, enqueuer *tasks.Enqueuer, r deadletter.Record) (taskResult, error) {
	queue := r.Queue
	if queue == "" {
		queue = tasks.QueueDefault
	}
	found, err := enqueuer.Lookup(ctx, r.TaskID)
	if err != nil {
		return taskResult{}, err
	}
	existing := found[0]
	if existing.Duplicate && existing.State != asynq.TaskStateArchived.String() {
		// Already back (pending, scheduled, retrying, running or completed), in this queue or
		// another: the look-up reports a live copy before any archived one.
		return taskResult{Result: "duplicate", ID: r.TaskID, Queue: existing.Queue, State: existing.State}, nil
	}
	if existing.Duplicate {
		// Archived, and nowhere live. The copy in the record's queue, if it has one, else the
		// one the look-up found.
		info, err := inspector.GetTaskInfo(queue, r.TaskID)
		if err != nil || info.State != asynq.TaskStateArchived {
			info, err = inspector.GetTaskInfo(existing.Queue, r.TaskID)
		}
		switch {
		case err == nil && info.State == asynq.TaskStateArchived:
			return replayArchived(ctx, inspector, enqueuer, info)
		case err == nil:
			// Changed state between the two look-ups.
			return taskResult{Result: "duplicate", ID: r.TaskID, Queue: info.Queue, State: info.State.String()}, nil
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			return taskResult{}, fmt.Errorf("look the task up in asynq: %w", err)
		}
		// Deleted in the meantime: rebuilt from the record, as if never archived.
	}
	task, opts, err := tasks.Build(r.Type, r.Payload, tasks.Queue(queue))
	if err != nil {
		return taskResult{}, fmt.Errorf("rebuild from the record: %s (it cannot be replayed as it is: export it with 'enqueue dead export', fix the row, and backfill it)", fieldProblems(err))
	}
	// The record's ID, not the content's: an ID from a --key, and duplicate detection of
	// replays, both depend on it.
	res, err := enqueuer.Enqueue(ctx, task, append(opts, asynq.TaskID(r.TaskID))...)
	if err != nil {
		return taskResult{}, err
	}
	out := taskResult{Result: "replayed", ID: res.ID, Queue: res.Queue, State: res.State, From: "record"}
	if res.Duplicate {
		out.Result, out.From = "duplicate", ""
	}
	return out, nil
}

// replayArchived replaces asynq's archived copy of a task with a fresh one in the same queue.
// Not RunTask: it keeps the spent retry count, so the worker would dead-letter the task again
// after one more failure. The fresh task has the same ID, payload and budget; if the enqueue
// fails, the record still holds the task (it is marked replayed only on success).
func replayArchived(ctx context.Context, inspector *asynq.Inspector, enqueuer *tasks.Enqueuer, info *asynq.TaskInfo) (taskResult, error) {
	task, opts, err := tasks.Build(info.Type, info.Payload, tasks.Queue(info.Queue), tasks.MaxRetry(min(tasks.RetryBudget(info.MaxRetry), 1000)))
	if err != nil {
		return taskResult{}, fmt.Errorf("rebuild the archived task: %s (it cannot be replayed as it is: export it with 'enqueue dead export', fix the row, and backfill it)", fieldProblems(err))
	}
	if err := inspector.DeleteTask(info.Queue, info.ID); err != nil {
		return taskResult{}, fmt.Errorf("remove the archived copy: %w", err)
	}
	// No look-up in the other queues: the look-up before found no live copy, and an archived
	// copy left in another queue (a double from before) must not stop the replay.
	res, err := enqueuer.EnqueueNew(ctx, task, append(opts, asynq.TaskID(info.ID))...)
	if err != nil {
		return taskResult{}, fmt.Errorf("enqueue in place of the archived copy (the dead-letter record still holds it: replay again): %w", err)
	}
	if res.Duplicate {
		// Enqueued in this queue since the archived copy was removed: the task is back.
		return taskResult{Result: "duplicate", ID: res.ID, Queue: res.Queue, State: res.State}, nil
	}
	return taskResult{Result: "replayed", ID: res.ID, Queue: res.Queue, State: res.State, From: "archive"}, nil
}

// fieldProblems writes validation errors on one line: "field: why; field: why".
func fieldProblems(err error) string {
	fes := provider.FieldErrors(err)
	if len(fes) == 0 {
		return err.Error()
	}
	s := make([]string, len(fes))
	for i, fe := range fes {
		s[i] = fe.Error()
	}
	return strings.Join(s, "; ")
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func displayOut(path string) string {
	if path == "-" {
		return "standard output"
	}
	return path
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
