package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of one test: loopback, a port of its own, AOF on, its
// data in the test's temporary directory. It can be stopped and started again on the same port
// with the same data.
type redisServer struct {
	t    *testing.T
	bin  string
	port int
	dir  string
	log  *os.File
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startRedis starts a fresh redis-server; it is stopped when the test ends.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		skipOrFail(t, "redis-server is not installed (apt-get install redis-server): %v", err)
	}
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &redisServer{t: t, bin: bin, port: freePort(t), dir: dir, log: log}
	t.Cleanup(func() {
		r.stop()
		_ = log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("redis-server log:\n%s", tail(string(b), 40))
		}
	})
	r.start()
	return r
}

// URL is the server's database 0.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Addr is the server's host:port.
func (r *redisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// start starts the server (again) and waits until it answers, its AOF loaded.
func (r *redisServer) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin,
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", r.dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--daemonize", "no", "--logfile", "")
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)

	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(r.log.Name())
			r.t.Fatalf("redis-server on port %d exited at start: %v\n%s", r.port, cmd.ProcessState, tail(string(b), 20))
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on port %d does not answer: %v", r.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the server as an operator would (SIGTERM: it writes its AOF and exits) and
// waits for it to exit.
func (r *redisServer) stop() {
	r.t.Helper()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Errorf("redis-server on port %d ignored SIGTERM for 15s; killed", r.port)
	}
	r.cmd = nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is drawn from
// below Linux's ephemeral range (32768-60999), where a port the kernel hands to another
// listener or connection in the meantime cannot land.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 15000 + rand.IntN(15000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port
	}
	t.Fatal("no free port between 15000 and 30000")
	return 0
}
