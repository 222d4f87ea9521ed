package faulttest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestUnreachableRedisIsOneLine: a worker whose Redis does not answer stops with one line that
// names REDIS_URL, without the password, and not a line per failed dial before it.
func TestUnreachableRedisIsOneLine(t *testing.T) {
	t.Parallel()
	bin := workerBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "REDIS_URL=redis://:hunter2@127.0.0.1:1/0",
		"PROVIDER_LOGIN_NAME=acme", "PROVIDER_LOGIN_PASSWORD=secret-pass")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("worker with Redis unreachable: %v, want a non-zero exit", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "REDIS_URL") || !strings.Contains(lines[0], "127.0.0.1:1") {
		t.Errorf("stderr %q: want one line naming REDIS_URL and the address", stderr.String())
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "hunter2") || strings.Contains(out, "secret-pass") {
		t.Errorf("a password was printed: %q", out)
	}
}
