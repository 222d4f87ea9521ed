package config

import (
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeTableListsEverySetting holds README.md's configuration table to the settings the
// worker reads: every variable is in it, with its default, and it names no variable the worker
// does not read.
func TestReadmeTableListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration (`worker`)\n")
	if !ok {
		t.Fatal("README.md has no configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")

	// A row: | `A`, `B` | `default`, `default` | meaning |. The first cell names the variables;
	// a _FILE variant may also be named in the meaning.
	rowDefaults := map[string]string{}
	named := map[string]bool{}
	variable := regexp.MustCompile("`([A-Z][A-Z_]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(line, "| `") {
			continue
		}
		vars := variable.FindAllStringSubmatch(cells[1], -1)
		defs := strings.Split(cells[2], ",")
		for i, v := range vars {
			def := strings.Trim(strings.TrimSpace(defs[min(i, len(defs)-1)]), "`")
			rowDefaults[v[1]] = def
			named[v[1]] = true
		}
		for _, v := range variable.FindAllStringSubmatch(cells[3], -1) {
			if strings.HasSuffix(v[1], "_FILE") {
				named[v[1]] = true
			}
		}
	}
	envs := map[string]bool{}
	for _, s := range allSettings {
		if s.env == "" {
			continue
		}
		envs[s.env] = true
		if !named[s.env] {
			t.Errorf("README.md's configuration table does not name %s", s.env)
			continue
		}
		def, inRow := rowDefaults[s.env]
		if !inRow {
			continue // a _FILE variant, named in its value's row
		}
		want := s.def
		if want == "" {
			want = "none"
		}
		// Either may say more after the value: "0 (off)", "off; 127.0.0.1:8080 with --dev".
		if bare(def) != bare(want) {
			t.Errorf("README.md gives %s the default %q; the worker's is %q", s.env, def, want)
		}
	}
	for v := range named {
		if !envs[v] {
			t.Errorf("README.md's configuration table names %s, which the worker does not read", v)
		}
	}

	// And the defaults the README gives are the worker's: set to them, a variable changes
	// nothing.
	base := map[string]string{"PROVIDER_LOGIN_NAME": "alice", "PROVIDER_LOGIN_PASSWORD": "correct horse"}
	defaults := loadForReadme(t, base)
	for env, def := range rowDefaults {
		if def = bare(def); def == "none" || def == "off" {
			continue
		}
		set := maps.Clone(base)
		set[env] = def
		if got := loadForReadme(t, set); !reflect.DeepEqual(got, defaults) {
			t.Errorf("%s=%s, README.md's default, loads\n%+v\nwhere leaving it out loads\n%+v", env, def, got, defaults)
		}
	}
}

// loadForReadme loads the settings of env, without the accounts and warnings (which hold
// functions and depend on what was set, not on its value).
func loadForReadme(t *testing.T, env map[string]string) Worker {
	t.Helper()
	w, err := Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	w.Accounts, w.Warnings = nil, nil
	return *w
}

// bare is a default without what is said after it.
func bare(def string) string {
	def, _, _ = strings.Cut(def, " (")
	def, _, _ = strings.Cut(def, ";")
	return strings.Trim(strings.TrimSpace(def), "`")
}
