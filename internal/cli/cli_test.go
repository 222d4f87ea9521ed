package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/internal/cli"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, cli.ExitOK},
		{"plain error", errors.New("boom"), cli.ExitFailed},
		{"usage", cli.Usagef("bad flag"), cli.ExitUsage},
		{"failed", cli.Failedf("3 rows failed"), cli.ExitFailed},
		{"wrapped usage", fmt.Errorf("context: %w", cli.Usagef("bad")), cli.ExitUsage},
		{"joined", errors.Join(errors.New("a"), cli.Usagef("b")), cli.ExitUsage},
		{"usage of nil", cli.Usage(nil), cli.ExitOK},
		{"failed of nil", cli.Failed(nil), cli.ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cli.ExitCode(tt.err); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
			if tt.err != nil && tt.err.Error() == "" {
				t.Errorf("empty message")
			}
		})
	}
	if got := cli.Usagef("x: %w", io.EOF); !errors.Is(got, io.EOF) || got.Error() != "x: EOF" {
		t.Errorf("Usagef = %v, does not wrap", got)
	}
}

// flags is a flag set as the commands build them.
type flags struct {
	fs    *flag.FlagSet
	name  *string
	json  *bool
	count cli.Int
}

func newFlags() *flags {
	f := &flags{fs: flag.NewFlagSet("test", flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	f.name = f.fs.String("name", "", "the `who`")
	f.json = f.fs.Bool("json", false, "JSON")
	f.count = 3
	f.fs.Var(&f.count, "count", "how many")
	return f
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		positional []string
		who        string
		json       bool
		count      int
		err        string // substring; "" = no error
		usage      bool
	}{
		{"flags after positional", []string{"FILE", "--name", "x", "--json"}, []string{"FILE"}, "x", true, 3, "", false},
		{"flags before and between", []string{"--name=y", "A", "-count", "7", "B"}, []string{"A", "B"}, "y", false, 7, "", false},
		{"single dash and equals", []string{"-json=false", "-name", "-dash-value"}, nil, "-dash-value", false, 3, "", false},
		{"lone dash is positional", []string{"-", "--json"}, []string{"-"}, "", true, 3, "", false},
		{"double dash ends flags", []string{"--json", "--", "--name", "x"}, []string{"--name", "x"}, "", true, 3, "", false},
		{"unknown flag", []string{"--nope"}, nil, "", false, 3, "unknown flag, argument #1 (not shown: it may be part of a secret)", true},
		// A password that begins with '-', given where a value was not expected: never shown,
		// and no flag is suggested for it.
		{"unknown flag, not shown", []string{"FILE", "--name", "x", "-S3cret"}, nil, "", false, 3, "unknown flag, argument #4 (not shown: it may be part of a secret)", true},
		{"unknown flag, a typo", []string{"--jsno"}, nil, "", false, 3, "unknown flag, argument #1 (not shown: it may be part of a secret); did you mean --json?", true},
		{"unknown flag, a long typo", []string{"--cuont=2"}, nil, "", false, 3, "did you mean --count?", true},
		{"missing value", []string{"FILE", "--name"}, nil, "", false, 3, "--name needs a value", true},
		{"bad int", []string{"--count", "ten"}, nil, "", false, 3, `--count: must be an integer, got "ten"`, true},
		{"bad bool", []string{"--json=maybe"}, nil, "", false, 3, `--json: must be true or false (or 1 or 0; the flag alone means true), got "maybe"`, true},
		{"given twice", []string{"--name", "a", "FILE", "-name=b"}, nil, "", false, 3, "--name given twice: give it once", true},
		{"bool given twice", []string{"--json", "--json"}, nil, "", false, 3, "--json given twice: give it once", true},
		{"help", []string{"x", "--help"}, nil, "", false, 3, flag.ErrHelp.Error(), false},
		{"short help", []string{"-h"}, nil, "", false, 3, flag.ErrHelp.Error(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFlags()
			got, err := cli.Parse(f.fs, tt.args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "S3cret") || strings.Contains(err.Error(), "jsno") {
					t.Errorf("err = %v shows the argument", err)
				}
				if cli.IsUsage(err) != tt.usage {
					t.Errorf("IsUsage(%v) = %v, want %v", err, cli.IsUsage(err), tt.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "|") != strings.Join(tt.positional, "|") {
				t.Errorf("positional = %q, want %q", got, tt.positional)
			}
			if *f.name != tt.who || *f.json != tt.json || int(f.count) != tt.count {
				t.Errorf("name=%q json=%v count=%d, want %q %v %d", *f.name, *f.json, f.count, tt.who, tt.json, tt.count)
			}
		})
	}
	f := newFlags()
	if _, err := cli.Parse(f.fs, []string{"--count", "9"}); err != nil || !cli.IsSet(f.fs, "count") || cli.IsSet(f.fs, "name") {
		t.Errorf("IsSet: err %v, count %v, name %v", err, cli.IsSet(f.fs, "count"), cli.IsSet(f.fs, "name"))
	}
}

func TestPrintFlags(t *testing.T) {
	t.Parallel()
	f := newFlags()
	f.fs.String("queue", "default", "the `queue`, and a long explanation that goes on and on well past the width of one line of a terminal")
	var b bytes.Buffer
	cli.PrintFlags(&b, f.fs)
	want := `  --count VALUE  how many (default 3)
  --json         JSON
  --name WHO     the who
  --queue QUEUE  the queue, and a long explanation that goes on and on well past the width of one
                 line of a terminal (default "default")
`
	if b.String() != want {
		t.Errorf("PrintFlags:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	if cli.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cli.IsTerminal(f) {
		t.Error("a file is a terminal")
	}
}
