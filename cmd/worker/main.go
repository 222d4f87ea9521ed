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
