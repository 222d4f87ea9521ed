package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// Handlers of the bare server. "noop" is the baseline the worker is compared with; the others
// add, one at a time, what the worker does for each task, to show what costs what.
var bareHandlers = []string{
	"noop",                  // return nil
	"call",                  // decode and validate the payload, POST to the fake provider with the provider package's client, built as the worker builds it: a hand-rolled worker
	"call+check",            // call, after the worker's fleet check (ratelimit.Fleet.Check: the account's state, read from Redis at most every 250ms)
	"call+check+result",     // ... and write the result to the task (one HSET), as the worker does
	"call+check+result+log", // ... and log one JSON line per call, as the worker does at LOG_LEVEL=info: the worker's work
	"call+result+log",       // the worker's work without the fleet check
	"call+gotransport",      // call with Go's default transport (2 idle connections per host), as the worker did before it kept one per concurrent call
}

// runBare is the bare asynq server: what someone would write by hand with asynq, serving the
// worker's queues with the worker's weights and poll interval on one shared Redis client, as
// the worker does.
func runBare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	url := fs.String("redis", "", "")
	concurrency := fs.Int("concurrency", 20, "")
	poll := fs.Duration("poll", time.Second, "")
	handler := fs.String("handler", "noop", "")
	providerURL := fs.String("provider", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opt, err := asynq.ParseRedisURI(*url)
	if err != nil {
		return err
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	defer rdb.Close()
	h, err := bareHandler(*handler, *providerURL, rdb, *concurrency)
	if err != nil {
		return err
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              *concurrency,
		Queues:                   worker.QueueWeights,
		TaskCheckInterval:        *poll,
		DelayedTaskCheckInterval: *poll,
		LogLevel:                 asynq.WarnLevel,
	})
	if err := srv.Start(h); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

func bareHandler(name, providerURL string, rdb redis.UniversalClient, concurrency int) (asynq.Handler, error) {
	if name == "noop" {
		return asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil }), nil
	}
	steps := map[string]bool{}
	for _, s := range strings.Split(name, "+") {
		steps[s] = true
	}
	if !steps["call"] {
		return nil, fmt.Errorf("-handler %q: want one of %s", name, strings.Join(bareHandlers, ", "))
	}
	opts := []provider.Option{provider.WithTimeout(30 * time.Second), provider.WithUserAgent("ovqueue-bench"),
		provider.WithMaxIdleConns(concurrency)}
	if steps["gotransport"] {
		opts = append(opts, provider.WithHTTPClient(&http.Client{}))
	}
	pc, err := provider.New(providerURL, opts...)
	if err != nil {
		return nil, err
	}
	creds, err := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	if err != nil {
		return nil, err
	}
	fleet := ratelimit.New(rdb, time.Minute, 0)
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		p, err := tasks.DecodeLicence(t.Payload())
		if err != nil {
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		id, _ := asynq.GetTaskID(ctx)
		if steps["check"] {
			if _, err := fleet.Check(ctx, creds.LoginName(), id); err != nil { // the limits are kept by login
				return err
			}
		}
		start := time.Now()
		resp, err := pc.ModifyThirdPartyDetails(ctx, creds, p.Request())
		if err != nil {
			return err
		}
		took := time.Since(start)
		if steps["log"] {
			log.Info().Str("task", id).Str("type", t.Type()).Str("account", tasks.DefaultAccount).
				Int64("order", int64(p.OrderNumber)).Int64("product", int64(p.Product)).Str("action", p.Action).
				Int("attempt", 1).Str("outcome", "success").
				Str("duration", took.Round(time.Microsecond).String()).Float64("durationMs", float64(took.Microseconds())/1000).
				Int("errorCode", resp.Code).Msg("provider call")
		}
		if steps["result"] {
			b, _ := json.Marshal(map[string]any{"code": resp.Code, "errorCode": resp.Code, "attempts": 1, "duration": took.String(), "durationMs": took.Milliseconds()})
			if _, err := t.ResultWriter().Write(b); err != nil {
				return err
			}
		}
		return nil
	}), nil
}
