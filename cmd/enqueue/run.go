package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ovqueue/ovqueue/internal/cli"
)

// app is what every command works with: the environment and the standard streams.
type app struct {
	getenv   func(string) string
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	terminal bool // stderr is a terminal: draw progress bars
}

// run is the whole program: it runs the command in args (args[0] is the program's name),
// reads a backfill's rows from os.Stdin when args name "-", writes results to stdout and
// problems to stderr, and returns an error that carries the exit code (cli.ExitCode).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWithInput(ctx, args, getenv, os.Stdin, stdout, stderr)
}

// runWithInput is run reading standard input from stdin.
func runWithInput(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, terminal: cli.IsTerminal(stderr)}
	if len(args) > 0 {
		args = args[1:]
	}
	name, err := a.dispatch(ctx, args)
	if err != nil {
		a.report(name, err)
	}
	return err
}

// dispatch runs the command that args name and returns its name, for messages.
func (a *app) dispatch(ctx context.Context, args []string) (string, error) {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, topHelp)
		return "", cli.Usagef("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && cmd == "help" {
			return a.dispatch(ctx, append(rest[:1:1], "--help"))
		}
		fmt.Fprint(a.stdout, topHelp)
		return "", nil
	case "callback":
		return cmd, a.callback(ctx, rest)
	case "licence", "license":
		return "licence", a.licence(ctx, rest)
	case "backfill":
		return cmd, a.backfill(ctx, rest)
	case "dead":
		return a.dead(ctx, rest)
	default:
		return "", cli.Usagef("unknown command %q: want callback, licence, backfill or dead", cmd)
	}
}

// report writes err to stderr, one "enqueue CMD: ..." line for each of its lines, and for a
// usage error a hint at the command's help.
func (a *app) report(name string, err error) {
	prefix := "enqueue"
	if name != "" {
		prefix += " " + name
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(a.stderr, "%s: %s\n", prefix, line)
	}
	if cli.IsUsage(err) {
		fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", prefix)
	}
}

// parse parses a command's flags. On --help it writes the help (usage, the flags, then more)
// to stdout and reports done.
func (a *app) parse(fs *flag.FlagSet, args []string, usage, more string) (positional []string, done bool, err error) {
	positional, err = cli.Parse(fs, args)
	var unknown *cli.UnknownFlagError
	if errors.As(err, &unknown) && !afterRedisURL(args[:unknown.N-1]) {
		// A flag of another command is a name, not a secret: say so, and which commands take
		// it. Unless a --redis-url came before it: a password with spaces, not quoted, splits
		// into arguments, and a piece of it may look like a flag.
		if others := commandsWithFlag(unknown.Name, fs.Name()); len(others) > 0 {
			return nil, false, cli.Usagef("--%s is not a flag of %s (only of %s)", unknown.Name, fs.Name(), strings.Join(others, ", "))
		}
	}
	if errors.Is(err, cli.ErrHelp) {
		fmt.Fprint(a.stdout, usage)
		fmt.Fprint(a.stdout, "\nFlags:\n")
		cli.PrintFlags(a.stdout, fs)
		fmt.Fprint(a.stdout, more)
		return nil, true, nil
	}
	return positional, false, err
}

// afterRedisURL reports whether args hold a --redis-url (or -redis-url) flag.
func afterRedisURL(args []string) bool {
	for _, arg := range args {
		if arg == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-"), "=")
		if strings.HasPrefix(arg, "-") && name == "redis-url" {
			return true
		}
	}
	return false
}

// commandsWithFlag lists the commands, other than the one named not, that have a flag called
// name.
func commandsWithFlag(name, not string) []string {
	callback, _, _ := newOneFlags("callback", callbackFlags)
	licence, _, _ := newOneFlags("licence", licenceFlags)
	backfill, _ := newBackfillFlags()
	dead := newFlagSet("dead")
	new(deadFlags).register(dead)
	var with []string
	for _, fs := range []*flag.FlagSet{callback, licence, backfill, dead} {
		if fs.Name() != not && !strings.HasPrefix(not, fs.Name()+" ") && fs.Lookup(name) != nil {
			cmd := fs.Name()
			if cmd == "dead" {
				cmd = "dead list, export and replay"
			}
			with = append(with, cmd)
		}
	}
	return with
}

// newFlagSet returns an empty flag set for a command; parsing and help are done by cli.Parse
// and the help texts, so the flag package itself never prints.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
