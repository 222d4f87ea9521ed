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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/config"
	"github.com/ovqueue/ovqueue/internal/logging"
)

func main() {
	redis.SetLogger(logging.Redis) // one per process: run points it at its logger
	ctx, stop := stopOnSignal()
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

// sameSignalWindow: the same signal this soon after the first is a copy of it.
const sameSignalWindow = 250 * time.Millisecond

// exitNow ends the process at a second signal; tests replace it.
var exitNow = os.Exit

// stopOnSignal returns a context that ends at the first SIGINT or SIGTERM, which starts the
// graceful shutdown. A second signal ends the process at once: an operator who presses Ctrl-C
// again does not want to wait out SHUTDOWN_TIMEOUT. Tasks in flight then come back when their
// lease expires, as after a crash. Both signals go to one channel registered before run
// starts, so that neither can be missed. The same signal again within sameSignalWindow of the
// first is a copy of it: coreutils timeout, for one, signals the process and its group at
// once. stop stops listening, once run has returned.
func stopOnSignal() (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	var stopped atomic.Bool
	go func() {
		first, ok := <-sigs
		if !ok {
			return
		}
		cancel()
		firstAt := time.Now()
		for {
			s, ok := <-sigs
			if !ok || stopped.Load() {
				return
			}
			if s == first && time.Since(firstAt) < sameSignalWindow {
				continue
			}
			fmt.Fprintf(os.Stderr, "worker: second signal (%s): stopping now, without waiting for calls in flight; their tasks run again once their lease expires\n", s)
			exitNow(1)
			return
		}
	}()
	return ctx, func() {
		stopped.Store(true)
		signal.Stop(sigs)
		close(sigs) // no signal is sent to it after Stop returns
		cancel()
	}
}
