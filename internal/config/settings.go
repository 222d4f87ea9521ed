package config

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ovqueue/ovqueue/internal/cli"
)

// setting is one configuration value: its flag, the variable behind it and its help text.
type setting struct {
	flag    string // the flag's name, without dashes
	env     string // the environment variable; "" for a flag-only setting (--dev)
	typ     string // the kind of value, shown in the usage text; "" for a flag without a value
	def     string // the default as the usage text shows it; "" for none
	help    string
	boolean bool // the flag may be given without a value (--ui-readonly)
}

// name is how errors refer to the setting: `PROVIDER_TIMEOUT (--provider-timeout)`.
func (s *setting) name() string {
	if s.env == "" {
		return "--" + s.flag
	}
	return fmt.Sprintf("%s (--%s)", s.env, s.flag)
}

// The settings, in the order the usage text lists them and Load checks them.
var (
	setDev = &setting{flag: "dev", boolean: true,
		help: "run everything in this process: an embedded Redis (unless REDIS_URL is set; it keeps nothing after exit), the fake provider and demo tasks (unless PROVIDER_URL is set: that provider needs its own login), the UI on 127.0.0.1:8080"}
	setRedisURL = &setting{flag: "redis-url", env: "REDIS_URL", typ: "url", def: "redis://127.0.0.1:6379/0",
		help: "Redis for tasks and every other connection: redis://, rediss:// (TLS), redis-socket:///path or redis-sentinel://host:26379?master=NAME"}
	setProviderURL = &setting{flag: "provider-url", env: "PROVIDER_URL", typ: "url", def: "https://secure.trust-provider.com/products/",
		help: "the provider's base URL; http:// only for a loopback host"}
	setLoginName = &setting{flag: "provider-login-name", env: "PROVIDER_LOGIN_NAME", typ: "string",
		help: `login name of the account "default"`}
	setLoginNameFile = &setting{flag: "provider-login-name-file", env: "PROVIDER_LOGIN_NAME_FILE", typ: "file",
		help: "read PROVIDER_LOGIN_NAME from this file"}
	setLoginPassword = &setting{flag: "provider-login-password", env: "PROVIDER_LOGIN_PASSWORD", typ: "string",
		help: `password of the account "default" (a flag is visible to other users: prefer the file)`}
	setLoginPasswordFile = &setting{flag: "provider-login-password-file", env: "PROVIDER_LOGIN_PASSWORD_FILE", typ: "file",
		help: "read PROVIDER_LOGIN_PASSWORD from this file"}
	setAccountsFile = &setting{flag: "provider-accounts-file", env: "PROVIDER_ACCOUNTS_FILE", typ: "file",
		help: `several accounts, JSON {"alias": {"loginName": "...", "loginPassword": "..."}}`}
	setProviderTimeout = &setting{flag: "provider-timeout", env: "PROVIDER_TIMEOUT", typ: "duration", def: "30s",
		help: "one provider call"}
	setProviderRate = &setting{flag: "provider-rate", env: "PROVIDER_RATE", typ: "number", def: "0",
		help: "most calls a second per account (per provider login: aliases of one login share it), across all workers (0.5 allowed; one a day, 0.0000116, at least; 1000000 at most); 0 is off"}
	setCooldown = &setting{flag: "rate-limit-cooldown", env: "RATE_LIMIT_COOLDOWN", typ: "duration", def: "60s",
		help: "how long an account cools down, fleet-wide, after the call limit (-42 or HTTP 429)"}
	setMaxWait = &setting{flag: "rate-limit-max-wait", env: "RATE_LIMIT_MAX_WAIT", typ: "duration", def: "6h",
		help: "a task is dead-lettered when the cooldowns that held it (after its own -42/429, or its account's) add up to more than this; waits on PROVIDER_RATE do not count, and a call answered otherwise ends the wait; at least RATE_LIMIT_COOLDOWN"}
	setRetryBase = &setting{flag: "retry-base", env: "RETRY_BASE", typ: "duration", def: "30s",
		help: "first step of the exponential backoff (full jitter) of transient failures"}
	setRetryCap = &setting{flag: "retry-cap", env: "RETRY_CAP", typ: "duration", def: "1h",
		help: "ceiling of the backoff; at least RETRY_BASE"}
	setConcurrency = &setting{flag: "worker-concurrency", env: "WORKER_CONCURRENCY", typ: "int", def: "20",
		help: "tasks in flight in this process, 1 to 10000"}
	setPollInterval = &setting{flag: "poll-interval", env: "POLL_INTERVAL", typ: "duration", def: "1s",
		help: "how often an idle worker looks for tasks, and for retries that came due (at least 1ms)"}
	setShutdownTimeout = &setting{flag: "shutdown-timeout", env: "SHUTDOWN_TIMEOUT", typ: "duration", def: "30s",
		help: "on SIGTERM/SIGINT, how long calls in flight may finish"}
	setUIAddr = &setting{flag: "ui-addr", env: "UI_ADDR", typ: "host:port", def: "off; 127.0.0.1:8080 with --dev",
		help: "serve the asynq web UI here; UI_USER and UI_PASSWORD are required unless the host is loopback"}
	setUIUser = &setting{flag: "ui-user", env: "UI_USER", typ: "string",
		help: "basic-auth user of the UI"}
	setUIPassword = &setting{flag: "ui-password", env: "UI_PASSWORD", typ: "string",
		help: "basic-auth password of the UI (a flag is visible to other users: prefer the file)"}
	setUIPasswordFile = &setting{flag: "ui-password-file", env: "UI_PASSWORD_FILE", typ: "file",
		help: "read UI_PASSWORD from this file"}
	setUIReadOnly = &setting{flag: "ui-readonly", env: "UI_READONLY", typ: "bool", def: "false", boolean: true,
		help: "hide the UI's destructive actions (--ui-readonly, or --ui-readonly=true|false)"}
	setMetricsAddr = &setting{flag: "metrics-addr", env: "METRICS_ADDR", typ: "host:port", def: "off",
		help: "serve /metrics (Prometheus), /healthz and /readyz here"}
	setLogLevel = &setting{flag: "log-level", env: "LOG_LEVEL", typ: "level", def: "info",
		help: "trace, debug, info, warn or error"}
	setLogFormat = &setting{flag: "log-format", env: "LOG_FORMAT", typ: "format", def: "json",
		help: "json, or console for people"}
)

// allSettings lists every setting once, in usage order.
var allSettings = []*setting{
	setDev, setRedisURL, setProviderURL,
	setLoginName, setLoginNameFile, setLoginPassword, setLoginPasswordFile, setAccountsFile,
	setProviderTimeout, setProviderRate, setCooldown, setMaxWait, setRetryBase, setRetryCap,
	setConcurrency, setPollInterval, setShutdownTimeout,
	setUIAddr, setUIUser, setUIPassword, setUIPasswordFile, setUIReadOnly,
	setMetricsAddr, setLogLevel, setLogFormat,
}

// flagValue holds a flag's text as given; parsing waits until the variable is known, so that a
// bad value gets the same error whether it came from the flag or the variable.
type flagValue struct {
	value   string
	set     bool
	twice   bool // given more than once: an error once parsing is done (Set's error would quote the value)
	boolean bool
}

// String is empty so that nothing, not even the flag package, prints a value (it may be a password).
func (v *flagValue) String() string { return "" }

func (v *flagValue) Set(s string) error {
	v.twice = v.twice || v.set
	v.value, v.set = s, true
	return nil
}

// IsBoolFlag lets `--ui-readonly` stand for `--ui-readonly=true`.
func (v *flagValue) IsBoolFlag() bool { return v.boolean }

// argError says what in args the flag package refused or left over, as it reads them, without
// showing any argument (cli.ArgNotShown): an unknown flag, or an argument that is no flag.
// It returns nil for the one mistake it leaves to the flag package: a last flag without its
// value.
func argError(fs *flag.FlagSet, args []string) error {
	after := "" // the flag read last, and how
	for i := 0; i < len(args); i++ {
		arg, n := args[i], i+1
		if arg == "--" { // the end of the flags: anything after it is left over
			if i+1 < len(args) {
				return strayArg(n+1, after)
			}
			return nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			return strayArg(n, after)
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		f := fs.Lookup(name)
		if f == nil || name == "" || name[0] == '-' || name[0] == '=' {
			return plainf("%s (see --help)", cli.UnknownFlag(fs, n, name))
		}
		bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
		switch {
		case isBool && bf.IsBoolFlag():
			after = "--" + f.Name
			if !hasValue {
				after += " alone" // "--ui-readonly false" leaves "false" over
			}
		case hasValue:
			after = "--" + f.Name
		default:
			after = "--" + f.Name + " and its value"
			i++ // its value, whatever it looks like
		}
	}
	return nil
}

// strayArg is the error for the nth argument, which is no flag, read after the flag after.
func strayArg(n int, after string) error {
	msg := "unexpected " + cli.ArgNotShown(n)
	if after != "" {
		msg += " after " + after
	}
	msg += ": the worker takes only flags, and a value with spaces must be quoted"
	if f, ok := strings.CutSuffix(after, " alone"); ok {
		msg += "; a true/false flag takes its value as " + f + "=false"
	}
	return plainf("%s (see --help)", msg)
}

// source resolves a setting's raw text: the flag if it was given, else the variable.
type source struct {
	flags  map[*setting]*flagValue
	getenv func(string) string
}

// parseArgs registers every setting as a flag and parses args. It writes the usage text to usage
// only for -h/--help, so that any other mistake is the one line Load returns.
func parseArgs(args []string, getenv func(string) string, usage io.Writer) (*source, error) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	src := &source{flags: make(map[*setting]*flagValue, len(allSettings)), getenv: getenv}
	for _, s := range allSettings {
		v := &flagValue{boolean: s.boolean}
		src.flags[s] = v
		fs.Var(v, s.flag, s.help)
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == flag.ErrHelp {
			writeUsage(usage)
			return nil, flag.ErrHelp
		}
		if aerr := argError(fs, args); aerr != nil {
			return nil, aerr
		}
		// A flag without its value, the last argument: the flag package names only the flag.
		return nil, &settingError{msg: err.Error() + " (see --help)", err: err}
	}
	for _, s := range allSettings {
		v := src.flags[s]
		if v.twice {
			return nil, plainf("--%s given twice: give it once", s.flag)
		}
		// An empty flag means "not set", and would quietly hide a variable that is set:
		// --provider-url="$URL" with URL unset in a script would call the real provider in
		// place of PROVIDER_URL's, and --provider-accounts-file= would drop every account but
		// the default one. That is an error; an empty flag with no variable set is harmless,
		// and so is one that turns off what is off by default (--ui-addr=, --metrics-addr=).
		if v.set && v.value == "" && s.env != "" && src.getenv(s.env) != "" && !strings.HasPrefix(s.def, "off") {
			return nil, plainf("--%s is empty but %s is set: leave the flag out, or unset %s", s.flag, s.env, s.env)
		}
	}
	return src, nil
}

// raw returns the setting's text: the flag's if the flag was given (even empty), else the
// variable's. Empty means "not set": the default applies.
func (src *source) raw(s *setting) string {
	if v := src.flags[s]; v != nil && v.set {
		return v.value
	}
	if s.env == "" {
		return ""
	}
	return src.getenv(s.env)
}

// writeUsage prints every flag with its variable and default, one a line.
func writeUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: worker [flags]\n\n")
	b.WriteString("Takes tasks from Redis and calls the provider. Every setting is an environment variable\n")
	b.WriteString("with a flag of the same name; a flag wins over its variable, a variable over the default.\n")
	b.WriteString("Durations are Go durations (250ms, 30s, 1h).\n\nFlags:\n")
	width := 0
	left := make([]string, len(allSettings))
	for i, s := range allSettings {
		left[i] = "--" + s.flag
		if s.typ != "" {
			left[i] += " " + s.typ
		}
		width = max(width, len(left[i]))
	}
	for i, s := range allSettings {
		right := s.help
		if s.env != "" {
			right = s.env + ": " + right
		}
		if s.def != "" {
			right += " (default " + s.def + ")"
		}
		fmt.Fprintf(&b, "  %-*s   %s\n", width, left[i], right)
	}
	_, _ = io.WriteString(w, b.String())
}
