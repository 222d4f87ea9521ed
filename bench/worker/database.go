package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/tasks"
)

// database is the Redis database the benchmark owns while it runs.
type database struct {
	url    string
	opt    asynq.RedisClientOpt
	rdb    *redis.Client
	client *asynq.Client

	lock     *redis.Client // database 0 of the same server, where redistest keeps its locks
	lockKey  string
	lockVal  string
	stopLock context.CancelFunc
	lockDone chan struct{}
}

// lockTTL matches internal/redistest's; the lock is renewed well before it runs out.
const lockTTL = 10 * time.Minute

// openDB connects, refuses database 0 unless forced, takes the database's redistest lock
// (waiting up to two minutes for a test that holds it) and flushes the database.
func openDB(ctx context.Context, url string, force bool) (*database, error) {
	parsed, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opt, ok := parsed.(asynq.RedisClientOpt)
	if !ok {
		return nil, fmt.Errorf("-redis: want a redis:// URL of one server, got %T", parsed)
	}
	if opt.DB == 0 && !force {
		return nil, errors.New("-redis: database 0 is flushed by the benchmark; give another (redis://host:port/250) or pass -force")
	}
	opt.PoolSize = 64
	d := &database{url: url, opt: opt, rdb: opt.MakeRedisClient().(*redis.Client)}
	if err := d.rdb.Ping(ctx).Err(); err != nil {
		d.rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", url, err)
	}
	d.client = asynq.NewClientFromRedisClient(d.rdb)

	lockOpt := *d.rdb.Options()
	lockOpt.DB = 0
	d.lock = redis.NewClient(&lockOpt)
	d.lockKey = fmt.Sprintf("redistest:lock:%d", opt.DB)
	d.lockVal = strconv.Itoa(os.Getpid())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, err := d.lock.SetNX(ctx, d.lockKey, d.lockVal, lockTTL).Result()
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("lock database %d: %w", opt.DB, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			d.Close()
			return nil, fmt.Errorf("database %d is held by a test (%s) for more than two minutes", opt.DB, d.lockKey)
		}
		time.Sleep(time.Second)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopLock, d.lockDone = cancel, make(chan struct{})
	go func() {
		defer close(d.lockDone)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				d.lock.Expire(lctx, d.lockKey, lockTTL)
			}
		}
	}()
	if err := d.flush(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close releases the lock (if still ours) and the connections.
func (d *database) Close() {
	if d.stopLock != nil {
		d.stopLock()
		<-d.lockDone
		ctx := context.Background()
		if v, err := d.lock.Get(ctx, d.lockKey).Result(); err == nil && v == d.lockVal {
			d.lock.Del(ctx, d.lockKey)
		}
	}
	if d.lock != nil {
		d.lock.Close()
	}
	d.rdb.Close() // the asynq client shares it and closes nothing of its own
}

func (d *database) flush(ctx context.Context) error {
	if err := d.rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush database %d: %w", d.opt.DB, err)
	}
	return nil
}

// completed is how many tasks of the default queue asynq has marked completed.
func (d *database) completed(ctx context.Context) (int64, error) {
	return d.rdb.ZCard(ctx, "asynq:{"+tasks.QueueDefault+"}:completed").Result()
}

// licence builds the task for order: what a billing system enqueues, with every default of
// package tasks (deterministic ID, retry budget, timeout, 24 h retention).
func licence(order int64) (*asynq.Task, []asynq.Option, error) {
	return tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: tasks.Int(order), Product: 1009, Action: "CANCELLICENCE"})
}

// enqueue writes n tasks for orders first.. with workers goroutines and returns the rate.
func (d *database) enqueue(ctx context.Context, first int64, n, workers int, progress func(done int64)) (float64, error) {
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				task, opts, err := licence(first + i)
				if err == nil {
					_, err = d.client.EnqueueContext(ctx, task, opts...)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				if k := done.Add(1); progress != nil && k%100_000 == 0 {
					progress(k)
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return float64(n) / time.Since(start).Seconds(), firstErr
}
