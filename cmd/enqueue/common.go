package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/backfill"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/redisurl"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
	"github.com/redis/go-redis/v9"
)

// defaultRedisURL is used when neither --redis-url nor REDIS_URL is given.
const defaultRedisURL = "redis://127.0.0.1:6379/0"

// atLayout is the second form --at takes, besides RFC 3339: a UTC time to the minute, like
// the provider's preferredTimeUTC.
const atLayout = "2006-01-02 15:04"

// taskFlags are the common flags of the commands that enqueue.
type taskFlags struct {
	redis    redisFlag
	account  string
	queue    string
	key      string
	maxRetry cli.Int
	in       string
	at       string
	json     bool
}

// register adds the common flags to fs; queue is the default queue. A backfill has --key only
// to say why it does not take it.
func (f *taskFlags) register(fs *flag.FlagSet, queue string) {
	f.redis.register(fs)
	fs.StringVar(&f.account, "account", "", "the `alias` of the worker's provider account (default: the account named \"default\")")
	f.queue = queue
	fs.StringVar(&f.queue, "queue", queue, "the `queue`: default (live traffic) or backfill")
	keyUsage := "your idempotency `key` (1-100 of a-z A-Z 0-9 . _ : -): the task ID becomes TYPE:KEY instead of one derived from the content"
	if queue == tasks.QueueBackfill {
		keyUsage = "not for a backfill: each row's task ID comes from its content"
	}
	fs.StringVar(&f.key, "key", "", keyUsage)
	f.maxRetry = tasks.DefaultMaxRetry
	fs.Var(&f.maxRetry, "max-retry", "the retry budget: `N` transient failures allowed before the task is dead-lettered, 0 to 1000")
	fs.StringVar(&f.in, "in", "", "run after this `duration` (90s, 15m, 2h) instead of at once")
	fs.StringVar(&f.at, "at", "", "run at this `time`: RFC 3339 (2024-02-02T13:03:00Z) or \"2024-02-02 13:03\" in UTC")
	fs.BoolVar(&f.json, "json", false, "write results as JSON")
}

// options turns the flags into task options, checked with the code of package tasks. The error
// reports every bad flag, one a line.
func (f *taskFlags) options(fs *flag.FlagSet) ([]tasks.Option, error) {
	var opts []tasks.Option
	var errs []error
	// An empty value given on purpose is most often a shell variable left unset
	// (--account "$ACCT"): taking it for the flag left out would quietly use another account,
	// or run the task now.
	for _, e := range []struct{ flag, value, instead string }{
		{"account", f.account, `leave the flag out for the account named "default"`},
		{"in", f.in, "leave the flag out to run the task at once"},
		{"at", f.at, "leave the flag out to run the task at once"},
	} {
		if e.value == "" && cli.IsSet(fs, e.flag) {
			errs = append(errs, fmt.Errorf("--%s: empty; give a value, or %s", e.flag, e.instead))
		}
	}
	if cli.IsSet(fs, "queue") || f.queue != tasks.QueueDefault {
		opts = append(opts, tasks.Queue(f.queue))
	}
	if cli.IsSet(fs, "key") {
		opts = append(opts, tasks.Key(f.key))
	}
	if cli.IsSet(fs, "max-retry") {
		opts = append(opts, tasks.MaxRetry(int(f.maxRetry)))
	}
	switch {
	case f.in != "" && f.at != "":
		errs = append(errs, errors.New("--in and --at: give one or the other"))
	case f.in != "":
		if d, err := time.ParseDuration(f.in); err != nil {
			errs = append(errs, fmt.Errorf("--in: must be a duration such as 90s, 15m or 2h, got %q", f.in))
		} else {
			opts = append(opts, tasks.ProcessIn(d))
		}
	case f.at != "":
		if t, err := parseAt(f.at); err != nil {
			errs = append(errs, err)
		} else {
			opts = append(opts, tasks.ProcessAt(t))
		}
	}
	for _, o := range opts {
		errs = append(errs, flagErrors(backfill.CheckOptions(o), nil))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}

func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(atLayout, s, time.UTC); err == nil && len(s) == len(atLayout) { // hh:mm, as it says
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--at: must be RFC 3339 (2024-02-02T13:03:00Z) or \"yyyy-mm-dd hh:mm\" in UTC (2024-02-02 13:03), got %q", s)
}

// optionFlags names the flag behind each field that a task option reports.
var optionFlags = map[string]string{"account": "account", "queue": "queue", "key": "key", "maxRetry": "max-retry", "processIn": "in", "processAt": "at"}

// flagErrors rewrites the field errors in err so that each names the flag a person typed:
// "--time: must be ...". fields maps payload field names to flag names, on top of the common
// flags. Other errors are returned as they are.
func flagErrors(err error, fields map[string]string) error {
	fes := provider.FieldErrors(err)
	if len(fes) == 0 {
		return err
	}
	lines := make([]string, len(fes))
	for i, fe := range fes {
		name, ok := fields[fe.Field]
		if !ok {
			name, ok = optionFlags[fe.Field]
		}
		if !ok {
			name = fe.Field
		}
		lines[i] = "--" + name + ": " + fe.Problem
	}
	return errors.New(strings.Join(lines, "\n"))
}

// redisFlag is --redis-url, which defaults to REDIS_URL. Its value is never printed with a
// password.
type redisFlag struct {
	url string
	set bool // given, maybe empty
}

func (r *redisFlag) register(fs *flag.FlagSet) {
	fs.Func("redis-url", "the workers' Redis, any `URL` asynq takes: redis://, rediss://, redis-socket://, redis-sentinel:// (default $REDIS_URL, else "+defaultRedisURL+")",
		func(s string) error { r.url, r.set = s, true; return nil })
}

// conn parses the URL (from the flag, else REDIS_URL, else the default) into asynq's
// connection options, as the workers read their REDIS_URL, with room for poolSize connections
// at once. It also returns the URL with its password hidden, and where it came from, for
// messages. A URL that works but may not do what was meant is said on warn.
func (r *redisFlag) conn(getenv func(string) string, warn io.Writer, poolSize int) (opt asynq.RedisConnOpt, shown, from string, err error) {
	raw, from := r.url, "--redis-url"
	if r.set && raw == "" && getenv("REDIS_URL") != "" {
		// --redis-url="$URL" with URL unset would quietly go to another Redis.
		return nil, "", from, cli.Usagef("--redis-url is empty but REDIS_URL is set: leave the flag out, or unset REDIS_URL")
	}
	if raw == "" {
		raw, from = getenv("REDIS_URL"), "REDIS_URL"
	}
	if raw == "" {
		raw, from = defaultRedisURL, "the default Redis URL (no --redis-url or REDIS_URL)"
		if r.set {
			from = "the default Redis URL (--redis-url is empty and REDIS_URL unset)"
		}
	}
	shown = redisurl.Redact(raw)
	opt, warning, err := redisurl.Parse(raw)
	if err != nil {
		return nil, shown, from, cli.Usagef("%s: %w", from, err)
	}
	if warning != "" {
		fmt.Fprintf(warn, "enqueue: warning: %s: %s\n", from, warning)
	}
	return redisurl.WithPoolSize(opt, poolSize), shown, from, nil
}

// pingTimeout bounds the first contact with Redis.
var pingTimeout = 10 * time.Second

// probe dials the addresses of opt (the server, its socket, or the sentinels) and returns the
// first failure, or a plain "no answer" when each accepts a connection.
func probe(opt asynq.RedisConnOpt) error {
	network, addrs, silent := "tcp", []string(nil), "it accepts connections but does not answer"
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		if o.Network != "" {
			network = o.Network
		}
		addrs = []string{o.Addr}
		if o.TLSConfig != nil {
			silent += " (rediss:// speaks TLS: does the server take TLS on this port?)"
		}
	case asynq.RedisFailoverClientOpt:
		addrs = o.SentinelAddrs
		silent = "the sentinels accept connections, but no answer came through them (is the master down, or its name wrong?)"
	}
	for _, addr := range addrs {
		c, err := net.DialTimeout(network, addr, 2*time.Second)
		if err != nil {
			return err
		}
		_ = c.Close()
	}
	return errors.New(silent)
}

// open reads the Redis URL and connects to it (see connect).
func (r *redisFlag) open(ctx context.Context, getenv func(string) string, warn io.Writer, poolSize int) (redis.UniversalClient, error) {
	conn, shown, from, err := r.conn(getenv, warn, poolSize)
	if err != nil {
		return nil, err
	}
	return connect(ctx, conn, shown, from)
}

// connect opens a connection pool on the Redis that conn describes and makes sure it answers,
// so that a Redis that cannot be used is one line naming its URL (shown, as it may be shown)
// and where that came from (from), before any work starts. A server that refuses the login or
// the database is a configuration error; one that cannot be reached is a failure (exit 1), as
// it may be back in a moment. The caller closes the client.
func connect(ctx context.Context, conn asynq.RedisConnOpt, shown, from string) (redis.UniversalClient, error) {
	rdb, ok := conn.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, cli.Usagef("%s: this kind of Redis connection is not supported", from)
	}
	// go-redis retries a dial that fails, and a Sentinel URL multiplies its retries: 36 s to
	// report a sentinel that refuses connections. A first answer takes milliseconds.
	pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := rdb.Ping(pingCtx).Err()
	timedOut := errors.Is(pingCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	var ne net.Error
	switch {
	case err != nil && timedOut:
		// The deadline hides why: ask the addresses themselves.
		err = fmt.Errorf("no answer in %s: %w", pingTimeout, probe(conn))
	case err != nil && ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout():
		// go-redis's own read timeout ran out first: a bare "i/o timeout" says as little.
		err = fmt.Errorf("no answer: %w", probe(conn))
	}
	if err != nil {
		_ = rdb.Close()
		if problem := redisurl.Refusal(err); problem != "" {
			return nil, cli.Usagef("%s: %s: %s", from, shown, problem)
		}
		return nil, cli.Failedf("%s: %s: cannot reach Redis: %w", from, shown, err)
	}
	return rdb, nil
}
