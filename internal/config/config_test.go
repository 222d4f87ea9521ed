package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/provider"
)

// Passwords used by the tests; no error or String output may contain them.
const (
	loginPassword = "Pr0viderS3cret"
	uiPassword    = "Ui-S3cret-pw"
	redisPassword = "R3disS3cret"
)

// account is an environment with the "default" account, which a worker outside dev mode needs.
func account() map[string]string {
	return map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD": loginPassword}
}

// with returns base plus extra; an extra value of "" removes the variable.
func with(base map[string]string, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range extra {
		if v == "" {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// load calls Load with a fake environment.
func load(t *testing.T, args []string, env map[string]string) (*Worker, error) {
	t.Helper()
	var usage bytes.Buffer
	w, err := Load(args, func(k string) string { return env[k] }, &usage)
	if err == nil && w == nil {
		t.Fatal("Load returned neither a Worker nor an error")
	}
	return w, err
}

// mustLoad calls Load and fails the test on an error.
func mustLoad(t *testing.T, args []string, env map[string]string) *Worker {
	t.Helper()
	w, err := load(t, args, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return w
}

// writeFile writes content to a new file in a test's temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkErr asserts that err is one line matching ErrInvalid, contains every want and no secret.
func checkErr(t *testing.T, err error, want []string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want an error containing %q", want)
	}
	msg := err.Error()
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not match ErrInvalid", msg)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	for _, s := range append(secrets, loginPassword, uiPassword, redisPassword) {
		if strings.Contains(msg, s) {
			t.Errorf("error %q contains the secret %q", msg, s)
		}
	}
}

// sentPassword returns the loginPassword that creds put on the wire, read by a test server.
func sentPassword(t *testing.T, creds provider.Credentials) string {
	t.Helper()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		got <- r.PostForm.Get("loginPassword")
		fmt.Fprint(w, "errorCode=0")
	}))
	defer srv.Close()
	c, err := provider.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	req := provider.OVCallbackRequest{OrderNumber: "1234", Action: provider.ActionReplacePhone, PhoneNumber: "123456"}
	if _, err := c.UpdateUserOvCallback(t.Context(), creds, req); err != nil {
		t.Fatalf("call: %v", err)
	}
	return <-got
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	w := mustLoad(t, nil, account())

	checks := []struct {
		name      string
		got, want any
	}{
		{"Dev", w.Dev, false},
		{"RedisURL", w.RedisURL, "redis://127.0.0.1:6379/0"},
		{"ProviderURL", w.ProviderURL, provider.DefaultBaseURL},
		{"ProviderTimeout", w.ProviderTimeout, 30 * time.Second},
		{"ProviderRate", w.ProviderRate, 0.0},
		{"RateLimitCooldown", w.RateLimitCooldown, 60 * time.Second},
		{"RateLimitMaxWait", w.RateLimitMaxWait, 6 * time.Hour},
		{"RetryBase", w.RetryBase, 30 * time.Second},
		{"RetryCap", w.RetryCap, time.Hour},
		{"Concurrency", w.Concurrency, 20},
		{"PollInterval", w.PollInterval, time.Second},
		{"ShutdownTimeout", w.ShutdownTimeout, 30 * time.Second},
		{"UIAddr", w.UIAddr, ""},
		{"UIUser", w.UIUser, ""},
		{"UIPassword", w.UIPassword, ""},
		{"UIReadOnly", w.UIReadOnly, false},
		{"MetricsAddr", w.MetricsAddr, ""},
		{"LogLevel", w.LogLevel, zerolog.InfoLevel},
		{"LogFormat", w.LogFormat, "json"},
		{"len(Accounts)", len(w.Accounts), 1},
		{"Accounts[default].LoginName", w.Accounts["default"].LoginName(), "alice"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	opt, ok := w.Redis.(asynq.RedisClientOpt)
	if !ok || opt.Addr != "127.0.0.1:6379" || opt.DB != 0 || opt.TLSConfig != nil {
		t.Errorf("Redis = %#v, want a RedisClientOpt for 127.0.0.1:6379 DB 0 without TLS", w.Redis)
	}
	if got := sentPassword(t, w.Accounts["default"]); got != loginPassword {
		t.Errorf("the default account sends password %q, want %q", got, loginPassword)
	}
}

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env, flag        string
		envVal, flagVal  string
		get              func(*Worker) any
		wantEnv, wantFlg any
	}{
		{"REDIS_URL", "redis-url", "redis://10.0.0.1:6379/1", "redis://10.0.0.2:6379/2",
			func(w *Worker) any { return w.RedisURL }, "redis://10.0.0.1:6379/1", "redis://10.0.0.2:6379/2"},
		{"PROVIDER_URL", "provider-url", "https://a.example/p/", "https://b.example/p",
			func(w *Worker) any { return w.ProviderURL }, "https://a.example/p/", "https://b.example/p/"},
		{"PROVIDER_LOGIN_NAME", "provider-login-name", "envname", "flagname",
			func(w *Worker) any { return w.Accounts["default"].LoginName() }, "envname", "flagname"},
		{"PROVIDER_TIMEOUT", "provider-timeout", "5s", "7s",
			func(w *Worker) any { return w.ProviderTimeout }, 5 * time.Second, 7 * time.Second},
		{"PROVIDER_RATE", "provider-rate", "2", "0.5",
			func(w *Worker) any { return w.ProviderRate }, 2.0, 0.5},
		{"RATE_LIMIT_COOLDOWN", "rate-limit-cooldown", "2m", "3m",
			func(w *Worker) any { return w.RateLimitCooldown }, 2 * time.Minute, 3 * time.Minute},
		{"RATE_LIMIT_MAX_WAIT", "rate-limit-max-wait", "2h", "3h",
			func(w *Worker) any { return w.RateLimitMaxWait }, 2 * time.Hour, 3 * time.Hour},
		{"RETRY_BASE", "retry-base", "1s", "2s",
			func(w *Worker) any { return w.RetryBase }, time.Second, 2 * time.Second},
		{"RETRY_CAP", "retry-cap", "2h", "3h",
			func(w *Worker) any { return w.RetryCap }, 2 * time.Hour, 3 * time.Hour},
		{"WORKER_CONCURRENCY", "worker-concurrency", "5", "10000",
			func(w *Worker) any { return w.Concurrency }, 5, 10000},
		{"POLL_INTERVAL", "poll-interval", "250ms", "2s",
			func(w *Worker) any { return w.PollInterval }, 250 * time.Millisecond, 2 * time.Second},
		{"SHUTDOWN_TIMEOUT", "shutdown-timeout", "10s", "1m",
			func(w *Worker) any { return w.ShutdownTimeout }, 10 * time.Second, time.Minute},
		{"UI_ADDR", "ui-addr", "127.0.0.1:9000", "localhost:9001",
			func(w *Worker) any { return w.UIAddr }, "127.0.0.1:9000", "localhost:9001"},
		{"UI_READONLY", "ui-readonly", "true", "false",
			func(w *Worker) any { return w.UIReadOnly }, true, false},
		{"METRICS_ADDR", "metrics-addr", ":9090", "127.0.0.1:9091",
			func(w *Worker) any { return w.MetricsAddr }, ":9090", "127.0.0.1:9091"},
		{"LOG_LEVEL", "log-level", "debug", "WARN",
			func(w *Worker) any { return w.LogLevel }, zerolog.DebugLevel, zerolog.WarnLevel},
		{"LOG_FORMAT", "log-format", "console", "json",
			func(w *Worker) any { return w.LogFormat }, "console", "json"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			env := with(account(), map[string]string{tt.env: tt.envVal})
			if got := tt.get(mustLoad(t, nil, env)); got != tt.wantEnv {
				t.Errorf("with %s=%s: got %v, want %v", tt.env, tt.envVal, got, tt.wantEnv)
			}
			forms := [][]string{{"--" + tt.flag + "=" + tt.flagVal}, {"-" + tt.flag + "=" + tt.flagVal}}
			if !settingByEnv(tt.env).boolean { // `--ui-readonly false` is a flag and an argument
				forms = append(forms, []string{"--" + tt.flag, tt.flagVal})
			}
			for _, args := range forms {
				if got := tt.get(mustLoad(t, args, env)); got != tt.wantFlg {
					t.Errorf("with %s=%s and %q: got %v, want %v", tt.env, tt.envVal, args, got, tt.wantFlg)
				}
			}
		})
	}
}

// An empty flag means "not set" when its variable is not set either, and is an error when it
// is, rather than quietly hiding it: --provider-url="$URL" with URL unset in a script must not
// call the real provider in place of PROVIDER_URL's.
func TestLoadEmptyFlag(t *testing.T) {
	t.Parallel()
	w := mustLoad(t, []string{"--ui-addr=", "--provider-timeout=", "--provider-url=", "--ui-readonly="}, account())
	if w.UIAddr != "" || w.ProviderTimeout != 30*time.Second || w.ProviderURL != "https://secure.trust-provider.com/products/" || w.UIReadOnly {
		t.Errorf("UIAddr, ProviderTimeout, ProviderURL, UIReadOnly = %q, %s, %q, %v; want the defaults", w.UIAddr, w.ProviderTimeout, w.ProviderURL, w.UIReadOnly)
	}
	env := with(account(), map[string]string{"UI_ADDR": "127.0.0.1:8080", "PROVIDER_URL": "http://127.0.0.1:9/products/",
		"UI_READONLY": "true", "PROVIDER_ACCOUNTS_FILE": writeFile(t, `{"eu": {"loginName": "bob", "loginPassword": "pw-bob"}}`)})
	// What is off by default may be turned off with an empty flag: that hides nothing risky.
	if w := mustLoad(t, []string{"--ui-addr=", "--metrics-addr="}, with(env, map[string]string{"METRICS_ADDR": ":9090"})); w.UIAddr != "" || w.MetricsAddr != "" {
		t.Errorf("--ui-addr= --metrics-addr=: UIAddr %q, MetricsAddr %q; want both off", w.UIAddr, w.MetricsAddr)
	}
	for flag, variable := range map[string]string{"provider-url": "PROVIDER_URL", "ui-readonly": "UI_READONLY", "provider-accounts-file": "PROVIDER_ACCOUNTS_FILE"} {
		_, err := load(t, []string{"--" + flag + "="}, env)
		if want := "--" + flag + " is empty but " + variable + " is set"; err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrInvalid) {
			t.Errorf("--%s= with %s set: err %v, want a configuration error starting %q", flag, variable, err, want)
		}
	}
}

func TestLoadBoolFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		get  func(*Worker) bool
		want bool
	}{
		{"bare --ui-readonly", []string{"--ui-readonly"}, nil, func(w *Worker) bool { return w.UIReadOnly }, true},
		{"UI_READONLY=1", nil, map[string]string{"UI_READONLY": "1"}, func(w *Worker) bool { return w.UIReadOnly }, true},
		{"UI_READONLY=0", nil, map[string]string{"UI_READONLY": "0"}, func(w *Worker) bool { return w.UIReadOnly }, false},
		{"--ui-readonly=false beats UI_READONLY=true", []string{"--ui-readonly=false"}, map[string]string{"UI_READONLY": "true"}, func(w *Worker) bool { return w.UIReadOnly }, false},
		{"bare -dev", []string{"-dev"}, nil, func(w *Worker) bool { return w.Dev }, true},
		{"--dev=false", []string{"--dev=false"}, nil, func(w *Worker) bool { return w.Dev }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.get(mustLoad(t, tt.args, with(account(), tt.env))); got != tt.want {
				t.Errorf("got %t, want %t", got, tt.want)
			}
		})
	}
}

// The errors of a setting that names a password's file never show its value: it may be the
// password itself, set there by mistake (PROVIDER_LOGIN_PASSWORD_FILE=S3cret).
func TestSecretFileErrorsDoNotShowThePath(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": loginPassword},
		{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": "/nonexistent/" + loginPassword},
		{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": t.TempDir()},
		{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, "\n")},
		{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, strings.Repeat("x", 70000))},
		with(account(), map[string]string{"UI_USER": "admin", "UI_PASSWORD_FILE": uiPassword}),
	} {
		_, err := load(t, nil, env)
		if err == nil {
			t.Errorf("%v: loaded", env)
			continue
		}
		for k, v := range env {
			if strings.HasSuffix(k, "PASSWORD_FILE") && (strings.Contains(err.Error(), v) || strings.Contains(err.Error(), loginPassword)) {
				t.Errorf("%s=%q: the error shows it: %v", k, v, err)
			}
			if strings.HasSuffix(k, "PASSWORD_FILE") && !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: the error does not name the variable: %v", k, v, err)
			}
		}
	}
}

func TestLoadBadValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // besides the variable and its flag
	}{
		{"REDIS_URL scheme", map[string]string{"REDIS_URL": "http://127.0.0.1:6379"}, nil, []string{"scheme"}},
		{"REDIS_URL no host", map[string]string{"REDIS_URL": "redis://"}, nil, []string{"host"}},
		{"REDIS_URL database", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/zero"}, nil, []string{"database"}},
		{"REDIS_URL sentinel without master", map[string]string{"REDIS_URL": "redis-sentinel://127.0.0.1:26379"}, nil, []string{"master"}},
		{"PROVIDER_URL http", map[string]string{"PROVIDER_URL": "http://provider.example/"}, nil, []string{"https"}},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "Text"}, nil, []string{`must be json or console, got "Text"`}},
		{"PROVIDER_URL port", map[string]string{"PROVIDER_URL": "https://provider.example:99999/"}, nil, []string{`port must be 1 to 65535, got "99999"`}},
		{"POLL_INTERVAL too short", map[string]string{"POLL_INTERVAL": "999us"}, nil, []string{"must be at least 1ms, got 999µs"}},
		{"PROVIDER_URL with login", map[string]string{"PROVIDER_URL": "https://u:" + loginPassword + "@provider.example/"}, nil, []string{"must not contain a login"}},
		{"PROVIDER_URL login unparsable", map[string]string{"PROVIDER_URL": "https://u:" + loginPassword + "@provider.example:port/"}, nil, []string{"must not contain a login"}},
		// net/url reads these as host "u", port 1234, and a path or a query: no login to see.
		{"PROVIDER_URL login with '/'", map[string]string{"PROVIDER_URL": "https://u:1234/" + loginPassword + "@provider.example/"}, nil, []string{"must not contain a login"}},
		{"PROVIDER_URL login with '?'", map[string]string{"PROVIDER_URL": "https://u:1234?" + loginPassword + "@provider.example/"}, nil, []string{"must not contain a login"}},
		{"PROVIDER_URL unparsable", map[string]string{"PROVIDER_URL": "https://provider.example:port/"}, nil, []string{"invalid port"}},
		{"PROVIDER_URL query", map[string]string{"PROVIDER_URL": "https://provider.example/p/?token=" + loginPassword}, nil, []string{`"https://provider.example/p/": must not have a query`}},
		// A query is never shown, whatever else is wrong with the URL.
		{"PROVIDER_URL query, bad port", map[string]string{"PROVIDER_URL": "https://provider.example:port/?token=" + loginPassword}, nil, []string{`"https://provider.example:port/": invalid port after host`}},
		{"PROVIDER_URL query, relative", map[string]string{"PROVIDER_URL": "provider.example/?token=" + loginPassword}, nil, []string{`"provider.example/": must be absolute`}},
		{"PROVIDER_URL query, bad escape", map[string]string{"PROVIDER_URL": "https://provider.example/%zz?t=" + loginPassword}, nil, []string{`"https://provider.example/%zz": invalid URL escape`}},
		{"PROVIDER_URL fragment, http", map[string]string{"PROVIDER_URL": "http://provider.example/#" + loginPassword}, nil, []string{`"http://provider.example/": `}},
		{"PROVIDER_URL relative", map[string]string{"PROVIDER_URL": "provider.example"}, nil, []string{"absolute"}},
		{"PROVIDER_LOGIN_NAME too long", map[string]string{"PROVIDER_LOGIN_NAME": strings.Repeat("n", 65)}, nil, []string{"at most 64"}},
		{"PROVIDER_LOGIN_PASSWORD too long", map[string]string{"PROVIDER_LOGIN_PASSWORD": strings.Repeat("p", 129)}, nil, []string{"at most 128"}},
		{"PROVIDER_LOGIN_NAME_FILE missing", map[string]string{"PROVIDER_LOGIN_NAME": "", "PROVIDER_LOGIN_NAME_FILE": "/nonexistent/name"}, nil, []string{"/nonexistent/name"}},
		{"PROVIDER_LOGIN_PASSWORD_FILE missing", map[string]string{"PROVIDER_LOGIN_PASSWORD": "", "PROVIDER_LOGIN_PASSWORD_FILE": "/nonexistent/pw"}, nil,
			[]string{"PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file): cannot open the file it names: no such file or directory (its path is not shown"}},
		{"PROVIDER_LOGIN_PASSWORD_FILE a directory", map[string]string{"PROVIDER_LOGIN_PASSWORD": "", "PROVIDER_LOGIN_PASSWORD_FILE": "/"}, nil, []string{"cannot read the file it names: is a directory"}},
		{"PROVIDER_ACCOUNTS_FILE missing", map[string]string{"PROVIDER_ACCOUNTS_FILE": "/nonexistent/accounts.json"}, nil, []string{"/nonexistent/accounts.json"}},
		{"PROVIDER_ACCOUNTS_FILE a directory", map[string]string{"PROVIDER_ACCOUNTS_FILE": "/"}, nil, []string{"(--provider-accounts-file): read /: is a directory"}},
		{"PROVIDER_TIMEOUT no unit", map[string]string{"PROVIDER_TIMEOUT": "30"}, nil, []string{`must be a Go duration such as 30s, got "30"`}},
		{"PROVIDER_TIMEOUT zero", map[string]string{"PROVIDER_TIMEOUT": "0s"}, nil, []string{"greater than 0"}},
		{"PROVIDER_TIMEOUT negative", map[string]string{"PROVIDER_TIMEOUT": "-1s"}, nil, []string{"greater than 0"}},
		{"PROVIDER_RATE word", map[string]string{"PROVIDER_RATE": "fast"}, nil, []string{`"fast"`}},
		{"PROVIDER_RATE negative", map[string]string{"PROVIDER_RATE": "-1"}, nil, []string{"0 (off) or more"}},
		{"PROVIDER_RATE NaN", map[string]string{"PROVIDER_RATE": "NaN"}, nil, []string{`"NaN"`}},
		{"PROVIDER_RATE Inf", map[string]string{"PROVIDER_RATE": "+Inf"}, nil, []string{`"+Inf"`}},
		{"PROVIDER_RATE below one a day", map[string]string{"PROVIDER_RATE": "1e-10"}, nil, []string{"one call a day", `"1e-10"`}},
		{"PROVIDER_RATE huge", map[string]string{"PROVIDER_RATE": "1e12"}, nil, []string{"at most 1000000", `"1e12"`}},
		{"RATE_LIMIT_COOLDOWN", map[string]string{"RATE_LIMIT_COOLDOWN": "a minute"}, nil, []string{"Go duration"}},
		{"RATE_LIMIT_COOLDOWN zero", map[string]string{"RATE_LIMIT_COOLDOWN": "0"}, nil, []string{"greater than 0"}},
		{"RATE_LIMIT_MAX_WAIT", map[string]string{"RATE_LIMIT_MAX_WAIT": "6"}, nil, []string{"Go duration such as 6h"}},
		{"RATE_LIMIT_MAX_WAIT zero", map[string]string{"RATE_LIMIT_MAX_WAIT": "0s"}, nil, []string{"greater than 0"}},
		{"RATE_LIMIT_MAX_WAIT below cooldown", map[string]string{"RATE_LIMIT_MAX_WAIT": "30s"}, nil, []string{"at least RATE_LIMIT_COOLDOWN"}},
		{"RETRY_BASE", map[string]string{"RETRY_BASE": "30 s"}, nil, []string{"Go duration"}},
		{"RETRY_CAP", map[string]string{"RETRY_CAP": "1 hour"}, nil, []string{"Go duration"}},
		{"RETRY_CAP below RETRY_BASE", map[string]string{"RETRY_BASE": "2m", "RETRY_CAP": "1m"}, nil, []string{"at least RETRY_BASE (2m0s), got 1m0s"}},
		{"WORKER_CONCURRENCY zero", map[string]string{"WORKER_CONCURRENCY": "0"}, nil, []string{"1 to 10000"}},
		{"WORKER_CONCURRENCY too many", map[string]string{"WORKER_CONCURRENCY": "10001"}, nil, []string{"1 to 10000"}},
		{"WORKER_CONCURRENCY word", map[string]string{"WORKER_CONCURRENCY": "many"}, nil, []string{`"many"`}},
		{"POLL_INTERVAL", map[string]string{"POLL_INTERVAL": "1"}, nil, []string{"Go duration such as 1s"}},
		{"SHUTDOWN_TIMEOUT", map[string]string{"SHUTDOWN_TIMEOUT": "-30s"}, nil, []string{"greater than 0"}},
		{"UI_ADDR no port", map[string]string{"UI_ADDR": "8080"}, nil, []string{"host:port"}},
		{"UI_ADDR bad port", map[string]string{"UI_ADDR": "127.0.0.1:http"}, nil, []string{"port"}},
		{"UI_ADDR port too big", map[string]string{"UI_ADDR": "127.0.0.1:65536"}, nil, []string{"port"}},
		{"UI_USER with colon", map[string]string{"UI_USER": "admin:" + uiPassword, "UI_PASSWORD": "x"}, nil, []string{"':'"}},
		{"UI_USER only spaces", map[string]string{"UI_ADDR": "0.0.0.0:8080", "UI_USER": "  ", "UI_PASSWORD": uiPassword}, nil, []string{"only spaces"}},
		{"UI_PASSWORD only spaces", map[string]string{"UI_ADDR": "0.0.0.0:8080", "UI_USER": "admin", "UI_PASSWORD": "   "}, nil, []string{"only spaces"}},
		{"UI_PASSWORD missing beside UI_USER", map[string]string{"UI_USER": "admin"}, nil, []string{"required when UI_USER is set"}},
		{"UI_USER missing beside UI_PASSWORD", map[string]string{"UI_PASSWORD": uiPassword}, nil, []string{"required when UI_PASSWORD is set"}},
		{"UI_PASSWORD_FILE without user", map[string]string{"UI_PASSWORD_FILE": "/nonexistent/ui"}, nil, []string{"UI_PASSWORD_FILE (--ui-password-file): cannot open the file it names"}},
		{"UI_READONLY", map[string]string{"UI_READONLY": "yes"}, nil, []string{`must be true or false, got "yes"`}},
		{"METRICS_ADDR", map[string]string{"METRICS_ADDR": "localhost"}, nil, []string{"host:port"}},
		{"METRICS_ADDR same as UI_ADDR", map[string]string{"METRICS_ADDR": "127.0.0.1:8080", "UI_ADDR": "127.0.0.1:8080"}, nil, []string{"differ from UI_ADDR"}},
		{"LOG_LEVEL unknown", map[string]string{"LOG_LEVEL": "verbose"}, nil, []string{`"verbose"`}},
		{"LOG_LEVEL not offered", map[string]string{"LOG_LEVEL": "fatal"}, nil, []string{`"fatal"`}},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "text"}, nil, []string{`must be json or console, got "text"`}},
		{"PROVIDER_TIMEOUT by flag", nil, []string{"--provider-timeout", "30"}, []string{`got "30"`}},
		{"RETRY_CAP by flag", map[string]string{"RETRY_CAP": "2h"}, []string{"--retry-base=1m", "--retry-cap=30s"}, []string{"got 30s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, with(account(), tt.env))
			variable, _, _ := strings.Cut(tt.name, " ")
			want := append([]string{variable}, tt.want...)
			if s := settingByEnv(variable); s != nil {
				want = append(want, s.name())
			}
			checkErr(t, err, want)
		})
	}
}

// settingByEnv finds the setting of a variable, so tests check the `VAR (--flag)` prefix.
func settingByEnv(env string) *setting {
	for _, s := range allSettings {
		if s.env == env {
			return s
		}
	}
	return nil
}

func TestLoadExactErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad duration", nil, with(account(), map[string]string{"PROVIDER_TIMEOUT": "30"}),
			`PROVIDER_TIMEOUT (--provider-timeout): must be a Go duration such as 30s, got "30"`},
		{"no account", nil, nil,
			`PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD (or PROVIDER_ACCOUNTS_FILE): no provider account configured`},
		{"UI not loopback", nil, with(account(), map[string]string{"UI_ADDR": "0.0.0.0:8080"}),
			`UI_USER and UI_PASSWORD: required when UI_ADDR (0.0.0.0:8080) is not loopback`},
		{"name without password", nil, map[string]string{"PROVIDER_LOGIN_NAME": "alice"},
			`PROVIDER_LOGIN_PASSWORD (--provider-login-password): required when PROVIDER_LOGIN_NAME is set (or use PROVIDER_LOGIN_PASSWORD_FILE)`},
		{"password without name", nil, map[string]string{"PROVIDER_LOGIN_PASSWORD": loginPassword},
			`PROVIDER_LOGIN_NAME (--provider-login-name): required when PROVIDER_LOGIN_PASSWORD is set (or use PROVIDER_LOGIN_NAME_FILE)`},
		{"file name with a line break, as an env file may leave", nil,
			map[string]string{"PROVIDER_ACCOUNTS_FILE": "/nonexistent/accounts\n"},
			`PROVIDER_ACCOUNTS_FILE (--provider-accounts-file): open /nonexistent/accounts\n: no such file or directory`},
		{"password file name with a line break", nil,
			map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": "/nonexistent/pw\n"},
			`PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file): cannot open the file it names: no such file or directory (its path is not shown, in case the variable holds the password itself rather than a file's path; it ends with a line break, as an env file may leave)`},
		{"UI address with a line break", nil, with(account(), map[string]string{"UI_ADDR": "0.0.0.0\n:8080"}),
			`UI_USER and UI_PASSWORD: required when UI_ADDR (0.0.0.0\n:8080) is not loopback`},
		{"positional argument", []string{"serve"}, account(),
			`unexpected argument #1 (not shown: it may be part of a secret): the worker takes only flags, and a value with spaces must be quoted (see --help)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, tt.env)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid")
			}
		})
	}
}

// A line break at the end of a login is trimmed wherever it comes from (a secret made with
// `echo pw | base64` has one); one inside stops the worker, naming the setting, not the value.
func TestLoginLineBreaks(t *testing.T) {
	t.Parallel()
	w := mustLoad(t, nil, map[string]string{"PROVIDER_LOGIN_NAME": "alice\n", "PROVIDER_LOGIN_PASSWORD": loginPassword + "\r\n"})
	if got := w.Accounts["default"].LoginName(); got != "alice" {
		t.Errorf("login name from the variable = %q, want alice", got)
	}
	if got := sentPassword(t, w.Accounts["default"]); got != loginPassword {
		t.Errorf("password from the variable = %q, want it without the line break", got)
	}
	w = mustLoad(t, nil, map[string]string{"PROVIDER_ACCOUNTS_FILE": writeFile(t,
		`{"eu": {"loginName": "bob\n", "loginPassword": "`+loginPassword+`\n"}}`)})
	if got := sentPassword(t, w.Accounts["eu"]); got != loginPassword || w.Accounts["eu"].LoginName() != "bob" {
		t.Errorf("accounts file: login %q, password %q; want them without the line break", w.Accounts["eu"].LoginName(), got)
	}
	for name, env := range map[string]map[string]string{
		"PROVIDER_LOGIN_PASSWORD":      {"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD": "pw1\npw2"},
		"PROVIDER_LOGIN_PASSWORD_FILE": {"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, "pw1\npw2\n")},
		"PROVIDER_ACCOUNTS_FILE":       {"PROVIDER_ACCOUNTS_FILE": writeFile(t, `{"eu": {"loginName": "bob", "loginPassword": "pw1\npw2"}}`)},
	} {
		_, err := load(t, nil, env)
		if err == nil || !strings.HasPrefix(err.Error(), name+" (") || !strings.Contains(err.Error(), "control characters") || strings.Contains(err.Error(), "pw1") {
			t.Errorf("%s with a line break inside: err %v", name, err)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		nameFile     string // content of PROVIDER_LOGIN_NAME_FILE
		passwordFile string // content of PROVIDER_LOGIN_PASSWORD_FILE
		uiFile       string // content of UI_PASSWORD_FILE
		wantName     string
		wantPassword string
		wantUI       string
	}{
		{"newline", "alice\n", loginPassword + "\n", uiPassword + "\n", "alice", loginPassword, uiPassword},
		{"CRLF", "alice\r\n", loginPassword + "\r\n", uiPassword + "\r\n", "alice", loginPassword, uiPassword},
		{"several newlines", "alice\n\n", loginPassword + "\r\n\r\n", uiPassword + "\n\r\n", "alice", loginPassword, uiPassword},
		{"no newline", "alice", loginPassword, uiPassword, "alice", loginPassword, uiPassword},
		{"spaces are kept", "alice", " " + loginPassword + " \n", uiPassword + " \n", "alice", " " + loginPassword + " ", uiPassword + " "},
		// "UTF-8 with BOM", as some editors save: the mark is not part of the value.
		{"byte-order mark", "\ufeffalice\r\n", "\ufeff" + loginPassword + "\r\n", "\ufeff" + uiPassword, "alice", loginPassword, uiPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"PROVIDER_LOGIN_NAME_FILE":     writeFile(t, tt.nameFile),
				"PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, tt.passwordFile),
				"UI_USER":                      "admin",
				"UI_PASSWORD_FILE":             writeFile(t, tt.uiFile),
			}
			w := mustLoad(t, nil, env)
			creds := w.Accounts["default"]
			if got := creds.LoginName(); got != tt.wantName {
				t.Errorf("login name = %q, want %q", got, tt.wantName)
			}
			if got := sentPassword(t, creds); got != tt.wantPassword {
				t.Errorf("login password = %q, want %q", got, tt.wantPassword)
			}
			if w.UIPassword != tt.wantUI {
				t.Errorf("UIPassword = %q, want %q", w.UIPassword, tt.wantUI)
			}
		})
	}

	t.Run("flag names the file", func(t *testing.T) {
		t.Parallel()
		w := mustLoad(t, []string{"--ui-user=admin", "--ui-password-file", writeFile(t, "flagpw\n")}, account())
		if w.UIPassword != "flagpw" {
			t.Errorf("UIPassword = %q, want %q", w.UIPassword, "flagpw")
		}
	})
	t.Run("empty file", func(t *testing.T) {
		t.Parallel()
		_, err := load(t, nil, map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, "\r\n")})
		checkErr(t, err, []string{"PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file)", "empty"})
	})
	t.Run("too long password from a file names the file", func(t *testing.T) {
		t.Parallel()
		long := strings.Repeat("x", 129)
		_, err := load(t, nil, map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD_FILE": writeFile(t, long+"\n")})
		checkErr(t, err, []string{"PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file)", "at most 128"}, long)
	})
}

func TestLoadValueAndFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		fileVar   string // set to a real file
		wantNames []string
	}{
		{"login name", map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD": loginPassword}, nil,
			"PROVIDER_LOGIN_NAME_FILE", []string{"PROVIDER_LOGIN_NAME (--provider-login-name)", "PROVIDER_LOGIN_NAME_FILE (--provider-login-name-file)"}},
		{"login password", map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD": loginPassword}, nil,
			"PROVIDER_LOGIN_PASSWORD_FILE", []string{"PROVIDER_LOGIN_PASSWORD (--provider-login-password)", "PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file)"}},
		{"login password by flag", map[string]string{"PROVIDER_LOGIN_NAME": "alice"}, []string{"--provider-login-password=" + loginPassword},
			"PROVIDER_LOGIN_PASSWORD_FILE", []string{"PROVIDER_LOGIN_PASSWORD (--provider-login-password)", "PROVIDER_LOGIN_PASSWORD_FILE (--provider-login-password-file)"}},
		{"UI password", with(account(), map[string]string{"UI_USER": "admin", "UI_PASSWORD": uiPassword}), nil,
			"UI_PASSWORD_FILE", []string{"UI_PASSWORD (--ui-password)", "UI_PASSWORD_FILE (--ui-password-file)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := with(tt.env, map[string]string{tt.fileVar: writeFile(t, "fromfile\n")})
			_, err := load(t, tt.args, env)
			checkErr(t, err, append(tt.wantNames, "set only one"))
		})
	}
}

func TestLoadAccountsFile(t *testing.T) {
	t.Parallel()
	good := `{
  "eu": {"loginName": "eu-login", "loginPassword": "eu-` + loginPassword + `"},
  "us.west_2": {"loginName": "us-login", "loginPassword": "us-` + loginPassword + `"}
}`
	t.Run("good, with the default account", func(t *testing.T) {
		t.Parallel()
		w := mustLoad(t, nil, with(account(), map[string]string{"PROVIDER_ACCOUNTS_FILE": writeFile(t, good)}))
		want := map[string]string{"default": "alice", "eu": "eu-login", "us.west_2": "us-login"}
		if len(w.Accounts) != len(want) {
			t.Errorf("accounts = %v, want %v", w.Accounts, want)
		}
		for alias, name := range want {
			if got := w.Accounts[alias].LoginName(); got != name {
				t.Errorf("account %q login name = %q, want %q", alias, got, name)
			}
		}
		if got := sentPassword(t, w.Accounts["us.west_2"]); got != "us-"+loginPassword {
			t.Errorf("account us.west_2 sends password %q, want %q", got, "us-"+loginPassword)
		}
		if len(w.Warnings) != 0 {
			t.Errorf("warnings = %q", w.Warnings)
		}
	})
	t.Run("good, after a byte-order mark", func(t *testing.T) {
		t.Parallel()
		w := mustLoad(t, nil, map[string]string{"PROVIDER_ACCOUNTS_FILE": writeFile(t, "\xef\xbb\xbf"+good)})
		if len(w.Accounts) != 2 || w.Accounts["eu"].LoginName() != "eu-login" {
			t.Errorf("accounts = %v, want eu and us.west_2", w.Accounts)
		}
		// Without "default", a task that names no account has no login: the worker starts,
		// and says so.
		if len(w.Warnings) != 1 || !strings.Contains(w.Warnings[0], `no account "default"`) {
			t.Errorf("warnings = %q, want one about the missing default account", w.Warnings)
		}
	})
	t.Run("good, alone, by flag", func(t *testing.T) {
		t.Parallel()
		w := mustLoad(t, []string{"--provider-accounts-file", writeFile(t, good)}, nil)
		if len(w.Accounts) != 2 || w.Accounts["eu"].LoginName() != "eu-login" {
			t.Errorf("accounts = %v, want eu and us.west_2", w.Accounts)
		}
	})

	long := strings.Repeat("L", 129)
	bad := []struct {
		name    string
		content string
		withEnv bool // also set PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD
		want    []string
		secrets []string
	}{
		{"bad JSON", "{\n  \"eu\": {\"loginName\": \"eu\", \"loginPassword\": \"hunter2-secret\",}\n}", false,
			[]string{"not valid JSON", "line 2"}, []string{"hunter2-secret"}},
		// A quote inside the password ends the string early: the syntax error is at its next
		// character, which encoding/json quotes; and so an invalid escape in it.
		{"quote in the password", `{"eu": {"loginName": "eu", "loginPassword": "hunter"Z2"}}`, false,
			[]string{"not valid JSON", "line 1", "invalid character after object key:value pair"}, []string{"'Z'", "Z2"}},
		{"bad escape in the password", `{"eu": {"loginName": "eu", "loginPassword": "hunter\Q2"}}`, false,
			[]string{"not valid JSON", "invalid character in string escape code"}, []string{"'Q'"}},
		{"truncated", `{"eu": {"loginName": "eu", "loginPassword": "hunter2-secret"`, false,
			[]string{"not valid JSON"}, []string{"hunter2-secret"}},
		{"empty", "", false, []string{"empty"}, nil},
		{"no accounts", "{}", false, []string{"no accounts"}, nil},
		{"not an object", `[{"loginName": "eu"}]`, false, []string{"not a JSON object"}, nil},
		{"account not an object", `{"eu": "hunter2-secret"}`, false, []string{`account "eu"`, "not a JSON object"}, []string{"hunter2-secret"}},
		{"unknown key", `{"eu": {"loginName": "eu", "password": "hunter2-secret"}}`, false,
			[]string{`account "eu"`, `unknown key "password"`}, []string{"hunter2-secret"}},
		{"duplicate alias", `{"eu": {"loginName": "a", "loginPassword": "p"}, "eu": {"loginName": "b", "loginPassword": "q"}}`, false,
			[]string{`"eu" appears twice`}, nil},
		{"duplicate key", `{"eu": {"loginName": "a", "loginPassword": "hunter2-secret", "loginPassword": "q"}}`, false,
			[]string{`account "eu"`, `"loginPassword" appears twice`}, []string{"hunter2-secret"}},
		{"bad alias", `{"eu west": {"loginName": "eu", "loginPassword": "hunter2-secret"}}`, false,
			[]string{`alias "eu west"`, "[A-Za-z0-9._-]{1,64}"}, []string{"hunter2-secret"}},
		{"alias too long", `{"` + strings.Repeat("a", 65) + `": {"loginName": "eu", "loginPassword": "p"}}`, false,
			[]string{"must match"}, nil},
		{"too long password", `{"eu": {"loginName": "eu", "loginPassword": "` + long + `"}}`, false,
			[]string{`account "eu"`, "loginPassword", "at most 128"}, []string{long}},
		{"missing password", `{"eu": {"loginName": "eu"}}`, false, []string{`account "eu"`, "loginPassword: required"}, nil},
		{"name not a string", `{"eu": {"loginName": 42, "loginPassword": "hunter2-secret"}}`, false,
			[]string{`account "eu"`, "loginName: must be a string"}, []string{"hunter2-secret"}},
		{"password not a string", `{"eu": {"loginName": "eu", "loginPassword": 12345678}}`, false,
			[]string{`account "eu"`, "loginPassword: must be a string"}, []string{"12345678"}},
		{"lone surrogate escape", `{"eu": {"loginName": "eu", "loginPassword": "hunter2-secret\udc80"}}`, false,
			[]string{`account "eu"`, "loginPassword: must not contain U+FFFD"}, []string{"hunter2-secret"}},
		{"not UTF-8", "{\n\"eu\": {\"loginName\": \"eu\", \"loginPassword\": \"hunter2-secret\xff\"}}", false,
			[]string{"not valid UTF-8: line 2 (save the file as UTF-8)"}, []string{"hunter2-secret"}},
		{"default twice", `{"default": {"loginName": "other", "loginPassword": "p"}}`, true,
			[]string{"PROVIDER_LOGIN_NAME (--provider-login-name)", `account "default"`}, nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, tt.content)
			env := map[string]string{"PROVIDER_ACCOUNTS_FILE": path}
			if tt.withEnv {
				env = with(account(), env)
			}
			_, err := load(t, nil, env)
			checkErr(t, err, append(tt.want, "PROVIDER_ACCOUNTS_FILE (--provider-accounts-file)", path), tt.secrets...)
		})
	}
}

func TestLoadDevMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		redisURL string
		provURL  string
		uiAddr   string
		accounts int
	}{
		{"nothing set", []string{"-dev"}, nil, "", "", "127.0.0.1:8080", 0},
		{"REDIS_URL set", []string{"--dev"}, map[string]string{"REDIS_URL": "redis://10.0.0.1:6379/3"}, "redis://10.0.0.1:6379/3", "", "127.0.0.1:8080", 0},
		{"PROVIDER_URL set", []string{"--dev"}, with(account(), map[string]string{"PROVIDER_URL": "http://127.0.0.1:9999"}), "", "http://127.0.0.1:9999/", "127.0.0.1:8080", 1},
		{"UI_ADDR set", []string{"--dev"}, map[string]string{"UI_ADDR": "127.0.0.1:9000"}, "", "", "127.0.0.1:9000", 0},
		{"account set", []string{"--dev"}, account(), "", "", "127.0.0.1:8080", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustLoad(t, tt.args, tt.env)
			if !w.Dev {
				t.Error("Dev = false")
			}
			if w.RedisURL != tt.redisURL || (w.Redis == nil) != (tt.redisURL == "") {
				t.Errorf("RedisURL = %q, Redis = %v; want %q", w.RedisURL, w.Redis, tt.redisURL)
			}
			if w.ProviderURL != tt.provURL {
				t.Errorf("ProviderURL = %q, want %q", w.ProviderURL, tt.provURL)
			}
			if w.UIAddr != tt.uiAddr {
				t.Errorf("UIAddr = %q, want %q", w.UIAddr, tt.uiAddr)
			}
			if len(w.Accounts) != tt.accounts {
				t.Errorf("%d accounts, want %d", len(w.Accounts), tt.accounts)
			}
		})
	}
	t.Run("still checks what is set", func(t *testing.T) {
		t.Parallel()
		_, err := load(t, []string{"--dev"}, map[string]string{"PROVIDER_LOGIN_NAME": "alice"})
		checkErr(t, err, []string{"PROVIDER_LOGIN_PASSWORD"})
	})
	t.Run("a provider of one's own needs a login", func(t *testing.T) {
		t.Parallel()
		// The demo login is the fake provider's: it is never sent anywhere else.
		_, err := load(t, []string{"--dev"}, map[string]string{"PROVIDER_URL": "https://provider.example/products/"})
		checkErr(t, err, []string{"PROVIDER_LOGIN_NAME", "no provider account configured", "PROVIDER_URL is set"})
	})
}

func TestLoadUIAuth(t *testing.T) {
	t.Parallel()
	auth := map[string]string{"UI_USER": "admin", "UI_PASSWORD": uiPassword}
	tests := []struct {
		name    string
		args    []string
		addr    string
		auth    bool
		wantErr bool
	}{
		{"IPv4 loopback without auth", nil, "127.0.0.1:8080", false, false},
		{"other 127/8 without auth", nil, "127.0.0.2:8080", false, false},
		{"IPv6 loopback without auth", nil, "[::1]:8080", false, false},
		{"localhost without auth", nil, "localhost:8080", false, false},
		{"all interfaces without auth", nil, "0.0.0.0:8080", false, true},
		{"empty host without auth", nil, ":8080", false, true},
		{"IPv6 any without auth", nil, "[::]:8080", false, true},
		{"host name without auth", nil, "ui.example:8080", false, true},
		{"dev mode all interfaces without auth", []string{"--dev"}, "0.0.0.0:8080", false, true},
		{"all interfaces with auth", nil, "0.0.0.0:8080", true, false},
		{"empty host with auth", nil, ":8080", true, false},
		{"loopback with auth", nil, "127.0.0.1:8080", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := with(account(), map[string]string{"UI_ADDR": tt.addr})
			if tt.auth {
				env = with(env, auth)
			}
			w, err := load(t, tt.args, env)
			if tt.wantErr {
				checkErr(t, err, []string{"UI_USER and UI_PASSWORD: required when UI_ADDR (" + tt.addr + ") is not loopback"})
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if w.UIAddr != tt.addr {
				t.Errorf("UIAddr = %q, want %q", w.UIAddr, tt.addr)
			}
			if tt.auth && (w.UIUser != "admin" || w.UIPassword != uiPassword) {
				t.Errorf("UIUser, UIPassword = %q, %q; want admin and the password", w.UIUser, w.UIPassword)
			}
		})
	}
	t.Run("control character in the password", func(t *testing.T) {
		t.Parallel()
		_, err := load(t, nil, with(account(), map[string]string{"UI_ADDR": "0.0.0.0:8080", "UI_USER": "admin", "UI_PASSWORD": "two\nlines"}))
		checkErr(t, err, []string{"UI_USER and UI_PASSWORD: must not contain control characters"}, "two")
	})
	t.Run("auth without an address", func(t *testing.T) {
		t.Parallel()
		w := mustLoad(t, nil, with(account(), auth))
		if len(w.Warnings) != 1 || w.Warnings[0] != "UI_USER and UI_PASSWORD are set but UI_ADDR is not: the UI is off" {
			t.Errorf("warnings = %q", w.Warnings)
		}
	})
}

func TestLoadRetryCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		base, cap string
		wantErr   bool
	}{
		{"cap below base", "2m", "1m", true},
		{"cap below default base", "", "10s", true},
		{"base above default cap", "2h", "", true},
		{"cap equals base", "1m", "1m", false},
		{"cap above base", "1s", "5m", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := load(t, nil, with(account(), map[string]string{"RETRY_BASE": tt.base, "RETRY_CAP": tt.cap}))
			if tt.wantErr {
				checkErr(t, err, []string{"RETRY_CAP (--retry-cap): must be at least RETRY_BASE"})
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if w.RetryCap < w.RetryBase {
				t.Errorf("RetryCap %s < RetryBase %s", w.RetryCap, w.RetryBase)
			}
		})
	}
}

func TestLoadRedisURL(t *testing.T) {
	t.Parallel()
	good := []struct {
		name  string
		url   string
		check func(asynq.RedisConnOpt) bool
	}{
		{"sentinel", "redis-sentinel://127.0.0.1:26379?master=mymaster", func(o asynq.RedisConnOpt) bool {
			f, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && f.MasterName == "mymaster" && len(f.SentinelAddrs) == 1 && f.SentinelAddrs[0] == "127.0.0.1:26379"
		}},
		{"sentinels with password", "redis-sentinel://:" + redisPassword + "@10.0.0.1:26379,10.0.0.2:26379?master=mymaster", func(o asynq.RedisConnOpt) bool {
			f, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && len(f.SentinelAddrs) == 2 && f.SentinelPassword == redisPassword && f.DB == 0
		}},
		{"sentinels with a database: 0, as asynq reads it", "redis-sentinel://10.0.0.1:26379/3?master=mymaster", func(o asynq.RedisConnOpt) bool {
			f, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && f.DB == 0 && f.MasterName == "mymaster"
		}},
		{"sentinels with login and database 0", "redis-sentinel://ops:" + redisPassword + "@10.0.0.1:26379/0?master=mymaster", func(o asynq.RedisConnOpt) bool {
			f, ok := o.(asynq.RedisFailoverClientOpt)
			return ok && f.DB == 0 && f.SentinelUsername == "ops" && f.SentinelPassword == redisPassword && f.Username == "" && f.Password == ""
		}},
		{"rediss", "rediss://:" + redisPassword + "@redis.example:6380/2", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.TLSConfig != nil && c.TLSConfig.ServerName == "redis.example" && c.DB == 2 && c.Password == redisPassword
		}},
		{"redis without database", "redis://10.0.0.1:6379", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.Addr == "10.0.0.1:6379" && c.DB == 0 && c.TLSConfig == nil
		}},
		{"socket", "redis-socket:///run/redis.sock?db=1", func(o asynq.RedisConnOpt) bool {
			c, ok := o.(asynq.RedisClientOpt)
			return ok && c.Network == "unix" && c.Addr == "/run/redis.sock" && c.DB == 1
		}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := mustLoad(t, nil, with(account(), map[string]string{"REDIS_URL": tt.url}))
			if w.RedisURL != tt.url {
				t.Errorf("RedisURL = %q, want %q", w.RedisURL, tt.url)
			}
			if !tt.check(w.Redis) {
				t.Errorf("Redis = %T, not what %s says", w.Redis, tt.url)
			}
		})
	}

	bad := []struct {
		name string
		url  string
		want string
	}{
		{"unknown scheme", "http://:" + redisPassword + "@127.0.0.1:6379", "scheme"},
		{"bad database", "redis://:" + redisPassword + "@127.0.0.1:6379/x", "database"},
		{"unparsable port", "redis://:" + redisPassword + "@127.0.0.1:port/0", "invalid port"},
		{"password with slash", "redis://:pa/" + redisPassword + "@127.0.0.1:6379/0", "REDIS_URL"},
		{"password with question mark", "redis://:pa?" + redisPassword + "@127.0.0.1:6379/0", "REDIS_URL"},
		{"password with bad escape", "redis://:%zz" + redisPassword + "@127.0.0.1:6379/0", "malformed login"},
		{"no scheme", "user:" + redisPassword + "@127.0.0.1:6379", "scheme"},
		{"password as user name", "ftp://" + redisPassword + "@127.0.0.1:6379", "scheme"},
		{"control character", "redis://:" + redisPassword + "@127.0.0.1:6379/\x7f", "invalid control character"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, []string{"--redis-url", tt.url}, account())
			checkErr(t, err, []string{"REDIS_URL (--redis-url)", tt.want}, redisPassword)
		})
	}
}

func TestWorkerStringHidesPasswords(t *testing.T) {
	t.Parallel()
	accounts := `{"eu": {"loginName": "eu-login", "loginPassword": "eu-` + loginPassword + `"}}`
	env := with(account(), map[string]string{
		"REDIS_URL":              "redis://admin:" + redisPassword + "@10.0.0.1:6379/0",
		"PROVIDER_ACCOUNTS_FILE": writeFile(t, accounts),
		"UI_ADDR":                "0.0.0.0:8080",
		"UI_USER":                "admin",
		"UI_PASSWORD":            uiPassword,
	})
	w := mustLoad(t, nil, env)
	outputs := map[string]string{
		"String":    w.String(),
		"%v of *":   fmt.Sprintf("%v", w),
		"%+v of *":  fmt.Sprintf("%+v", w),
		"%#v of *":  fmt.Sprintf("%#v", w),
		"%v":        fmt.Sprintf("%v", *w),
		"%+v":       fmt.Sprintf("%+v", *w),
		"%s":        fmt.Sprintf("%s", *w), //lint:ignore S1025 what %s prints is the point
		"GoString":  w.GoString(),
		"%#v":       fmt.Sprintf("%#v", *w),
		"String ()": Worker{RedisURL: "redis://:" + redisPassword + "@h:1", UIPassword: uiPassword}.String(),
	}
	for name, out := range outputs {
		if strings.ContainsAny(out, "\r\n") {
			t.Errorf("%s is not one line: %q", name, out)
		}
		for _, secret := range []string{loginPassword, uiPassword, redisPassword} {
			if strings.Contains(out, secret) {
				t.Errorf("%s contains the secret %q: %s", name, secret, out)
			}
		}
	}
	s := w.String()
	for _, want := range []string{`default="alice"`, `eu="eu-login"`, "redis://admin:xxxxx@10.0.0.1:6379/0", "ui=0.0.0.0:8080", `uiAuth=user "admin"`, "providerTimeout=30s"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %s; want it to contain %s", s, want)
		}
	}
	if dev := mustLoad(t, []string{"--dev"}, nil).String(); !strings.Contains(dev, "redis=embedded") || !strings.Contains(dev, "provider=fake") {
		t.Errorf("dev String() = %s; want redis=embedded and provider=fake", dev)
	}
}

func TestLoadHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			var usage bytes.Buffer
			w, err := Load([]string{arg}, func(string) string { return "" }, &usage)
			if !errors.Is(err, flag.ErrHelp) || w != nil {
				t.Fatalf("Load(%s) = %v, %v; want nil, flag.ErrHelp", arg, w, err)
			}
			text := usage.String()
			for _, s := range allSettings {
				line := lineWith(text, "--"+s.flag+" ")
				if line == "" {
					line = lineWith(text, "--"+s.flag)
				}
				if line == "" {
					t.Errorf("usage has no line for --%s:\n%s", s.flag, text)
					continue
				}
				if s.env != "" && !strings.Contains(line, s.env+": ") {
					t.Errorf("usage line of --%s does not name %s: %q", s.flag, s.env, line)
				}
				if s.def != "" && !strings.Contains(line, "(default "+s.def+")") {
					t.Errorf("usage line of --%s does not give its default %s: %q", s.flag, s.def, line)
				}
			}
			if !strings.Contains(text, "--provider-timeout duration") || !strings.Contains(text, "PROVIDER_TIMEOUT: one provider call (default 30s)") {
				t.Errorf("usage does not describe --provider-timeout as expected:\n%s", text)
			}
			if !strings.Contains(lineWith(text, "--rate-limit-max-wait"), "dead-letter") {
				t.Errorf("usage does not say what RATE_LIMIT_MAX_WAIT does:\n%s", text)
			}
		})
	}
}

// lineWith returns the first line of text that contains s, or "".
func lineWith(text, s string) string {
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

func TestLoadBadArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, "unknown flag, argument #1 (not shown: it may be part of a secret) (see --help)"},
		{"unknown flag, a typo", []string{"--dev", "--ui-pasword=x"}, "unknown flag, argument #2 (not shown: it may be part of a secret); did you mean --ui-password?"},
		{"positional", []string{"--dev", "extra"}, `unexpected argument #2 (not shown: it may be part of a secret) after --dev alone: the worker takes only flags, and a value with spaces must be quoted; a true/false flag takes its value as --dev=false (see --help)`},
		{"after --", []string{"--", "--dev"}, `unexpected argument #2 (not shown`},
		// A password with spaces, not quoted: the rest of it is never shown.
		{"unquoted value", []string{"--provider-login-name", "acme", "--provider-login-password=correct", "horse" + loginPassword, "battery"},
			`unexpected argument #4 (not shown: it may be part of a secret) after --provider-login-password: `},
		{"unquoted value after a separate flag", []string{"--provider-login-password", "correct", "horse" + loginPassword},
			`unexpected argument #3 (not shown: it may be part of a secret) after --provider-login-password and its value: `},
		// A password that begins with '-' is the value of the flag before it, never a flag name
		// to show; and one written after a space, an unknown flag.
		{"value beginning with '-'", []string{"--provider-login-password", "-X" + loginPassword, "extra"},
			`unexpected argument #3 (not shown: it may be part of a secret) after --provider-login-password and its value: `},
		{"unquoted value beginning with '-'", []string{"--provider-login-password", "correct", "-" + loginPassword},
			"unknown flag, argument #3 (not shown: it may be part of a secret) (see --help)"},
		{"bad -dev value", []string{"-dev=maybe"}, `--dev: must be true or false, got "maybe"`},
		{"given twice", []string{"--provider-login-password", "first-" + loginPassword, "--provider-login-password=second-" + loginPassword}, "--provider-login-password given twice: give it once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var usage bytes.Buffer
			_, err := Load(tt.args, func(k string) string { return account()[k] }, &usage)
			checkErr(t, err, []string{tt.want}, loginPassword)
			if usage.Len() != 0 {
				t.Errorf("wrote usage for a bad argument: %q", usage.String())
			}
		})
	}
}

func TestLoadWarnsOfSentinelDatabase(t *testing.T) {
	t.Parallel()
	w := mustLoad(t, nil, with(account(), map[string]string{"REDIS_URL": "redis-sentinel://:" + redisPassword + "@10.0.0.1:26379/3?master=m"}))
	if len(w.Warnings) != 1 || !strings.Contains(w.Warnings[0], "REDIS_URL") || !strings.Contains(w.Warnings[0], "using database 0") ||
		strings.Contains(w.Warnings[0], redisPassword) {
		t.Errorf("warnings = %q", w.Warnings)
	}
	if w := mustLoad(t, nil, with(account(), map[string]string{"REDIS_URL": "redis-sentinel://10.0.0.1:26379?master=m"})); len(w.Warnings) != 0 {
		t.Errorf("warnings for a plain sentinel URL: %q", w.Warnings)
	}
}

// LOG_FORMAT ignores case, as LOG_LEVEL does.
func TestLoadLogFormatCase(t *testing.T) {
	t.Parallel()
	if w := mustLoad(t, nil, with(account(), map[string]string{"LOG_FORMAT": "JSON", "LOG_LEVEL": "DEBUG"})); w.LogFormat != "json" {
		t.Errorf("LogFormat = %q, want json", w.LogFormat)
	}
}

// Durations that work but are unlikely to be meant start the worker with a warning: a timeout
// under a second (30ms for 30s) or as long as a task's run, a poll interval over a minute. Those in range say nothing.
func TestLoadWarnsOfUnlikelyDurations(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, value, warning string }{
		{"PROVIDER_TIMEOUT", "30ms", "PROVIDER_TIMEOUT is 30ms, under a second: against the provider, over HTTPS, most calls would time out, be retried and end dead-lettered"},
		{"PROVIDER_TIMEOUT", "1s", ""},
		{"PROVIDER_TIMEOUT", "4m59s", ""},
		{"PROVIDER_TIMEOUT", "10m", "PROVIDER_TIMEOUT is 10m0s, not shorter than a task's run timeout (5m0s unless its producer set another): a call still running then is cut short with the run, which counts as a failed attempt"},
		{"POLL_INTERVAL", "2h", "POLL_INTERVAL is 2h0m0s: an idle worker looks for new tasks, and for retries that came due, only that often"},
		{"POLL_INTERVAL", "1m", ""},
	}
	for _, tt := range tests {
		w := mustLoad(t, nil, with(account(), map[string]string{tt.name: tt.value}))
		var want []string
		if tt.warning != "" {
			want = []string{tt.warning}
		}
		if !slices.Equal(w.Warnings, want) {
			t.Errorf("%s=%s: warnings %q, want %q", tt.name, tt.value, w.Warnings, want)
		}
	}
}
