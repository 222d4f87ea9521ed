package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrHelp is returned by Parse when the arguments ask for help (-h, -help, --help).
var ErrHelp = flag.ErrHelp

// Parse sets the flags of fs from args and returns the positional arguments, in order. Flags
// may come before, after or between positional arguments, as --name value, --name=value or with
// a single dash; a boolean flag takes no value unless written --name=false. "--" ends the flags
// and a lone "-" is a positional argument (standard input). A flag given twice is an error, not
// its last value: "--order 1 --order 2" would otherwise act on order 2 without a word. Errors
// name the flag and are usage errors.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	given := map[string]bool{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(positional, args[i+1:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
		value, hasValue := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, value, hasValue = k, v, true
		}
		if name == "h" || name == "help" {
			return nil, ErrHelp
		}
		f := fs.Lookup(name)
		if name == "" || f == nil {
			return nil, Usage(&UnknownFlagError{N: i + 1, Name: name, msg: UnknownFlag(fs, i+1, name)})
		}
		isBool := false
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			isBool = true
			if !hasValue {
				value, hasValue = "true", true
			}
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, Usagef("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if given[f.Name] {
			// Without the values: one may be a password (--redis-url).
			return nil, Usagef("--%s given twice: give it once", name)
		}
		given[f.Name] = true
		if err := fs.Set(name, value); err != nil {
			if isBool && err.Error() == "parse error" {
				// The flag package's own bool says no more than that.
				return nil, Usagef("--%s: must be true or false (or 1 or 0; the flag alone means true), got %q", name, value)
			}
			return nil, Usagef("--%s: %w", name, err)
		}
	}
	return positional, nil
}

// ArgNotShown names the nth argument of a command line (from 1) without showing it: an argument
// that is not what was expected is often part of a secret, such as the rest of a password with
// spaces that was not quoted, or a password that begins with '-'.
func ArgNotShown(n int) string {
	return fmt.Sprintf("argument #%d (not shown: it may be part of a secret)", n)
}

// UnknownFlagError is Parse's error for an argument written as a flag that is no flag of the
// command. Its message does not show the argument (see ArgNotShown).
type UnknownFlagError struct {
	N    int    // the argument's position, from 1
	Name string // the argument without its dashes and value: show it only if it is known to be a flag name
	msg  string
}

func (e *UnknownFlagError) Error() string { return e.msg }

// UnknownFlag says that the nth argument, written as a flag called name, is no flag of fs:
// without showing it, but with the flag it was probably meant to be.
func UnknownFlag(fs *flag.FlagSet, n int, name string) string {
	msg := "unknown flag, " + ArgNotShown(n)
	if near := nearestFlag(fs, name); near != "" {
		msg += "; did you mean --" + near + "?"
	}
	return msg
}

// nearestFlag is the flag of fs whose name is closest to name, a typo away (one edit, two for
// a name of 8 or more), or "" when none or several are.
func nearestFlag(fs *flag.FlagSet, name string) string {
	best, bestDist, ties := "", min(2, len(name)/4)+1, 0
	fs.VisitAll(func(f *flag.Flag) {
		switch d := editDistance(name, f.Name); {
		case d < bestDist:
			best, bestDist, ties = f.Name, d, 0
		case d == bestDist:
			ties++
		}
	})
	if ties > 0 || len(name) < 4 {
		return ""
	}
	return best
}

// editDistance is the number of edits between a and b, in bytes: insertions, deletions,
// substitutions and transpositions of two neighbours (optimal string alignment).
func editDistance(a, b string) int {
	rows := [3][]int{make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(a); i++ {
		older, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], older[j-2]+1)
			}
		}
		rows = [3][]int{prev, cur, older}
	}
	return rows[1][len(b)]
}

// IsSet reports whether the flag name was given on the command line.
func IsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// helpWidth is the width PrintFlags wraps its lines to.
const helpWidth = 100

// PrintFlags writes one entry per flag of fs, GNU style ("  --name VALUE  usage (default x)"),
// aligned and wrapped to 100 columns. A name in backquotes in the usage text names the value,
// as in the flag package.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	type entry struct{ left, usage string }
	var entries []entry
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		valueName, usage := flag.UnquoteUsage(f)
		left := "  --" + f.Name
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
			if valueName == "" || valueName == "value" || valueName == "string" {
				valueName = "VALUE"
			}
			left += " " + strings.ToUpper(valueName)
		}
		switch {
		case f.DefValue == "" || f.DefValue == "false" || f.DefValue == "0":
		case fmt.Sprintf("%T", f.Value) == "*flag.stringValue":
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		width = max(width, len(left))
		entries = append(entries, entry{left, usage})
	})
	for _, e := range entries {
		lines := wrap(e.usage, max(30, helpWidth-width-2))
		fmt.Fprintf(w, "%-*s  %s\n", width, e.left, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%-*s  %s\n", width, "", l)
		}
	}
}

// wrap breaks s into lines of at most width bytes, at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// Int is a flag.Value holding an integer, whose parse error a person can read:
// `must be an integer, got "ten"`.
type Int int

// Set parses s as a base-10 integer.
func (n *Int) Set(s string) error {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("must be an integer, got %q", s)
	}
	*n = Int(v)
	return nil
}

// String is the value in base 10, as help shows a default.
func (n *Int) String() string {
	if n == nil {
		return "0"
	}
	return strconv.Itoa(int(*n))
}
