package config

import (
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/redisurl"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// devUIAddr is where the UI listens in dev mode unless UI_ADDR says otherwise.
const devUIAddr = "127.0.0.1:8080"

// Worker is the worker's whole configuration, checked once at start by Load. Its String and
// GoString never print a password; the fields that may hold one are also left out of JSON.
type Worker struct {
	Dev               bool                            // -dev / --dev: everything in process, for a first look
	Warnings          []string                        `json:"-"` // settings that work but may not do what was meant: log them at start
	RedisURL          string                          `json:"-"` // as given; "" only in dev mode without REDIS_URL: an embedded Redis
	Redis             asynq.RedisConnOpt              `json:"-"` // parsed RedisURL; nil when RedisURL is ""
	ProviderURL       string                          // checked by provider.ParseBaseURL (trailing slash added); "" in dev mode when unset: the fake provider
	Accounts          map[string]provider.Credentials // alias -> login; empty only in dev mode
	ProviderTimeout   time.Duration                   // one provider call
	ProviderRate      float64                         // most calls a second per account across all workers; 0 is off
	RateLimitCooldown time.Duration                   // how long an account cools down after -42/429
	RateLimitMaxWait  time.Duration                   // a task rate-limited longer than this is dead-lettered
	RetryBase         time.Duration                   // the backoff's first step
	RetryCap          time.Duration                   // the backoff's ceiling, >= RetryBase
	Concurrency       int                             // tasks in flight in this process, 1..10000
	PollInterval      time.Duration                   // how often an idle worker looks for tasks
	ShutdownTimeout   time.Duration                   // how long calls in flight may finish on SIGTERM/SIGINT
	UIAddr            string                          // the asynq web UI's host:port; "" is off
	UIUser            string                          // basic auth of the UI; set together with UIPassword
	UIPassword        string                          `json:"-"` // basic auth of the UI; never printed
	UIReadOnly        bool                            // hide the UI's destructive actions
	MetricsAddr       string                          // host:port of /metrics, /healthz, /readyz; "" is off
	LogLevel          zerolog.Level                   // trace, debug, info, warn or error
	LogFormat         string                          // "json" or "console"
}

// Load parses args (os.Args[1:] style, without the program name) and the environment through
// getenv, never os.Getenv. A flag wins over its variable, a variable over the default; an empty
// value counts as unset. The first missing or bad setting is returned as one error of one line
// that names the variable and its flag, and matches ErrInvalid. -h/--help writes the usage text
// to usage and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Worker, error) {
	src, err := parseArgs(args, getenv, usage)
	if err != nil {
		return nil, err
	}
	w := &Worker{}
	if w.Dev, err = parseBool(src, setDev, false); err != nil {
		return nil, err
	}

	w.RedisURL = src.raw(setRedisURL)
	if w.RedisURL == "" && !w.Dev {
		w.RedisURL = setRedisURL.def
	}
	if w.RedisURL != "" {
		var warning string
		if w.Redis, warning, err = parseRedisURL(w.RedisURL); err != nil {
			return nil, err
		}
		if warning != "" {
			w.Warnings = append(w.Warnings, warning)
		}
	}

	w.ProviderURL = src.raw(setProviderURL)
	if w.ProviderURL == "" && !w.Dev {
		w.ProviderURL = provider.DefaultBaseURL
	}
	if w.ProviderURL != "" {
		if w.ProviderURL, err = parseProviderURL(w.ProviderURL); err != nil {
			return nil, err
		}
	}

	if w.Accounts, err = loadAccounts(src); err != nil {
		return nil, err
	}
	// -dev lends the fake provider's demo login, and only to the fake provider: a provider of
	// one's own needs one's own login.
	switch {
	case len(w.Accounts) > 0:
		if _, ok := w.Accounts[defaultAlias]; !ok && (!w.Dev || w.ProviderURL != "") {
			// Tasks name "default" unless told otherwise: each would be dead-lettered.
			w.Warnings = append(w.Warnings, `no account "default" (PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD, or "default" in PROVIDER_ACCOUNTS_FILE): every task that names no account will be dead-lettered for want of a login`)
		}
	case !w.Dev:
		return nil, errNoAccount
	case w.ProviderURL != "":
		return nil, errNoAccountDev
	}

	durations := []struct {
		dst *time.Duration
		s   *setting
	}{
		{&w.ProviderTimeout, setProviderTimeout},
		{&w.RateLimitCooldown, setCooldown},
		{&w.RateLimitMaxWait, setMaxWait},
		{&w.RetryBase, setRetryBase},
		{&w.RetryCap, setRetryCap},
		{&w.PollInterval, setPollInterval},
		{&w.ShutdownTimeout, setShutdownTimeout},
	}
	for _, d := range durations {
		if *d.dst, err = parseDuration(src, d.s); err != nil {
			return nil, err
		}
	}
	if w.PollInterval < time.Millisecond {
		// Shorter, an idle worker spins: 1ns kept a core 85% busy and Redis at 28,000
		// commands a second.
		return nil, failf(setPollInterval, "must be at least 1ms, got %s", w.PollInterval)
	}
	if w.ProviderTimeout < time.Second {
		// Works against the fake provider on loopback; against the provider, over HTTPS, most
		// calls would time out, be retried and end dead-lettered.
		w.Warnings = append(w.Warnings, fmt.Sprintf("PROVIDER_TIMEOUT is %s, under a second: against the provider, over HTTPS, most calls would time out, be retried and end dead-lettered", w.ProviderTimeout))
	}
	if w.ProviderTimeout >= tasks.DefaultTimeout {
		// asynq ends a run at the task's timeout, and the call with it: a longer PROVIDER_TIMEOUT
		// never comes into play, and such a run spends the task's budget.
		w.Warnings = append(w.Warnings, fmt.Sprintf("PROVIDER_TIMEOUT is %s, not shorter than a task's run timeout (%s unless its producer set another): a call still running then is cut short with the run, which counts as a failed attempt", w.ProviderTimeout, tasks.DefaultTimeout))
	}
	if w.PollInterval > time.Minute {
		w.Warnings = append(w.Warnings, fmt.Sprintf("POLL_INTERVAL is %s: an idle worker looks for new tasks, and for retries that came due, only that often", w.PollInterval))
	}
	if w.RateLimitMaxWait < w.RateLimitCooldown {
		return nil, failf(setMaxWait, "must be at least RATE_LIMIT_COOLDOWN (%s), got %s", w.RateLimitCooldown, w.RateLimitMaxWait)
	}
	if w.RetryCap < w.RetryBase {
		return nil, failf(setRetryCap, "must be at least RETRY_BASE (%s), got %s", w.RetryBase, w.RetryCap)
	}
	if w.ProviderRate, err = parseRate(src, setProviderRate); err != nil {
		return nil, err
	}
	if w.Concurrency, err = parseInt(src, setConcurrency, 20, 1, 10000); err != nil {
		return nil, err
	}

	if err := loadUI(src, w); err != nil {
		return nil, err
	}
	if w.MetricsAddr, err = parseAddr(src, setMetricsAddr); err != nil {
		return nil, err
	}
	if w.MetricsAddr != "" && w.MetricsAddr == w.UIAddr && !strings.HasSuffix(w.MetricsAddr, ":0") {
		return nil, failf(setMetricsAddr, "must differ from UI_ADDR, both are %q", w.MetricsAddr)
	}

	if w.LogLevel, err = parseLevel(src, setLogLevel); err != nil {
		return nil, err
	}
	rawFormat := src.raw(setLogFormat)
	w.LogFormat = strings.ToLower(rawFormat) // as LOG_LEVEL: JSON works
	switch w.LogFormat {
	case "":
		w.LogFormat = setLogFormat.def
	case "json", "console":
	default:
		return nil, failf(setLogFormat, "must be json or console, got %q", rawFormat)
	}
	return w, nil
}

// loadUI reads UI_ADDR and the UI's basic auth, which is required unless the UI listens on
// loopback only.
func loadUI(src *source, w *Worker) error {
	var err error
	if w.UIAddr, err = parseAddr(src, setUIAddr); err != nil {
		return err
	}
	if w.UIAddr == "" && w.Dev {
		w.UIAddr = devUIAddr
	}
	w.UIUser = src.raw(setUIUser)
	if strings.Contains(w.UIUser, ":") {
		// Not quoted: "user:password" here is a password in the wrong place.
		return failf(setUIUser, "must not contain ':' (basic auth cannot carry it; the password goes in UI_PASSWORD)")
	}
	var passwordFrom *setting
	if w.UIPassword, passwordFrom, err = valueOrFile(src, setUIPassword, setUIPasswordFile); err != nil {
		return err
	}
	for _, r := range w.UIUser + w.UIPassword {
		if r < 0x20 || r == 0x7f {
			// A browser cannot send it: the UI could never be opened.
			return plainf("UI_USER and UI_PASSWORD: must not contain control characters (is one read from a file of more than one line?)")
		}
	}
	switch {
	case w.UIUser != "" && strings.TrimSpace(w.UIUser) == "":
		return failf(setUIUser, "must not be only spaces")
	case w.UIPassword != "" && strings.TrimSpace(w.UIPassword) == "":
		return failf(passwordFrom, "must not be only spaces")
	case w.UIUser != "" && w.UIPassword == "":
		return failf(setUIPassword, "required when UI_USER is set (or use UI_PASSWORD_FILE)")
	case w.UIUser == "" && w.UIPassword != "":
		return failf(setUIUser, "required when %s is set", passwordFrom.env)
	}
	if w.UIAddr == "" && w.UIUser != "" {
		w.Warnings = append(w.Warnings, "UI_USER and UI_PASSWORD are set but UI_ADDR is not: the UI is off")
	}
	if w.UIAddr != "" && w.UIUser == "" {
		host, _, _ := net.SplitHostPort(w.UIAddr) // checked by parseAddr
		if !isLoopback(host) {
			return plainf("UI_USER and UI_PASSWORD: required when UI_ADDR (%s) is not loopback", w.UIAddr)
		}
	}
	if w.UIReadOnly, err = parseBool(src, setUIReadOnly, false); err != nil {
		return err
	}
	return nil
}

// parseProviderURL checks PROVIDER_URL with provider.ParseBaseURL and returns it normalised.
func parseProviderURL(raw string) (string, error) {
	u, err := provider.ParseBaseURL(raw)
	if err != nil {
		return "", failf(setProviderURL, "%s", strings.TrimLeft(strings.TrimPrefix(err.Error(), "provider URL"), ": "))
	}
	return u.String(), nil
}

// parseDuration reads a duration that must be greater than zero.
func parseDuration(src *source, s *setting) (time.Duration, error) {
	raw := src.raw(s)
	if raw == "" {
		raw = s.def
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, failf(s, "must be a Go duration such as %s, got %q", s.def, raw)
	}
	if d <= 0 {
		return 0, failf(s, "must be greater than 0, got %q", raw)
	}
	return d, nil
}

// The range of PROVIDER_RATE: one call a day to a million a second.
const (
	minProviderRate = 1.0 / 86400
	maxProviderRate = 1e6
)

// parseRate reads a number of calls a second: 0 (off), or within the range above, decimals
// allowed.
func parseRate(src *source, s *setting) (float64, error) {
	raw := src.raw(s)
	if raw == "" {
		return 0, nil
	}
	r, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return 0, failf(s, "must be a number of calls a second such as 5 or 0.5, got %q", raw)
	}
	switch {
	case r < 0:
		return 0, failf(s, "must be 0 (off) or more, got %q", raw)
	case r > 0 && r < minProviderRate:
		return 0, failf(s, "must be 0 (off) or at least one call a day (%.7f), got %q", minProviderRate, raw)
	case r > maxProviderRate:
		return 0, failf(s, "must be at most %d calls a second, got %q", int(maxProviderRate), raw)
	}
	return r, nil
}

// parseInt reads a whole number from lo to hi.
func parseInt(src *source, s *setting, def, lo, hi int) (int, error) {
	raw := src.raw(s)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, failf(s, "must be a whole number from %d to %d, got %q", lo, hi, raw)
	}
	return n, nil
}

// parseBool reads true/false (and what strconv.ParseBool takes: 1, 0, t, f).
func parseBool(src *source, s *setting, def bool) (bool, error) {
	raw := src.raw(s)
	if raw == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, failf(s, "must be true or false, got %q", raw)
	}
	return b, nil
}

// parseAddr reads a listen address, host:port with a numeric port; "" is off.
func parseAddr(src *source, s *setting) (string, error) {
	raw := src.raw(s)
	if raw == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(raw)
	if err != nil {
		return "", failf(s, "must be host:port such as 127.0.0.1:8080 or :8080, got %q", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", failf(s, "port must be a number from 0 to 65535, got %q", raw)
	}
	return raw, nil
}

// logLevels are the levels LOG_LEVEL takes.
var logLevels = []zerolog.Level{zerolog.TraceLevel, zerolog.DebugLevel, zerolog.InfoLevel, zerolog.WarnLevel, zerolog.ErrorLevel}

// parseLevel reads a zerolog level among logLevels, in any case.
func parseLevel(src *source, s *setting) (zerolog.Level, error) {
	raw := src.raw(s)
	if raw == "" {
		return zerolog.InfoLevel, nil
	}
	l, err := zerolog.ParseLevel(strings.ToLower(raw))
	if err != nil || !slices.Contains(logLevels, l) {
		return 0, failf(s, "must be one of trace, debug, info, warn, error, got %q", raw)
	}
	return l, nil
}

// isLoopback reports whether a listen host reaches this machine only. An empty host listens on
// every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String returns a one-line summary that is safe to log: accounts by alias and login name only,
// the Redis URL's password replaced by "xxxxx", the UI's password never. Its receiver is a value so
// that printing a Worker, not only a *Worker, goes through it.
func (w Worker) String() string {
	redis := "embedded"
	if w.RedisURL != "" {
		redis = redisurl.Redact(w.RedisURL)
	}
	prov := "fake"
	if w.ProviderURL != "" {
		prov = redisurl.Redact(w.ProviderURL)
	}
	aliases := make([]string, 0, len(w.Accounts))
	for alias := range w.Accounts {
		aliases = append(aliases, alias)
	}
	slices.Sort(aliases)
	accounts := make([]string, len(aliases))
	for i, alias := range aliases {
		accounts[i] = alias + "=" + strconv.Quote(w.Accounts[alias].LoginName())
	}
	uiAuth := "none"
	if w.UIUser != "" {
		uiAuth = "user " + strconv.Quote(w.UIUser)
	}
	return fmt.Sprintf("dev=%t redis=%s provider=%s accounts=[%s] providerTimeout=%s providerRate=%s "+
		"rateLimitCooldown=%s rateLimitMaxWait=%s retryBase=%s retryCap=%s concurrency=%d pollInterval=%s "+
		"shutdownTimeout=%s ui=%s uiAuth=%s uiReadOnly=%t metrics=%s logLevel=%s logFormat=%s",
		w.Dev, redis, prov, strings.Join(accounts, " "), w.ProviderTimeout,
		strconv.FormatFloat(w.ProviderRate, 'g', -1, 64),
		w.RateLimitCooldown, w.RateLimitMaxWait, w.RetryBase, w.RetryCap, w.Concurrency, w.PollInterval,
		w.ShutdownTimeout, orOff(w.UIAddr), uiAuth, w.UIReadOnly, orOff(w.MetricsAddr), w.LogLevel, w.LogFormat)
}

// GoString is String, so that %#v does not print the passwords either.
func (w Worker) GoString() string { return w.String() }

func orOff(addr string) string {
	if addr == "" {
		return "off"
	}
	return addr
}
