package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// bareEnv, set to 1, makes this binary run the bare asynq server instead of the benchmark.
const bareEnv = "OVQUEUE_BENCH_BARE"

// child is a server process under measurement: the worker binary, or this binary as a bare
// asynq server.
type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File // its stdout and stderr, written straight to a file (no pipe through us)
	done chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// buildWorker builds ./cmd/worker of this module into dir, without the race detector.
func buildWorker(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/worker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/worker: %v\n%s", err, out)
	}
	return bin, nil
}

// startWorker runs the worker binary against the fake provider with the given environment on
// top of the benchmark's (an empty value unsets the variable). Its log (LOG_LEVEL info by
// default: one JSON line a call) goes to a file, as a production worker's goes to a log
// shipper, and is deleted when it stops.
func (b *bench) startWorker(fake *fakeProvider, env map[string]string) (*child, error) {
	vars := map[string]string{
		"REDIS_URL":               b.db.url,
		"PROVIDER_URL":            fake.URL,
		"PROVIDER_LOGIN_NAME":     providertest.DefaultLoginName,
		"PROVIDER_LOGIN_PASSWORD": providertest.DefaultLoginPassword,
	}
	for k, v := range env {
		if v == "" { // unset it
			delete(vars, k)
			continue
		}
		vars[k] = v
	}
	var environ []string
	for k, v := range vars {
		environ = append(environ, k+"="+v)
	}
	return b.startChild("worker", exec.Command(b.workerBin), environ)
}

// startBare runs this binary as a bare asynq server (see runBare) with the given handler
// ("noop" unless measuring what costs what). fake is needed by handlers that call it.
func (b *bench) startBare(concurrency int, poll time.Duration, handler string, fake *fakeProvider) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-redis", b.db.url, "-concurrency", strconv.Itoa(concurrency), "-poll", poll.String(), "-handler", handler}
	if fake != nil {
		args = append(args, "-provider", fake.URL)
	}
	return b.startChild("bare asynq ("+handler+")", exec.Command(self, args...), []string{bareEnv + "=1"})
}

func (b *bench) startChild(name string, cmd *exec.Cmd, environ []string) (*child, error) {
	log, err := os.CreateTemp(b.tmp, "log-")
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); close(c.done) }()
	return c, nil
}

// stop sends SIGTERM and waits for the process to exit; it reports a non-zero exit. Only
// the first call does anything; later ones return its result.
func (c *child) stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.terminate() })
	return c.stopErr
}

func (c *child) terminate() error {
	defer func() {
		c.log.Close()
		os.Remove(c.log.Name())
	}()
	if c.exited() {
		return fmt.Errorf("%s exited early: %v\n%s", c.name, c.cmd.ProcessState, c.logTail())
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s ignored SIGTERM for a minute; killed", c.name)
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited %d:\n%s", c.name, code, c.logTail())
	}
	return nil
}

// logTail is the end of the child's output, for errors.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.log.Name())
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// memory reads the process's current and peak resident set from /proc, in bytes.
func (c *child) memory() (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %q", k, v)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("no VmHWM in /proc status")
	}
	return rss, hwm, s.Err()
}
