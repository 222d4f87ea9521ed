package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/config"
	"github.com/ovqueue/ovqueue/internal/embedredis"
	"github.com/ovqueue/ovqueue/internal/redisurl"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// devRedisAddr is where `worker -dev` starts its embedded Redis, so that `enqueue` finds it
// with its default REDIS_URL.
const devRedisAddr = "127.0.0.1:6379"

// demoAccount is the account alias of the demo tasks. Only -dev knows it: a worker of a real
// deployment that meets a demo task left in a shared Redis dead-letters it without a call
// ("no login configured"), rather than send the demo's instructions to the provider.
const demoAccount = "ovqueue-dev-demo"

// devEnv is what -dev starts beside the worker: an embedded Redis unless REDIS_URL is set, and
// the fake provider unless PROVIDER_URL is set.
type devEnv struct {
	redis    *embedredis.Server
	fake     *providertest.Server
	redisURL string
	provURL  string
	demoIDs  []string
	// demoLogins are the configured account aliases that call the fake with its demo login.
	demoLogins []string
}

func startDev(cfg *config.Worker) (*devEnv, error) {
	d := &devEnv{redisURL: cfg.RedisURL, provURL: cfg.ProviderURL}
	if cfg.RedisURL == "" {
		s, err := embedredis.Start(devRedisAddr)
		if err != nil {
			return nil, fmt.Errorf("dev: cannot start the embedded Redis on %s (is a Redis already running there? set REDIS_URL to a database of its own on it, such as redis://127.0.0.1:6379/15: every task waiting in that database goes to the fake provider): %w", devRedisAddr, err)
		}
		d.redis = s
		d.redisURL = "redis://" + devRedisAddr + "/0"
		opt, err := asynq.ParseRedisURI(d.redisURL)
		if err != nil {
			d.Close()
			return nil, err
		}
		cfg.RedisURL, cfg.Redis = d.redisURL, opt
	}
	if cfg.ProviderURL == "" {
		fake, err := providertest.Start()
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("dev: start the fake provider: %w", err)
		}
		d.fake = fake
		d.provURL = fake.URL
		cfg.ProviderURL = fake.URL
		// The demo's scripted outcomes, by order number.
		fake.Script("900002", providertest.Answer{Code: -14}, providertest.Answer{Code: -14})
		fake.Script("900003", providertest.Answer{Code: -4, Item: "product"})
		fake.Script("900004", providertest.Answer{Code: -16})
	}
	if d.fake != nil {
		// The fake knows only its demo login. Every account alias calls it with that one, so
		// that tasks naming them run as they would against the provider, and a configured
		// login is never sent anywhere in dev mode.
		creds, err := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
		if err != nil {
			d.Close()
			return nil, err
		}
		accounts := map[string]provider.Credentials{tasks.DefaultAccount: creds, demoAccount: creds}
		for alias := range cfg.Accounts {
			accounts[alias] = creds
			d.demoLogins = append(d.demoLogins, alias)
		}
		slices.Sort(d.demoLogins)
		cfg.Accounts = accounts
	}
	return d, nil
}

// demo enqueues a handful of tasks that end in every state: completed, retrying, dead-lettered,
// scheduled. Against a real provider (PROVIDER_URL set) it enqueues nothing.
func (d *devEnv) demo(ctx context.Context, rdb redis.UniversalClient) error {
	if d.fake == nil {
		return nil
	}
	e := tasks.NewEnqueuer(rdb)
	type demo struct {
		task *asynq.Task
		opts []asynq.Option
		err  error
	}
	var demos []demo
	add := func(t *asynq.Task, o []asynq.Option, err error) { demos = append(demos, demo{t, o, err}) }
	const a = demoAccount
	add(tasks.NewOVCallbackTask(tasks.OVCallbackPayload{Account: a, OrderNumber: "900001", Action: provider.ActionScheduledCallback,
		PreferredTimeUTC: time.Now().UTC().Add(48 * time.Hour).Format(provider.PreferredTimeLayout)}))
	add(tasks.NewLicenceTask(tasks.LicencePayload{Account: a, OrderNumber: 900002, Product: 1061, Action: provider.ActionCancelLicence, CancelType: provider.CancelOnExpiration}))
	add(tasks.NewLicenceTask(tasks.LicencePayload{Account: a, OrderNumber: 900003, Product: 700, Action: provider.ActionCancelLicence}))
	add(tasks.NewOVCallbackTask(tasks.OVCallbackPayload{Account: a, OrderNumber: "900004", Action: provider.ActionReplaceEmailAddress, EmailAddress: "admin@example.com"}))
	add(tasks.NewLicenceTask(tasks.LicencePayload{Account: a, OrderNumber: 900005, Product: 341, QualysLoginName: "acme-scan"}, tasks.ProcessIn(time.Hour)))
	var errs []error
	for _, x := range demos {
		if x.err != nil {
			errs = append(errs, x.err)
			continue
		}
		res, err := e.Enqueue(ctx, x.task, x.opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.demoIDs = append(d.demoIDs, res.ID)
	}
	return errors.Join(errs...)
}

func (d *devEnv) banner(w io.Writer, uiURL string) {
	fmt.Fprintln(w, "ovqueue worker: dev mode")
	if d.redis != nil {
		fmt.Fprintf(w, "  Redis     %s  embedded, in memory: it keeps NOTHING after exit\n", d.redisURL)
	} else {
		fmt.Fprintf(w, "  Redis     %s\n", redisurl.Redact(d.redisURL))
	}
	if d.fake != nil {
		fmt.Fprintf(w, "  Provider  %s  fake: answers like the real one (every valid call succeeds, but for the demo orders below)\n", d.provURL)
		if len(d.demoLogins) > 0 {
			fmt.Fprintf(w, "            accounts %s call it with its demo login; the configured logins are not used\n", strings.Join(d.demoLogins, ", "))
		}
		if d.redis == nil {
			fmt.Fprintln(w, "  WARNING   REDIS_URL is set: every task waiting in its queues, not only the demo ones, goes to")
			fmt.Fprintln(w, "            the fake provider and never reaches the real one. Point -dev at a Redis of its own.")
		}
	} else {
		fmt.Fprintf(w, "  Provider  %s\n", d.provURL)
	}
	if uiURL != "" {
		fmt.Fprintf(w, "  UI        %s\n", uiURL)
	}
	if d.fake != nil {
		fmt.Fprintf(w, "  Demo tasks (watch them in the UI; account %s, which only -dev knows):\n", demoAccount)
		fmt.Fprintln(w, "    order 900001  ovcallback:update  succeeds")
		fmt.Fprintln(w, "    order 900002  licence:modify     -14 twice, retried with backoff, then succeeds")
		fmt.Fprintln(w, "    order 900003  licence:modify     -4, dead-lettered at once")
		fmt.Fprintln(w, "    order 900004  ovcallback:update  -16, dead-lettered at once")
		fmt.Fprintln(w, "    order 900005  licence:modify     scheduled in an hour")
	}
	fmt.Fprintln(w, "  Try, in another terminal:")
	if d.redis == nil {
		fmt.Fprintln(w, "    (with the same REDIS_URL)")
	}
	fmt.Fprintln(w, "    go run ./cmd/enqueue licence --order 123456 --product 1061 --action CANCELLICENCE")
	fmt.Fprintln(w, "  Stop with Ctrl-C.")
}

func (d *devEnv) Close() {
	if d.fake != nil {
		d.fake.Close()
	}
	if d.redis != nil {
		d.redis.Close()
	}
}
