package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrInvalid is matched (errors.Is) by every error Load returns for a missing or bad setting, so a
// main can tell a configuration error (exit 2) from a failure at run time.
var ErrInvalid = errors.New("invalid configuration")

// settingError is one bad setting: a single line that names the variable and the rule, and never
// a secret's value.
type settingError struct {
	msg string
	err error // the underlying error, e.g. from opening a file; may be nil
}

func (e *settingError) Error() string { return e.msg }

func (e *settingError) Unwrap() error { return e.err }

// Is makes every settingError match ErrInvalid.
func (e *settingError) Is(target error) bool { return target == ErrInvalid }

// failf reports a problem with one setting, prefixed with its name: `VAR (--flag): ...`.
func failf(s *setting, format string, args ...any) error {
	return &settingError{msg: oneLine(s.name() + ": " + fmt.Sprintf(format, args...))}
}

// oneLine escapes the control characters (but tabs) of a message, as Go would quote them, so
// that a value or a path that carries a line break (a file name from an env file) still
// makes one line.
func oneLine(msg string) string {
	if !strings.ContainsFunc(msg, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) {
		return msg
	}
	var b strings.Builder
	for _, r := range msg {
		if r != '\t' && unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wrapf is failf keeping err for errors.Is/As; err's text must already be in the message.
func wrapf(s *setting, err error, format string, args ...any) error {
	return &settingError{msg: oneLine(s.name() + ": " + fmt.Sprintf(format, args...)), err: err}
}

// plainf reports a problem that involves several settings; the message names them itself.
func plainf(format string, args ...any) error {
	return &settingError{msg: oneLine(fmt.Sprintf(format, args...))}
}

// Invalidf is a configuration error found after Load, such as a Redis server that refuses the
// URL's login: it matches ErrInvalid like Load's own. The message names the setting itself.
func Invalidf(format string, args ...any) error {
	return plainf(format, args...)
}
