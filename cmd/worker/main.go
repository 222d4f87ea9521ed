// Command worker executes ovqueue tasks: it takes them from Redis, calls the certificate
// provider, retries what can succeed later and dead-letters what never will. Configuration
// comes from the environment (or flags); `worker -dev` runs everything on one machine with
// nothing installed. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/config"
	"github.com/ovqueue/ovqueue/internal/logging"
)

func main() {
	redis.SetLogger(logging.Redis) // one per process: run points it at its logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go secondSignal(ctx)
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// secondSignal ends the process at once on a second SIGINT or SIGTERM, once the first has
// started the graceful shutdown: an operator who presses Ctrl-C again does not want to wait
// out SHUTDOWN_TIMEOUT. Tasks in flight come back when their lease expires, as after a crash.
func secondSignal(first context.Context) {
	<-first.Done()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	s := <-sig
	fmt.Fprintf(os.Stderr, "worker: second signal (%s): stopping now, without waiting for calls in flight; their tasks run again once their lease expires\n", s)
	os.Exit(1)
}
