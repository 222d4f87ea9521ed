// Command enqueue puts tasks for the ovqueue workers into Redis: one OV callback or licence
// change, a backfill of many rows from JSON Lines or CSV, and the dead-letter record's list,
// export and replay. Run `enqueue --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis logs connection trouble to the process's stderr on its own; the commands report
	// every failure themselves, in their own words.
	redis.SetLogger(quietLogger{})
	// A backfill keeps little alive but allocates for every row, so with the default GOGC the
	// collector runs every few thousand rows; at 400 it runs a quarter as often and a backfill
	// stays well under 100 MB (see bench/enqueue). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first Ctrl-C stops cleanly; a second one kills at once
	}()
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.ExitCode(err))
}

// quietLogger drops go-redis's log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
