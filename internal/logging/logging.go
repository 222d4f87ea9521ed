// Package logging sets up the worker's zerolog logger, adapts it for asynq, and masks personal
// data (e-mail addresses, phone numbers) in text that reaches a log line.
package logging

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// New returns a logger writing to w as JSON lines, or human-readable lines when format is
// "console" (in colour only on a terminal: colour codes in a file or a pipe are noise).
func New(w io.Writer, level zerolog.Level, format string) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a character device: a terminal, not a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	// A phone number in international form: a +, then digits with spaces, dots, dashes or
	// brackets between them. Bare digit runs are left alone: in free text they are order
	// numbers, task IDs and dates far more often than phone numbers, which never reach a log
	// line unmasked in the first place (fields are masked where they are logged).
	phoneRE = regexp.MustCompile(`\+\(?\d[\d\s().\-]{5,}\d`)
)

// Mask hides e-mail addresses (keeping the first character and the domain: j***@example.com)
// and international phone numbers (keeping the last two digits: ***-12) in free text s.
func Mask(s string) string {
	s = emailRE.ReplaceAllStringFunc(s, MaskEmail)
	return phoneRE.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 7 {
			return m
		}
		return MaskPhone(m)
	})
}

// Personal is a task's own phone numbers and e-mail addresses. Mask hides them in free text
// in whatever form they were given, where the patterns of the package-level Mask would miss
// one: a number without the leading +, an address with letters beyond ASCII.
type Personal struct {
	Phones, Emails []string
}

// Mask hides p's values in s, and then anything Mask finds. A value is hidden where it stands
// on its own, not inside a longer word or number, and only if it can be told from other
// text: an address with something on each side of its @, a number of at least 7 digits.
// Shorter values (which validation refuses, but a dead letter's reason may quote) are left
// to the patterns: hiding every "0" would hide order numbers and error codes too.
func (p Personal) Mask(s string) string {
	if s == "" {
		return s
	}
	for _, e := range p.Emails {
		if at := strings.LastIndexByte(e, '@'); at > 0 && at < len(e)-1 {
			s = replaceAlone(s, e, MaskEmail(e), isWordRune)
		}
	}
	for _, ph := range p.Phones {
		d := digitsOf(ph)
		if len(d) < 7 {
			continue
		}
		s = replaceAlone(s, strings.TrimSpace(ph), MaskPhone(ph), isWordRune)
		// The same number as bare digits, as an answer may quote it.
		s = replaceAlone(s, d, MaskPhone(d), isDigitRune)
	}
	return Mask(s)
}

// replaceAlone replaces old with new in s wherever old is not next to a rune for which
// joined is true.
func replaceAlone(s, old, new string, joined func(rune) bool) string {
	var b strings.Builder
	for from := 0; ; {
		i := strings.Index(s[from:], old)
		if i < 0 {
			if b.Len() == 0 {
				return s
			}
			b.WriteString(s[from:])
			return b.String()
		}
		i += from
		end := i + len(old)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (i > 0 && joined(before)) || (end < len(s) && joined(after)) {
			b.WriteString(s[from:end])
		} else {
			b.WriteString(s[from:i])
			b.WriteString(new)
		}
		from = end
	}
}

func isWordRune(r rune) bool  { return unicode.IsLetter(r) || unicode.IsDigit(r) }
func isDigitRune(r rune) bool { return r >= '0' && r <= '9' }

// digitsOf is the ASCII digits of s, in order.
func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// MaskEmail masks one e-mail address.
func MaskEmail(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	return addr[:1] + "***" + addr[at:]
}

// MaskPhone masks one phone number, keeping its last two digits.
func MaskPhone(p string) string {
	var last []byte
	for i := len(p) - 1; i >= 0 && len(last) < 2; i-- {
		if p[i] >= '0' && p[i] <= '9' {
			last = append([]byte{p[i]}, last...)
		}
	}
	return "***-" + string(last)
}

// Asynq adapts a zerolog logger to asynq's Logger, masking personal data in its messages.
// Build it with NewAsynq, which also holds back repeated warnings and errors (RepeatWindow);
// the zero value with L set logs every message.
type Asynq struct {
	L       zerolog.Logger
	repeats *repeats
}

var _ asynq.Logger = Asynq{}

// NewAsynq returns asynq's logger on l.
func NewAsynq(l zerolog.Logger) Asynq {
	return Asynq{L: l, repeats: newRepeats(RepeatWindow, time.Now)}
}

func (a Asynq) log(level zerolog.Level, args []any, throttle bool) {
	msg := strings.TrimSuffix(fmt.Sprint(args...), "\n")
	if throttle && !a.repeats.admit(msg, func(held int) {
		a.L.WithLevel(level).Str("component", "asynq").Int("heldBack", held).Msg(Mask(msg))
	}) {
		return
	}
	a.L.WithLevel(level).Str("component", "asynq").Msg(Mask(msg))
}

// Flush logs the counts of repeats held back so far; call it as the process ends.
func (a Asynq) Flush() { a.repeats.Flush() }

// Debug logs at debug level.
func (a Asynq) Debug(args ...any) { a.log(zerolog.DebugLevel, args, false) }

// Info logs at info level.
func (a Asynq) Info(args ...any) { a.log(zerolog.InfoLevel, args, false) }

// Warn logs at warn level, holding back repeats. asynq's "Retry exhausted for task id=..." is
// logged at debug level: it comes with every dead letter, permanent failures included, whose
// own line ("dead-lettered", with the reason) says what happened and why.
func (a Asynq) Warn(args ...any) {
	if len(args) == 1 && strings.HasPrefix(fmt.Sprint(args[0]), retryExhausted) {
		a.log(zerolog.DebugLevel, args, false)
		return
	}
	a.log(zerolog.WarnLevel, args, true)
}

// retryExhausted begins the line asynq logs as it archives a task.
const retryExhausted = "Retry exhausted for task id="

// Error logs at error level, holding back repeats.
func (a Asynq) Error(args ...any) { a.log(zerolog.ErrorLevel, args, true) }

// Fatal logs at error level. asynq calls it when it cannot go on; the process's run loop
// decides what to do, so it does not exit here.
func (a Asynq) Fatal(args ...any) { a.log(zerolog.ErrorLevel, args, false) }

// AsynqLevel maps a zerolog level to asynq's.
func AsynqLevel(l zerolog.Level) asynq.LogLevel {
	switch {
	case l <= zerolog.DebugLevel:
		return asynq.DebugLevel
	case l == zerolog.InfoLevel:
		return asynq.InfoLevel
	case l == zerolog.WarnLevel:
		return asynq.WarnLevel
	}
	return asynq.ErrorLevel
}

// RedisLogger sends go-redis's own messages (dial errors while Redis is away, pool trouble) to
// a zerolog logger as warnings, so that they are log lines like every other instead of plain
// text in the middle of JSON. go-redis has one logger per process: main installs Redis with
// redis.SetLogger, and the worker points it at its logger with Use.
type RedisLogger struct {
	l       atomic.Pointer[zerolog.Logger]
	repeats *repeats // repeated messages held back, as asynq's
}

// Redis is the process's RedisLogger.
var Redis = &RedisLogger{repeats: newRepeats(RepeatWindow, time.Now)}

// Flush logs the counts of repeats held back so far; call it as the process ends.
func (r *RedisLogger) Flush() { r.repeats.Flush() }

// Use sends the messages to l from now on.
func (r *RedisLogger) Use(l zerolog.Logger) { r.l.Store(&l) }

// Printf logs one message (go-redis's internal.Logging).
func (r *RedisLogger) Printf(_ context.Context, format string, v ...any) {
	l := r.l.Load()
	if l == nil {
		d := zerolog.New(os.Stderr).With().Timestamp().Logger()
		l = &d
	}
	msg := strings.TrimSuffix(fmt.Sprintf(format, v...), "\n")
	if !r.repeats.admit(msg, func(held int) {
		// The logger in use when the count is logged, which may have changed since (Use).
		if l := r.l.Load(); l != nil {
			l.Warn().Str("component", "redis").Int("heldBack", held).Msg(Mask(msg))
		}
	}) {
		return
	}
	l.Warn().Str("component", "redis").Msg(Mask(msg))
}

// ErrorCode adds a provider errorCode to a log line: the code, or null when there was none
// (an error page, a timeout, a payload that never reached the provider), so that every line
// about a call or a dead letter has the field.
func ErrorCode(e *zerolog.Event, code *int) *zerolog.Event {
	if code == nil {
		return e.RawJSON("errorCode", []byte("null"))
	}
	return e.Int("errorCode", *code)
}
