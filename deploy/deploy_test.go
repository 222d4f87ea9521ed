// Package deploy_test checks the deployment files at the repository's root: docker-compose.yml
// (rendered by `docker-compose config`, so interpolation and required variables are checked
// as compose itself sees them) and the Dockerfile (read as text: no Docker engine needed).
package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	composeFile    = "../docker-compose.yml"
	dockerfile     = "../Dockerfile"
	dockerignore   = "../.dockerignore"
	secretPassword = "file-held-provider-password"
	secretUIPass   = "file-held-ui-password"
)

// composeEnv is what an operator exports before `docker-compose up`, with the secret files
// written to dir.
func composeEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	prov := filepath.Join(dir, "provider_login_password")
	uiPass := filepath.Join(dir, "ui_password")
	for path, v := range map[string]string{prov: secretPassword, uiPass: secretUIPass} {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{
		"PROVIDER_LOGIN_NAME":          "acme-billing",
		"PROVIDER_LOGIN_PASSWORD_FILE": prov,
		"UI_USER":                      "ops",
		"UI_PASSWORD_FILE":             uiPass,
	}
}

// composeConfig runs `docker-compose config` with exactly env (the caller's own environment
// and any .env file are kept out) and returns its output and error.
func composeConfig(t *testing.T, bin string, env map[string]string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	emptyEnv := filepath.Join(dir, "empty.env")
	if err := os.WriteFile(emptyEnv, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "--env-file", emptyEnv, "-f", composeFile, "config")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// needCompose returns the docker-compose binary; it skips the test without one, except in CI
// (CI=true), where a missing binary fails it.
func needCompose(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("docker-compose is missing in CI (install Debian's docker-compose): %v", err)
		}
		t.Skipf("docker-compose not found: %v", err)
	}
	return bin
}

func TestComposeConfig(t *testing.T) {
	t.Parallel()
	bin := needCompose(t)
	env := composeEnv(t, t.TempDir())
	out, err := composeConfig(t, bin, env)
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	y := parseYAML(out)

	t.Run("redis persists and never evicts", func(t *testing.T) {
		redis := y.at(t, "services", "redis")
		cmd := redis.at(t, "command").words()
		for _, pair := range [][2]string{{"--appendonly", "yes"}, {"--appendfsync", "everysec"}, {"--maxmemory", "0"}, {"--maxmemory-policy", "noeviction"}} {
			if !hasPair(cmd, pair[0], pair[1]) {
				t.Errorf("redis command %q lacks %s %s", cmd, pair[0], pair[1])
			}
		}
		vols := redis.at(t, "volumes").text()
		if !strings.Contains(vols, "redis-data") || !strings.Contains(vols, "/data") {
			t.Errorf("redis does not keep /data on the named volume: %s", vols)
		}
		if !y.at(t, "volumes").has("redis-data") {
			t.Errorf("volume redis-data is not declared")
		}
		if hc := redis.at(t, "healthcheck", "test").words(); !hasPair(hc, "redis-cli", "ping") {
			t.Errorf("redis healthcheck is %q, want redis-cli ping", hc)
		}
		if redis.has("ports") {
			t.Errorf("redis is published on the host: %s", redis.at(t, "ports").text())
		}
	})

	t.Run("worker scales", func(t *testing.T) {
		w := y.at(t, "services", "worker")
		for _, key := range []string{"ports", "container_name"} {
			if w.has(key) {
				t.Errorf("worker has %s, so `--scale worker=3` would collide:\n%s", key, w.at(t, key).text())
			}
		}
		if got := w.at(t, "restart").value(); got != "unless-stopped" {
			t.Errorf("worker restart = %q", got)
		}
		if got := w.at(t, "depends_on", "redis", "condition").value(); got != "service_healthy" {
			t.Errorf("worker depends_on redis condition = %q, want service_healthy", got)
		}
	})

	for _, svc := range []string{"worker", "ui"} {
		t.Run(svc+" wiring", func(t *testing.T) {
			s := y.at(t, "services", svc)
			env := s.at(t, "environment").mapping()
			for k, want := range map[string]string{
				"REDIS_URL":                    "redis://redis:6379/0",
				"PROVIDER_LOGIN_NAME":          "acme-billing",
				"PROVIDER_LOGIN_PASSWORD_FILE": "/run/secrets/provider_login_password",
				"METRICS_ADDR":                 ":9090",
			} {
				if env[k] != want {
					t.Errorf("%s: %s = %q, want %q", svc, k, env[k], want)
				}
			}
			if _, ok := env["PROVIDER_LOGIN_PASSWORD"]; ok {
				t.Errorf("%s: the provider password is an environment variable; use the secret", svc)
			}
			if !strings.HasPrefix(env["PROVIDER_URL"], "https://") {
				t.Errorf("%s: PROVIDER_URL = %q, want https", svc, env["PROVIDER_URL"])
			}
			if !s.at(t, "secrets").has("provider_login_password") {
				t.Errorf("%s: secret provider_login_password not mounted:\n%s", svc, s.at(t, "secrets").text())
			}
			grace, err := time.ParseDuration(s.at(t, "stop_grace_period").value())
			if err != nil {
				t.Fatalf("%s: stop_grace_period: %v", svc, err)
			}
			shutdown, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("%s: SHUTDOWN_TIMEOUT: %v", svc, err)
			}
			if grace <= shutdown {
				t.Errorf("%s: stop_grace_period %s is not longer than SHUTDOWN_TIMEOUT %s: Docker would kill calls in flight", svc, grace, shutdown)
			}
			// A read-only root needs a writable /tmp: `enqueue backfill` spools there.
			if s.has("read_only") && s.at(t, "read_only").value() == "true" &&
				(!s.has("tmpfs") || !strings.Contains(s.at(t, "tmpfs").text(), "/tmp")) {
				t.Errorf("%s: read_only without a tmpfs on /tmp: enqueue backfill could not write its temporary file", svc)
			}
		})
	}

	t.Run("ui is one instance on loopback with auth", func(t *testing.T) {
		ui := y.at(t, "services", "ui")
		env := ui.at(t, "environment").mapping()
		for k, want := range map[string]string{"UI_ADDR": ":8080", "UI_USER": "ops", "UI_PASSWORD_FILE": "/run/secrets/ui_password"} {
			if env[k] != want {
				t.Errorf("ui: %s = %q, want %q", k, env[k], want)
			}
		}
		if _, ok := env["UI_PASSWORD"]; ok {
			t.Error("ui: the UI password is an environment variable; use the secret")
		}
		if !ui.at(t, "secrets").has("ui_password") {
			t.Errorf("ui: secret ui_password not mounted")
		}
		ports := ui.at(t, "ports").text()
		if !strings.Contains(ports, "127.0.0.1") || !strings.Contains(ports, "8080") {
			t.Errorf("ui ports %q: want 8080 published on 127.0.0.1 only", ports)
		}
	})

	t.Run("secrets come from files named in the environment", func(t *testing.T) {
		for name, envVar := range map[string]string{"provider_login_password": "PROVIDER_LOGIN_PASSWORD_FILE", "ui_password": "UI_PASSWORD_FILE"} {
			if got := y.at(t, "secrets", name, "file").value(); got != env[envVar] {
				t.Errorf("secret %s file = %q, want %s (%q)", name, got, envVar, env[envVar])
			}
		}
		for _, secret := range []string{secretPassword, secretUIPass} {
			if strings.Contains(out, secret) {
				t.Errorf("a password is in the rendered configuration")
			}
		}
	})
}

func TestComposeRequiresCredentials(t *testing.T) {
	t.Parallel()
	bin := needCompose(t)
	for _, missing := range []string{"PROVIDER_LOGIN_NAME", "PROVIDER_LOGIN_PASSWORD_FILE", "UI_USER", "UI_PASSWORD_FILE"} {
		t.Run(missing, func(t *testing.T) {
			t.Parallel()
			env := composeEnv(t, t.TempDir())
			delete(env, missing)
			out, err := composeConfig(t, bin, env)
			if err == nil {
				t.Fatalf("docker-compose config succeeded without %s", missing)
			}
			if !strings.Contains(out, "set "+missing) {
				t.Errorf("the error does not name %s:\n%s", missing, out)
			}
		})
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	ins := readDockerfile(t)
	var stages [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stage(s), want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if f := strings.Fields(build[0].args); !strings.HasPrefix(f[0], "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26", build[0].args)
	}
	// Every go build is static (CGO_ENABLED=0, from ENV or on the command) and -trimpath, and
	// the two binaries are among them.
	cgoOff := false
	built := map[string]bool{}
	for _, in := range build {
		if in.cmd == "ENV" && strings.Contains(in.args, "CGO_ENABLED=0") {
			cgoOff = true
		}
		if in.cmd != "RUN" {
			continue
		}
		for _, c := range strings.FieldsFunc(in.args, func(r rune) bool { return r == '&' || r == ';' }) {
			if !strings.Contains(c, "go build") {
				continue
			}
			if !cgoOff && !strings.Contains(c, "CGO_ENABLED=0") {
				t.Errorf("line %d: %q is not CGO_ENABLED=0", in.line, strings.TrimSpace(c))
			}
			if !strings.Contains(c, "-trimpath") {
				t.Errorf("line %d: %q lacks -trimpath", in.line, strings.TrimSpace(c))
			}
			for _, f := range strings.Fields(c) {
				built[f] = true
			}
		}
	}
	for _, pkg := range []string{"./cmd/worker", "./cmd/enqueue"} {
		if !built[pkg] {
			t.Errorf("the build stage does not build %s", pkg)
		}
	}

	img := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(img, "gcr.io/distroless/static") && !strings.HasPrefix(img, "alpine") {
		t.Errorf("final stage FROM %s, want distroless/static or alpine", img)
	}
	user, copied, entry := "", false, ""
	exposed := map[string]bool{}
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "COPY":
			copied = copied || strings.Contains(in.args, "--from=")
		case "EXPOSE":
			for _, p := range strings.Fields(in.args) {
				exposed[strings.TrimSuffix(p, "/tcp")] = true
			}
		case "ENTRYPOINT":
			entry = in.args
		case "RUN":
			if strings.HasPrefix(img, "gcr.io/distroless") {
				t.Errorf("line %d: RUN in a distroless stage (it has no shell)", in.line)
			}
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if uid, err := strconv.Atoi(name); name == "" || name == "root" || (err == nil && uid == 0) {
		t.Errorf("final stage runs as %q, want a non-root USER", user)
	}
	if !copied {
		t.Error("final stage does not copy the binaries from the build stage")
	}
	for _, p := range []string{"8080", "9090"} {
		if !exposed[p] {
			t.Errorf("port %s not exposed", p)
		}
	}
	if !strings.Contains(entry, "worker") {
		t.Errorf("ENTRYPOINT %s, want the worker", entry)
	}

	// No credentials baked into any layer.
	for _, in := range ins {
		upper := strings.ToUpper(in.args)
		switch in.cmd {
		case "ENV", "ARG":
			for _, word := range []string{"PASSWORD", "SECRET", "TOKEN", "LOGIN_NAME", "ACCOUNTS"} {
				if strings.Contains(upper, word) {
					t.Errorf("line %d: %s %s bakes a credential into the image", in.line, in.cmd, in.args)
				}
			}
		case "COPY", "ADD":
			for _, word := range []string{"SECRET", ".ENV", "PASSWORD", ".PEM", ".KEY"} {
				if strings.Contains(upper, word) {
					t.Errorf("line %d: %s %s copies a secret into the image", in.line, in.cmd, in.args)
				}
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns[strings.TrimPrefix(l, "/")] = true
		}
	}
	for _, want := range []string{".git", ".env", "secrets/"} {
		if !patterns[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd", "*.go"} {
		if patterns[keep] {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}

func hasPair(words []string, a, b string) bool {
	for i := 0; i+1 < len(words); i++ {
		if words[i] == a && words[i+1] == b {
			return true
		}
	}
	return false
}

// node is a block of the YAML that `docker-compose config` prints: block style, two-space
// indents, lists either indented or at their key's own indent. This reads no more YAML than
// that, which keeps the test to the standard library.
type node struct {
	key    string
	inline string   // the value on the key's own line
	lines  []string // the block under the key, indents kept
}

func parseYAML(s string) node { return node{lines: strings.Split(s, "\n")} }

func indentOf(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// children are the node's direct keys and list items, each with its block.
func (n node) children() []node {
	var out []node
	indent := -1
	for i := 0; i < len(n.lines); i++ {
		l := n.lines[i]
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := indentOf(l)
		if indent < 0 {
			indent = ind
		}
		if ind != indent {
			continue
		}
		item := strings.TrimSpace(l)
		key, inline := item, ""
		if k, v, ok := strings.Cut(item, ":"); ok && !strings.HasPrefix(item, "- ") {
			key, inline = k, strings.TrimSpace(v)
		}
		j := i + 1
		for j < len(n.lines) {
			next := n.lines[j]
			nind := indentOf(next)
			if strings.TrimSpace(next) != "" && nind < indent {
				break
			}
			if nind == indent && strings.TrimSpace(next) != "" {
				// A list at its key's own indent belongs to the key.
				if !(strings.HasPrefix(strings.TrimSpace(next), "- ") && !strings.HasPrefix(item, "- ") && inline == "") {
					break
				}
			}
			j++
		}
		out = append(out, node{key: unquote(key), inline: unquote(inline), lines: n.lines[i+1 : j]})
		i = j - 1
	}
	return out
}

func (n node) child(key string) (node, bool) {
	for _, c := range n.children() {
		if c.key == key {
			return c, true
		}
	}
	return node{}, false
}

func (n node) has(key string) bool {
	for _, c := range n.children() {
		if c.key == key || c.key == "- "+key || strings.HasPrefix(c.key, "- source: "+key) {
			return true
		}
	}
	// A list item in long form: "- source: name".
	return strings.Contains(n.text(), "source: "+key)
}

func (n node) at(t *testing.T, path ...string) node {
	t.Helper()
	cur := n
	for _, k := range path {
		c, ok := cur.child(k)
		if !ok {
			t.Fatalf("no %s in the rendered configuration:\n%s", strings.Join(path, "."), n.text())
		}
		cur = c
	}
	return cur
}

func (n node) value() string { return n.inline }

func (n node) text() string {
	if n.inline != "" {
		return n.inline
	}
	return strings.Join(n.lines, "\n")
}

// words is a list's items, or an inline value split on spaces (a command in string form).
func (n node) words() []string {
	if n.inline != "" {
		s := strings.Trim(n.inline, "[]")
		var out []string
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
			out = append(out, unquote(w))
		}
		return out
	}
	var out []string
	for _, c := range n.children() {
		if item, ok := strings.CutPrefix(c.key, "- "); ok {
			out = append(out, unquote(item))
		}
	}
	return out
}

// mapping reads a block of `key: value` lines (the environment).
func (n node) mapping() map[string]string {
	m := map[string]string{}
	for _, c := range n.children() {
		m[c.key] = c.inline
	}
	return m
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}
