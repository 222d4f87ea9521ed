package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"send to jane.doe@example.com now", "send to j***@example.com now"},
		{"call +44 161 496 0000 today", "call ***-00 today"},
		{"phone +1 (555) 010-0199", "phone ***-99"},
		{"order 1234567 failed", "order 1234567 failed"},
		{"task licence:modify:1234567:0a1b2c3d4e5f6789", "task licence:modify:1234567:0a1b2c3d4e5f6789"},
		{"order 123456 failed", "order 123456 failed"},
		{"errorCode -4 at 2024-02-02 13:03", "errorCode -4 at 2024-02-02 13:03"},
		{"no personal data", "no personal data"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPersonalMask: a task's own phone number and e-mail address are hidden in any text in
// the form the task gave them, which the patterns alone miss, and as bare digits.
func TestPersonalMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p       Personal
		in, out string
	}{
		{Personal{Phones: []string{"020-7946-0958"}}, "bad number 020-7946-0958 here", "bad number ***-58 here"},
		{Personal{Phones: []string{"(020) 7946 0958"}}, "number (020) 7946 0958 refused", "number ***-58 refused"},
		{Personal{Phones: []string{"020 7946 0958"}}, "number 02079460958 refused", "number ***-58 refused"},
		{Personal{Emails: []string{"jöe.smith@exämple.de"}}, "address jöe.smith@exämple.de refused", "address j***@exämple.de refused"},
		{Personal{Emails: []string{"jane.o'neil@example.com"}}, "jane.o'neil@example.com?", "j***@example.com?"},
		// The patterns still apply to the rest, and empty values change nothing.
		{Personal{Phones: []string{""}, Emails: []string{""}}, "call +44 161 496 0000 or a@example.com", "call ***-00 or a***@example.com"},
		// Order numbers are not phone numbers.
		{Personal{Phones: []string{"020-7946-0958"}}, "order 1234567 failed", "order 1234567 failed"},
		// Values too short to tell from other text are left to the patterns.
		{Personal{Phones: []string{"0"}}, "errorCode -4 for order 1001", "errorCode -4 for order 1001"},
		{Personal{Phones: []string{" "}}, "phoneNumber: required (got only spaces)", "phoneNumber: required (got only spaces)"},
		{Personal{Emails: []string{"e"}}, "emailAddress: must be an e-mail address such as name@example.com", "emailAddress: must be an e-mail address such as n***@example.com"},
		{Personal{Emails: []string{"@x"}}, "got @x", "got @x"},
		// Only where the value stands alone: not inside a longer number or word.
		{Personal{Phones: []string{"1234567"}}, "order 91234567 and 12345678; call 1234567.", "order 91234567 and 12345678; call ***-67."},
		{Personal{Phones: []string{"020 7946 0958"}}, "id 1202079460958", "id 1202079460958"},
		{Personal{Emails: []string{"jo@x.de"}}, "mojo@x.de, jo@x.de!", "m***@x.de, j***@x.de!"},
	}
	for _, tt := range tests {
		if got := tt.p.Mask(tt.in); got != tt.out {
			t.Errorf("%+v.Mask(%q) = %q, want %q", tt.p, tt.in, got, tt.out)
		}
	}
}

func TestRedisLoggerWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	r := &RedisLogger{}
	r.Use(New(&buf, zerolog.InfoLevel, "json"))
	r.Printf(context.Background(), "redis: %s:%d: dial tcp 127.0.0.1:6379: connection refused (%s)\n", "pool.go", 42, "jane.doe@example.com")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q (%v)", buf.String(), err)
	}
	msg, _ := line["message"].(string)
	if line["component"] != "redis" || line["level"] != "warn" || !strings.Contains(msg, "connection refused") {
		t.Errorf("line = %v", line)
	}
	if strings.Contains(buf.String(), "jane.doe@") {
		t.Errorf("personal data not masked: %s", buf.String())
	}
}

// Console lines written to a file or a pipe carry no colour codes.
func TestConsoleWithoutColourOffTerminal(t *testing.T) {
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []io.Writer{f, &buf} {
		log := New(w, zerolog.InfoLevel, "console")
		log.Warn().Str("task", "t1").Msg("held back")
	}
	written, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"file": string(written), "buffer": buf.String()} {
		if strings.Contains(out, "\x1b[") || !strings.Contains(out, "held back") || !strings.Contains(out, "task=t1") {
			t.Errorf("%s: %q; want a plain console line", name, out)
		}
	}
}

// asynq's "Retry exhausted" comes with every dead letter, permanent ones included, which have a
// line of their own: it is debug, not warn. Other warnings stay warnings.
func TestAsynqRetryExhaustedIsDebug(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	a := NewAsynq(New(&buf, zerolog.InfoLevel, "json"))
	a.Warn("Retry exhausted for task id=licence:modify:9:0a1b2c3d4e5f6789")
	if buf.Len() != 0 {
		t.Errorf("logged at info level: %s", buf.String())
	}
	a.Warn("Failed to write server state data: UNKNOWN: redis eval error")
	if !strings.Contains(buf.String(), `"level":"warn"`) {
		t.Errorf("another warning was not logged as one: %q", buf.String())
	}
	buf.Reset()
	debug := NewAsynq(New(&buf, zerolog.DebugLevel, "json"))
	debug.Warn("Retry exhausted for task id=x")
	if !strings.Contains(buf.String(), `"level":"debug"`) {
		t.Errorf("not logged at debug level: %q", buf.String())
	}
	a.Warn() // no arguments: nothing to say, and no panic
}

// ErrorCode writes null for a missing code and the number for any code, 0 included: 0 is the
// provider's success code and must not stand for "none".
func TestErrorCodeIsNumberOrNull(t *testing.T) {
	t.Parallel()
	zero, neg := 0, -16
	for _, tt := range []struct {
		name string
		code *int
		want string
	}{{"none", nil, `"errorCode":null`}, {"success", &zero, `"errorCode":0`}, {"a failure", &neg, `"errorCode":-16`}} {
		var buf bytes.Buffer
		l := zerolog.New(&buf)
		ErrorCode(l.Info(), tt.code).Msg("x")
		if !strings.Contains(buf.String(), tt.want) {
			t.Errorf("%s: line %s, want %s", tt.name, buf.String(), tt.want)
		}
	}
}
