package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestSentinelFailover runs two workers and the test's own clients against a master, a replica
// and a Sentinel, through REDIS_URL=redis-sentinel://...?master=m only, and has Sentinel fail
// the master over to the replica while the workers are busy. The workers stay up and follow
// the new master: every task enqueued before and after the failover completes, nothing is
// dead-lettered, every order reaches the provider, and the dead-letter record, /readyz,
// /metrics and the UI work on the new master.
//
// Redis replicates asynchronously: a write the old master takes after the replica stopped
// following it is gone when it becomes a replica of the new one. That is Redis's doing, not the
// worker's, so the test keeps the failover clear of it. It enqueues nothing near the failover;
// it holds the provider's answers, so that no task completes while the master changes; and it
// triggers the failover only once the replica has every write of the old master. It lets the
// held calls finish only once the old master has become a replica of the new one: from then on
// a write to it fails instead of vanishing, and a component that stayed behind on it would show.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	const (
		n           = 300 // tasks a batch
		first       = 500000
		concurrency = 10
	)
	master := startRedis(t)
	replica := startRedis(t)
	replica.replicaOf(master)
	waitReplicaInSync(t, master, replica)
	s := startSentinel(t, master)
	waitSentinelSees(t, s, master, replica)

	// The test's own clients go through Sentinel too, as a billing system would.
	url := fmt.Sprintf("redis-sentinel://127.0.0.1:%d?master=%s", s.port, sentinelMaster)
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	fake, err := providertest.Start(providertest.WithLatency(20 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	// env.redis is the first master; no worker is given its address (REDIS_URL below).
	e := &env{
		t: t, redis: master, fake: fake, rdb: rdb,
		client: asynq.NewClientFromRedisClient(rdb),
		insp:   asynq.NewInspectorFromRedisClient(rdb),
		dead:   deadletter.New(rdb),
	}
	hold := holdCalls(t, fake)

	ids := e.enqueueLicences(first, n)
	// Worker a also serves the UI. Both serve /readyz and /metrics.
	uiAddr := loopbackAddr(t)
	metrics := map[string]string{}
	procs := map[string]*workerProc{}
	for _, name := range []string{"a", "b"} {
		metrics[name] = loopbackAddr(t)
		override := map[string]string{
			"REDIS_URL":          url,
			"METRICS_ADDR":       metrics[name],
			"WORKER_CONCURRENCY": fmt.Sprint(concurrency),
			"PROVIDER_TIMEOUT":   "60s", // longer than the calls are held
		}
		if name == "a" {
			override["UI_ADDR"] = uiAddr
		}
		procs[name] = e.startWorker(name, override)
	}
	waitUntil(t, "100 provider calls", 30*time.Second, func() (bool, string) {
		c := fake.CallCount()
		return c >= 100, fmt.Sprintf("%d calls", c)
	})

	// Hold the calls. A worker frees a slot only once it has written its task's outcome, so
	// when every slot of both workers waits on a held call, every outcome so far is written.
	hold.start()
	waitUntil(t, "every slot of both workers to wait on a held call", 30*time.Second, func() (bool, string) {
		h := hold.waiting()
		return h == 2*concurrency, fmt.Sprintf("%d calls held", h)
	})
	before := e.queue(tasks.QueueDefault)
	if before.Completed == 0 || before.Pending == 0 {
		t.Fatalf("before the failover: %s; want some tasks completed and some still pending, or the test proves nothing", counts(before))
	}
	waitReplicaInSync(t, master, replica)
	failoverAt := time.Now()
	s.failover(t)
	waitUntil(t, "Sentinel to name the replica as the master", 30*time.Second, func() (bool, string) {
		addr, err := s.masterAddr(t)
		return addr == replica.Addr(), fmt.Sprintf("Sentinel says the master is %s (%v)", addr, err)
	})
	promotedAfter := time.Since(failoverAt)
	// Sentinel turns the old master into a replica of the new one some seconds later.
	waitUntil(t, "the old master to follow the new one", 60*time.Second, func() (bool, string) {
		info := replicationInfo(t, master)
		return info["role"] == "slave" && info["master_port"] == strconv.Itoa(replica.port) && info["master_link_status"] == "up",
			fmt.Sprintf("old master: role=%s master_port=%s link=%s", info["role"], info["master_port"], info["master_link_status"])
	})
	t.Logf("%d calls held at the failover (%s); Sentinel promoted the replica %s after SENTINEL FAILOVER and demoted the old master %s after it",
		hold.waiting(), counts(before), promotedAfter.Round(time.Millisecond), time.Since(failoverAt).Round(time.Millisecond))
	hold.release()
	for _, w := range procs {
		if w.exited() {
			t.Fatalf("worker %s exited during the failover: %v", w.name, w.cmd.ProcessState)
		}
	}

	// A second batch after the failover, and one task the provider refuses for good, whose
	// dead letter must land in the record on the new master.
	ids = append(ids, e.enqueueLicences(first+n, n)...)
	const refused = first + 2*n
	fake.Script(fmt.Sprint(refused), providertest.Err(providertest.CodeNoPrice, ""))
	refusedID := e.enqueueLicences(refused, 1)[0]
	e.waitDone(tasks.QueueDefault, 2*n, 1, 60*time.Second)
	t.Logf("all %d tasks completed %s after the failover", 2*n, time.Since(failoverAt).Round(100*time.Millisecond))

	for _, w := range procs {
		if w.exited() {
			t.Errorf("worker %s exited after the failover: %v", w.name, w.cmd.ProcessState)
		}
	}
	done := map[string]bool{}
	for _, info := range e.completed(tasks.QueueDefault) {
		done[info.ID] = true
		if strings.Contains(info.LastErr, asynq.ErrLeaseExpired.Error()) {
			t.Errorf("task %s completed only through asynq's lease recovery: a write of its outcome was lost in the failover", info.ID)
		}
	}
	for _, id := range ids {
		if !done[id] {
			t.Errorf("task %s is not among the completed tasks", id)
		}
	}
	e.expectEveryOrderCalled(first, 2*n)
	dead := e.deadLetters()
	if len(dead) != 1 || dead[0].TaskID != refusedID || dead[0].Reason != deadletter.ReasonPermanent {
		t.Errorf("dead-letter record after the failover: %+v; want only %s (%s)", dead, refusedID, deadletter.ReasonPermanent)
	}

	// Each worker's /readyz and /metrics, and the UI, read the new master.
	for name, addr := range metrics {
		if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK {
			t.Errorf("worker %s: /readyz after the failover: %d %q", name, code, body)
		}
		want := fmt.Sprintf(`ovqueue_queue_tasks{queue=%q,state="completed"} %d`, tasks.QueueDefault, 2*n)
		if code, body := httpGet(t, "http://"+addr+"/metrics"); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("worker %s: /metrics after the failover: %d, want a line %s:\n%s", name, code, want, grepLines(body, "ovqueue_queue_tasks"))
		}
	}
	code, body := httpGet(t, "http://"+uiAddr+"/api/queues/"+tasks.QueueDefault)
	var queue struct {
		Current struct {
			Completed int `json:"completed"`
			Archived  int `json:"archived"`
		} `json:"current"`
	}
	if err := json.Unmarshal([]byte(body), &queue); code != http.StatusOK || err != nil || queue.Current.Completed != 2*n || queue.Current.Archived != 1 {
		t.Errorf("UI after the failover: %d %.300q (%v); want %d completed and 1 archived", code, body, err, 2*n)
	}

	// The old master closed every connection when it became a replica; whatever connected
	// to it again did not ask Sentinel where the master is.
	if stale := clientsOtherThanSentinel(t, master); len(stale) > 0 {
		t.Errorf("%d connections to the old master after the failover, which only Sentinel should hold:\n%s", len(stale), strings.Join(stale, "\n"))
	}

	for _, w := range procs {
		w.stopAndExpectZero()
		w.expectJSONLines()
	}
}

// sentinelMaster is the name under which the Sentinel of a test monitors its master.
const sentinelMaster = "m"

// sentinel is a Redis Sentinel process of one test, monitoring one master as sentinelMaster
// with a quorum of 1: it alone decides a failover. Its configuration file is in the test's
// temporary directory, where Sentinel rewrites it.
type sentinel struct {
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	c    *redis.Client
}

// startSentinel starts a Sentinel that monitors master; it is stopped when the test ends.
func startSentinel(t *testing.T, master *redisServer) *sentinel {
	t.Helper()
	dir := t.TempDir()
	s := &sentinel{port: freePort(t), done: make(chan struct{})}
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 5000
`, s.port, dir, sentinelMaster, master.port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "sentinel.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(master.bin, conf, "--sentinel")
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server --sentinel: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	s.c = redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), MaxRetries: -1})
	t.Cleanup(func() {
		_ = s.c.Close()
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			t.Errorf("Sentinel on port %d ignored SIGTERM for 15s; killed", s.port)
		}
		_ = log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("Sentinel log:\n%s", tail(string(b), 40))
		}
	})
	waitUntil(t, "Sentinel to answer", 15*time.Second, func() (bool, string) {
		select {
		case <-s.done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("Sentinel on port %d exited at start: %v\n%s", s.port, s.cmd.ProcessState, tail(string(b), 20))
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := s.c.Ping(ctx).Err()
		return err == nil, fmt.Sprint(err)
	})
	return s
}

// masterAddr is the master's address as Sentinel gives it to clients.
func (s *sentinel) masterAddr(t *testing.T) (string, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	hp, err := s.c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinelMaster).StringSlice()
	if err != nil || len(hp) != 2 {
		return "", err
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// failover asks Sentinel to promote the replica now, as an operator would; it waits while
// Sentinel has no replica it considers fit.
func (s *sentinel) failover(t *testing.T) {
	t.Helper()
	waitUntil(t, "Sentinel to accept SENTINEL FAILOVER", 15*time.Second, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		err := s.c.Do(ctx, "SENTINEL", "FAILOVER", sentinelMaster).Err()
		return err == nil, fmt.Sprint(err)
	})
}

// waitSentinelSees waits until Sentinel monitors master and has found replica, healthy.
func waitSentinelSees(t *testing.T, s *sentinel, master, replica *redisServer) {
	t.Helper()
	waitUntil(t, "Sentinel to see the master and its replica", 30*time.Second, func() (bool, string) {
		addr, err := s.masterAddr(t)
		if err != nil || addr != master.Addr() {
			return false, fmt.Sprintf("master %s (%v)", addr, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		replicas, err := s.c.Do(ctx, "SENTINEL", "REPLICAS", sentinelMaster).Slice()
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, r := range replicas {
			f := fields(r)
			seen = append(seen, fmt.Sprintf("%s:%s flags=%s link=%s", f["ip"], f["port"], f["flags"], f["master-link-status"]))
			if f["port"] == strconv.Itoa(replica.port) && f["flags"] == "slave" && f["master-link-status"] == "ok" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("replicas %v", seen)
	})
}

// fields reads one instance of a SENTINEL REPLICAS answer: a map in RESP3, a flat list of
// names and values in RESP2.
func fields(v any) map[string]string {
	out := map[string]string{}
	switch r := v.(type) {
	case map[any]any:
		for k, v := range r {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			out[fmt.Sprint(r[i])] = fmt.Sprint(r[i+1])
		}
	}
	return out
}

// replicaOf makes r a replica of master, as --replicaof would at start.
func (r *redisServer) replicaOf(master *redisServer) {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(r.t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(master.port)).Err(); err != nil {
		r.t.Fatalf("REPLICAOF on port %d: %v", r.port, err)
	}
}

// replicationInfo is the INFO replication section of r, as a map.
func replicationInfo(t *testing.T, r *redisServer) map[string]string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	out := map[string]string{}
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		out["error"] = err.Error()
		return out
	}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}

// clientsOtherThanSentinel lists the normal and pub/sub connections of r, other than
// Sentinel's own and the one that asks.
func clientsOtherThanSentinel(t *testing.T, r *redisServer) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var out []string
	for _, typ := range []string{"normal", "pubsub"} {
		list, err := c.Do(ctx, "CLIENT", "LIST", "TYPE", typ).Text()
		if err != nil {
			t.Fatalf("CLIENT LIST on port %d: %v", r.port, err)
		}
		for line := range strings.Lines(list) {
			f := map[string]string{}
			for _, kv := range strings.Fields(line) {
				k, v, _ := strings.Cut(kv, "=")
				f[k] = v
			}
			if !strings.HasPrefix(f["name"], "sentinel-") && f["cmd"] != "client|list" {
				out = append(out, strings.TrimSpace(line))
			}
		}
	}
	return out
}

// waitReplicaInSync waits until replica follows master and has every write master has taken.
func waitReplicaInSync(t *testing.T, master, replica *redisServer) {
	t.Helper()
	waitUntil(t, "the replica to catch up with the master", 30*time.Second, func() (bool, string) {
		m, r := replicationInfo(t, master), replicationInfo(t, replica)
		status := fmt.Sprintf("master offset %s, replica link %s offset %s", m["master_repl_offset"], r["master_link_status"], r["master_repl_offset"])
		return m["role"] == "master" && r["role"] == "slave" && r["master_port"] == strconv.Itoa(master.port) &&
			r["master_link_status"] == "up" && m["master_repl_offset"] != "" && r["master_repl_offset"] == m["master_repl_offset"], status
	})
}

// heldCalls holds the fake provider's calls while asked to: each waits, before it is
// answered, until release.
type heldCalls struct {
	mu   sync.Mutex
	gate chan struct{} // closed to let the held calls go; nil while calls are not held
	held int           // calls waiting at the gate
}

// holdCalls installs the hook that holds calls; the test's end releases any still held.
func holdCalls(t *testing.T, fake *providertest.Server) *heldCalls {
	h := &heldCalls{}
	fake.SetHook(func(providertest.Call) *providertest.Answer {
		h.mu.Lock()
		gate := h.gate
		if gate != nil {
			h.held++
		}
		h.mu.Unlock()
		if gate != nil {
			<-gate
		}
		return nil
	})
	t.Cleanup(h.release)
	return h
}

func (h *heldCalls) start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate == nil {
		h.gate = make(chan struct{})
	}
}

func (h *heldCalls) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

func (h *heldCalls) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gate != nil {
		close(h.gate)
		h.gate, h.held = nil, 0
	}
}

// loopbackAddr is a free address on 127.0.0.1 for a worker to serve at.
func loopbackAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// httpGet fetches url with a timeout and returns the status code and body; 0 when it failed.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// grepLines returns the lines of s that contain word, for failure messages.
func grepLines(s, word string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, word) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}
