package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/config"
	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/logging"
	"github.com/ovqueue/ovqueue/internal/metrics"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/redisurl"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/internal/ui"
	"github.com/ovqueue/ovqueue/internal/worker"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// userAgent identifies the worker to the provider.
const userAgent = "ovqueue-worker/1"

// run starts the worker and blocks until ctx ends (SIGTERM/SIGINT), then shuts down: no new
// tasks, calls in flight get SHUTDOWN_TIMEOUT to finish.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args[1:], getenv, stdout) // --help is asked for: it goes to stdout
	if err != nil {
		return err
	}
	log := logging.New(stderr, cfg.LogLevel, cfg.LogFormat)
	// Quiet until Redis answers: if it never does, the start's one line says why, without
	// go-redis's own lines for every failed dial before it.
	logging.Redis.Use(zerolog.Nop())
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}

	var dev *devEnv
	if cfg.Dev {
		if dev, err = startDev(cfg); err != nil {
			return err
		}
		defer dev.Close()
		if dev.redis == nil && dev.fake != nil {
			// Before the worker takes a task: the banner comes after.
			log.Warn().Msg("-dev with REDIS_URL set: every task waiting in that Redis, not only the demo ones, goes to the fake provider and never reaches the real one; point -dev at a Redis of its own")
		}
	}

	// Every task in flight may write to Redis at once (its result, a dead letter, the fleet's
	// limits), beside asynq's own loops, the UI and the metrics; a pool smaller than that
	// (go-redis keeps 10 a CPU) would make them queue for a connection.
	rdb, ok := redisurl.WithPoolSize(cfg.Redis, cfg.Concurrency+16).MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return fmt.Errorf("REDIS_URL: unsupported connection type %T", cfg.Redis)
	}
	leaveRedis := false // set when asynq outlives the worker's shutdown: see worker.Shutdown
	defer func() {
		if !leaveRedis {
			_ = rdb.Close()
		}
	}()
	// go-redis does not give up a read when its context ends, so a signal is waited for beside
	// the ping rather than through it.
	ping := func() error {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		pinged := make(chan error, 1)
		go func() { pinged <- rdb.Ping(pingCtx).Err() }()
		select {
		case err := <-pinged:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err = ping()
	// A Redis loading its data (after a restart, a large AOF takes minutes) is there and will
	// answer: wait for it, rather than exit and leave a fleet restarting in a loop. Once it
	// has said so, a ping that gets no answer at all (a loading Redis may be slow to answer,
	// or restart again) is waited out too.
	for waited, silent := false, false; loading(err) || waited && noAnswer(err); {
		if !waited {
			log.Warn().Msg("Redis is loading its data set into memory; waiting for it (a signal stops the worker)")
			waited = true
		}
		if noAnswer(err) && !silent {
			log.Warn().Err(err).Msg("Redis, loading its data set, did not answer; still waiting for it")
		}
		silent = noAnswer(err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		if ctx.Err() != nil {
			break
		}
		if err = ping(); err == nil {
			log.Info().Msg("Redis has loaded its data set")
		}
	}
	if err != nil {
		if problem := redisurl.Refusal(err); problem != "" {
			return config.Invalidf("REDIS_URL (--redis-url): %s: %s", redisurl.Redact(cfg.RedisURL), problem)
		}
		if ctx.Err() != nil {
			// SIGINT/SIGTERM while waiting for Redis: stopped before starting, not a failure.
			log.Info().Msg("stopped before starting: a signal came while waiting for Redis")
			return nil
		}
		hint := ""
		if o, ok := cfg.Redis.(asynq.RedisClientOpt); ok && o.TLSConfig != nil && errors.Is(err, context.DeadlineExceeded) {
			// A plain Redis waits for the rest of a command that a TLS greeting never ends: the
			// port takes connections, and no answer comes.
			if c, derr := net.DialTimeout(cmp.Or(o.Network, "tcp"), o.Addr, 2*time.Second); derr == nil {
				_ = c.Close()
				hint = " (rediss:// speaks TLS: does the server take TLS on this port?)"
			}
		}
		return fmt.Errorf("REDIS_URL (--redis-url): cannot reach Redis at %s: %v%s", redisurl.Redact(cfg.RedisURL), err, hint)
	}
	logging.Redis.Use(log)

	pc, err := provider.New(cfg.ProviderURL, provider.WithTimeout(cfg.ProviderTimeout), provider.WithUserAgent(userAgent),
		provider.WithMaxIdleConns(cfg.Concurrency))
	if err != nil {
		return fmt.Errorf("PROVIDER_URL: %w", err)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	m := metrics.New(rdb, insp, tasks.Queues)
	fleet := ratelimit.New(rdb, cfg.RateLimitCooldown, cfg.ProviderRate)
	dead := deadletter.New(rdb)
	if err := checkKeys(ctx, fleet, dead, cfg.ProviderRate); err != nil {
		return config.Invalidf("REDIS_URL (--redis-url): %s: %v", redisurl.Redact(cfg.RedisURL), err)
	}
	// Until it is subscribed, cooldowns other workers start reach this one within
	// ratelimit.DefaultRefresh, by reading Redis.
	var failedOnce atomic.Bool
	stopFollowing := fleet.Follow(5*time.Second, func(err error) {
		if !failedOnce.Swap(true) {
			log.Warn().Err(err).Msg("cannot subscribe to the fleet's cooldown announcements; reading them from Redis every 250ms meanwhile, and trying again every 5s")
		}
	}, func() {
		if failedOnce.Load() {
			log.Info().Msg("subscribed to the fleet's cooldown announcements")
		}
	})
	defer stopFollowing()
	h, err := handler.New(handler.Config{
		Client: pc, Accounts: cfg.Accounts, Fleet: fleet, Logger: log, Observer: m,
		RateLimitMaxWait: cfg.RateLimitMaxWait,
	})
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Options{
		Redis: rdb, Handlers: h, DeadLetters: dead,
		Retry:       retry.Policy{Base: cfg.RetryBase, Cap: cfg.RetryCap},
		Concurrency: cfg.Concurrency, PollInterval: cfg.PollInterval, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log, OnDeadLetter: m.DeadLettered, OnUnrecorded: m.DeadLetterUnrecorded,
	})
	if err != nil {
		return err
	}

	var servers []*http.Server
	var afterServers []func() // what the servers' handlers use, closed once they have stopped
	defer func() {
		for _, s := range servers {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Shutdown(sctx)
			cancel()
		}
		for _, f := range afterServers {
			f()
		}
	}()
	serve := func(name, addr string, h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Str("server", name).Msg("HTTP server stopped")
			}
		}()
		log.Info().Str("server", name).Str("addr", ln.Addr().String()).Msg("listening") // the port, when :0 chose it
		return ln.Addr().String(), nil
	}
	var uiURL string
	if cfg.UIAddr != "" {
		u := ui.New(ui.Options{Redis: cfg.Redis, User: cfg.UIUser, Password: cfg.UIPassword, ReadOnly: cfg.UIReadOnly})
		afterServers = append(afterServers, func() { _ = u.Close() })
		addr, err := serve("UI_ADDR", cfg.UIAddr, u)
		if err != nil {
			return err
		}
		uiURL = "http://" + addr + "/"
	}
	if cfg.MetricsAddr != "" {
		if _, err := serve("METRICS_ADDR", cfg.MetricsAddr, m.Handler()); err != nil {
			return err
		}
	}

	if err := w.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	log.Info().Str("config", cfg.String()).Msg("worker started")
	if dev != nil {
		if err := dev.demo(ctx, rdb); err != nil {
			log.Warn().Err(err).Msg("could not enqueue the demo tasks")
		}
		dev.banner(stdout, uiURL)
	}

	<-ctx.Done()
	log.Info().Str("timeout", cfg.ShutdownTimeout.String()).Msg("shutting down: no new tasks; waiting for calls in flight (a second signal stops at once)")
	if !w.Shutdown() {
		leaveRedis = true // asynq still uses it; the process's exit closes it
	}
	logging.Redis.Flush() // go-redis's repeats held back, as asynq's were by Shutdown
	log.Info().Msg("stopped")
	return nil
}

// noAnswer reports whether err is a failure to get any answer from Redis (a connection
// error, a timeout), not an answer of its own.
func noAnswer(err error) bool {
	var reply redis.Error
	return err != nil && !errors.As(err, &reply)
}

// loading reports whether err is Redis's answer while it loads its data set.
func loading(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply) && strings.HasPrefix(reply.Error(), "LOADING ")
}

// checkKeys reads the worker's own keys as it will at work (the limiter's state of an
// account, the dead-letter record), so that a Redis user whose ACL does not cover them stops
// the worker at start: otherwise every task would be put back every few seconds, forever,
// without a call. Answers that waiting may change (a Redis still loading, gone away) are
// left to the work itself.
func checkKeys(ctx context.Context, fleet *ratelimit.Fleet, dead *deadletter.Store, rate float64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := fleet.Probe(ctx)
	if err == nil {
		_, err = dead.Len(ctx)
	}
	if err != nil && !deadletter.Unavailable(err) {
		return fmt.Errorf("the worker cannot use its keys in Redis (a Redis ACL user needs %s): %v", aclGrants(rate > 0), err)
	}
	return nil
}

// aclGrants is what a Redis ACL user of the worker needs: asynq's keys and its channel for
// cancels from the UI, the worker's own keys and its cooldown announcements, and with
// PROVIDER_RATE the limiter's keys.
func aclGrants(rate bool) string {
	keys := "~asynq:* ~ovqueue:*"
	if rate {
		keys += " ~rate:ovqueue:*"
	}
	return "the keys " + keys + " and the channels &asynq:cancel &ovqueue:cooldowns:*"
}
