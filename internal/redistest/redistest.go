// Package redistest gives each test a Redis of its own: an embedded miniredis by default, or a
// database of the real server at TEST_REDIS_URL that no other test (in any package or process)
// holds at the same time.
package redistest

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/embedredis"
)

// Redis is one test's database.
type Redis struct {
	URL    string                // redis://host:port/db
	Opt    asynq.RedisConnOpt    // for asynq
	Client redis.UniversalClient // for direct inspection
	Mini   *miniredis.Miniredis  // nil on a real server
	Real   bool
}

// New returns a fresh, empty database, closed when the test ends.
func New(t testing.TB) *Redis {
	t.Helper()
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return real(t, u)
	}
	s, err := embedredis.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Close)
	return open(t, "redis://"+s.Addr()+"/0", s.Miniredis)
}

func open(t testing.TB, url string, m *miniredis.Miniredis) *Redis {
	t.Helper()
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	c := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = c.Close() })
	return &Redis{URL: url, Opt: opt, Client: c, Mini: m, Real: m == nil}
}

// real claims a database no one else holds (a lock key in database 0) and flushes it.
func real(t testing.TB, base string) *Redis {
	t.Helper()
	opts, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("redistest: TEST_REDIS_URL: %v", err)
	}
	opts.DB = 0
	lock := redis.NewClient(opts)
	defer lock.Close()
	ctx := context.Background()
	n, err := lock.ConfigGet(ctx, "databases").Result()
	max := 16
	if err == nil {
		if v, err := strconv.Atoi(n["databases"]); err == nil {
			max = v
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for db := 1; db < max; db++ {
			key := fmt.Sprintf("redistest:lock:%d", db)
			ok, err := lock.SetNX(ctx, key, os.Getpid(), 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("redistest: %v", err)
			}
			if !ok {
				continue
			}
			t.Cleanup(func() {
				c := redis.NewClient(opts)
				defer c.Close()
				c.Del(context.Background(), key)
			})
			o := *opts
			o.DB = db
			c := redis.NewClient(&o)
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("redistest: flush db %d: %v", db, err)
			}
			_ = c.Close()
			u, _ := neturl.Parse(base)
			u.Path = "/" + strconv.Itoa(db)
			return open(t, u.String(), nil)
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: no free database on %s (start Redis with more --databases)", opts.Addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
