// Package worker assembles the asynq server that executes tasks: queues and their weights,
// the retry policy, what counts as a failure, and the error handler that appends every
// dead-lettered task to the durable record.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/handler"
	"github.com/ovqueue/ovqueue/internal/logging"
	"github.com/ovqueue/ovqueue/internal/redact"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// QueueWeights gives live traffic nine of every ten pickups while a backfill is also waiting;
// an idle default queue leaves every worker to the backfill.
var QueueWeights = map[string]int{tasks.QueueDefault: 9, tasks.QueueBackfill: 1}

// Options configures a Worker.
type Options struct {
	Redis           redis.UniversalClient // shared by asynq and the dead-letter record
	Handlers        *handler.Handlers
	DeadLetters     *deadletter.Store
	Retry           retry.Policy
	Concurrency     int
	PollInterval    time.Duration
	ShutdownTimeout time.Duration
	Logger          zerolog.Logger
	// OnDeadLetter, if set, is called after a record is appended (for metrics).
	OnDeadLetter func(deadletter.Record)
	// OnUnrecorded, if set, is called for a dead letter whose record Redis did not take,
	// when the worker gives it up (for metrics: the error line that carries it is all there is).
	OnUnrecorded func(deadletter.Record)
}

// Worker is one process's asynq server.
type Worker struct {
	srv     *asynq.Server
	mux     *asynq.ServeMux
	log     zerolog.Logger
	logger  logging.Asynq // asynq's: Shutdown flushes what it held back
	dl      *deadLetterer
	timeout time.Duration // ShutdownTimeout
	poll    time.Duration // PollInterval

	stopOnce sync.Once
	stopped  chan struct{} // closed when asynq's shutdown has ended
	draining chan struct{} // closed when Shutdown begins: tasks waiting on PROVIDER_RATE go back to their queue
	active   *activity     // handlers, dead-letter appends and Redis commands running
	late     time.Time     // when Shutdown may stop waiting for asynq; set by its first call
}

// New builds the server; Start starts it.
func New(o Options) (*Worker, error) {
	if o.Redis == nil || o.Handlers == nil || o.DeadLetters == nil {
		return nil, errors.New("worker: Redis, Handlers and DeadLetters are required")
	}
	mux := asynq.NewServeMux()
	o.Handlers.Register(mux)
	w := &Worker{mux: mux, log: o.Logger, logger: logging.NewAsynq(o.Logger), timeout: o.ShutdownTimeout, poll: o.PollInterval,
		stopped: make(chan struct{}), draining: make(chan struct{})}
	w.active = &activity{}
	o.Redis.AddHook(activityHook{w.active}) // asynq's commands too: see Shutdown
	dl := newDeadLetterer(o.DeadLetters, o.Logger, o.OnDeadLetter, o.OnUnrecorded)
	dl.active = w.active
	w.dl = dl
	w.srv = asynq.NewServerFromRedisClient(o.Redis, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   QueueWeights,
		RetryDelayFunc:           o.Retry.DelayFunc(),
		IsFailure:                retry.IsFailure,
		ErrorHandler:             dl,
		Logger:                   w.logger,
		LogLevel:                 logging.AsynqLevel(o.Logger.GetLevel()),
		ShutdownTimeout:          o.ShutdownTimeout,
		TaskCheckInterval:        o.PollInterval,
		DelayedTaskCheckInterval: o.PollInterval,
	})
	return w, nil
}

// Start starts taking tasks. It returns an error when Redis cannot be reached.
func (w *Worker) Start() error {
	return w.srv.Start(asynq.HandlerFunc(w.process))
}

// shutdownGrace is how long Shutdown waits for asynq's own shutdown past the shutdown
// timeout: returning the tasks still running to their queue and its last writes take
// milliseconds, a second or two while Redis is away.
var shutdownGrace = 2 * time.Second

// settled is how long nothing may have run before Shutdown stops without asynq: asynq's
// writes after a handler returns (the task's completion) take milliseconds.
const settled = time.Second

// Shutdown stops taking tasks, waits for calls in flight up to the shutdown timeout, and
// returns tasks still running to their queue. A dead letter that Redis has not taken by the
// end of the shutdown timeout is given up; see deadLetterer.append.
//
// asynq's shutdown can take far longer on an idle worker: when its dequeue loop finds no task
// it sleeps up to 1.5 × POLL_INTERVAL, and the shutdown waits that sleep out (an hour, for
// POLL_INTERVAL=1h) before it even starts the shutdown timeout of the calls in flight. So once
// the shutdown timeout and shutdownGrace have passed, Shutdown returns without asynq as soon as
// nothing is running, and nothing has for a second: no handler, no dead-letter append, and no
// command on the worker's Redis client (asynq's dequeue or completion write among them). Then
// every task it took has ended and been recorded, and all that is skipped is asynq's
// bookkeeping (its server record expires by itself). While a call is still running, it waits
// for asynq, which returns the task to its queue, or for the call to end. finished is false
// when Shutdown returned before asynq's shutdown ended: asynq still uses the Redis client
// then, and closing it under asynq makes asynq panic (its cancellation subscriber reads a
// closed channel), so the caller should leave it to the process's exit. A second call waits
// for the same deadline as the first.
func (w *Worker) Shutdown() (finished bool) {
	stop := time.AfterFunc(w.timeout, w.dl.giveUp)
	defer stop.Stop()
	w.stopOnce.Do(func() {
		close(w.draining)
		w.late = time.Now().Add(w.timeout + shutdownGrace)
		go func() {
			w.srv.Shutdown()
			close(w.stopped)
		}()
	})
	late := time.NewTimer(time.Until(w.late))
	defer late.Stop()
	var tick <-chan time.Time
	for {
		select {
		case <-w.stopped:
			w.logger.Flush()
			return true
		case <-late.C:
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			tick = t.C
		case <-tick:
		}
		if w.active.idleFor(settled) {
			w.log.Warn().Str("pollInterval", w.poll.String()).Msg("stopping without waiting for the end of asynq's shutdown: " +
				"it waits out its idle poll, up to 1.5 × POLL_INTERVAL, and no task is running")
			w.logger.Flush()
			return false
		}
	}
}

// Stopped is closed when asynq's shutdown has ended, which Shutdown may return before (see
// there). Until then asynq still uses the Redis client.
func (w *Worker) Stopped() <-chan struct{} { return w.stopped }

// activity counts what is running that Shutdown must not cut short (handlers, dead-letter
// appends, Redis commands) and when the last of it ended.
type activity struct {
	running atomic.Int64
	ended   atomic.Int64 // time.Since(epoch) at the last end: a monotonic clock
}

// epoch is the origin of activity's clock.
var epoch = time.Now()

func (a *activity) begin() {
	if a != nil {
		a.running.Add(1)
	}
}

func (a *activity) end() {
	if a != nil {
		a.ended.Store(int64(time.Since(epoch)))
		a.running.Add(-1)
	}
}

// idleFor reports whether nothing is running and nothing has ended within d.
func (a *activity) idleFor(d time.Duration) bool {
	return a.running.Load() == 0 && time.Since(epoch)-time.Duration(a.ended.Load()) >= d
}

// activityHook counts every command on a Redis client as activity.
type activityHook struct{ a *activity }

func (h activityHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h activityHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.a.begin()
		defer h.a.end()
		return next(ctx, cmd)
	}
}

func (h activityHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.a.begin()
		defer h.a.end()
		return next(ctx, cmds)
	}
}

// process routes a task to its handler. A task of an unknown type is dead-lettered at once
// (asynq would retry it), and a panic is a failure like any other, never a crash.
func (w *Worker) process(ctx context.Context, t *asynq.Task) (err error) {
	ctx = handler.WithDraining(ctx, w.draining)
	w.active.begin()
	defer w.active.end()
	defer func() {
		if p := recover(); p != nil {
			w.log.Error().Str("type", t.Type()).Interface("panic", p).Msg("handler panicked")
			err = fmt.Errorf("handler panicked: %v", p)
			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			if retried >= tasks.RetryBudget(maxRetry) {
				err = &handler.Dead{Reason: deadletter.ReasonRetriesSpent, Err: err, Attempts: retried + 1}
			}
		}
	}()
	switch t.Type() {
	case tasks.TypeOVCallbackUpdate, tasks.TypeLicenceModify:
		return w.mux.ProcessTask(ctx, t)
	}
	return &handler.Dead{Reason: deadletter.ReasonUnknownType,
		Err: &provider.FieldError{Field: "type", Problem: fmt.Sprintf("no handler for task type %q", t.Type())}}
}

// deadLetterer is asynq's ErrorHandler: for every failure that asynq is about to archive it
// appends a record to the durable dead-letter store.
type deadLetterer struct {
	active *activity // the worker's, which Shutdown watches
	store  *deadletter.Store
	log    zerolog.Logger
	after  func(deadletter.Record) // a record appended
	lost   func(deadletter.Record) // a record given up

	stop     context.Context // ends when the worker stops waiting for tasks in flight
	giveUp   context.CancelFunc
	firstTry time.Duration // the wait after the first failed append; it doubles up to maxWait
	maxWait  time.Duration
}

func newDeadLetterer(store *deadletter.Store, log zerolog.Logger, after, lost func(deadletter.Record)) *deadLetterer {
	stop, giveUp := context.WithCancel(context.Background())
	return &deadLetterer{store: store, log: log, after: after, lost: lost, stop: stop, giveUp: giveUp,
		firstTry: appendFirstWait, maxWait: appendMaxWait}
}

// The waits between tries of an append that Redis refused.
var (
	appendFirstWait = 250 * time.Millisecond
	appendMaxWait   = 5 * time.Second
)

// refusedTries is how often an append is tried that Redis answers with an error that is not
// about its being away (see deadletter.Unavailable).
const refusedTries = 3

func (d *deadLetterer) HandleError(ctx context.Context, t *asynq.Task, err error) {
	d.active.begin()
	defer d.active.end()
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if !errors.Is(err, asynq.SkipRetry) && retried < maxRetry {
		return // asynq will retry it
	}
	if errors.Is(err, asynq.RevokeTask) {
		return
	}
	id, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	rec := Record(id, queue, t, err, retried)
	personal := handler.PersonalData(t.Payload())
	entry, aerr := d.append(rec)
	if aerr != nil {
		// Either Redis refuses the record for good (a key of another type, an ACL), and asynq
		// archives the task next; or Redis was still away when the worker had to stop, and
		// the task stays active until its lease runs out: then asynq's recovery runs it again
		// (and it is dead-lettered then), or, for a task past its retry budget, archives it.
		// Either way the record may never be written: this line carries it.
		logging.ErrorCode(d.log.Error().Err(aerr).Str("task", id).Str("type", t.Type()).Str("queue", queue).Str("reason", rec.Reason),
			rec.ErrorCode).Str("errorMessage", personal.Mask(rec.ErrorMessage)).Int("attempts", rec.Attempts).
			Str("payload", personal.Mask(string(rec.Payload))).Msg("dead letter not recorded: Redis did not take it; the record is this line")
		if d.lost != nil {
			d.lost(rec)
		}
		return
	}
	logging.ErrorCode(d.log.Warn().Str("task", id).Str("type", t.Type()).Str("queue", queue).Str("reason", rec.Reason),
		rec.ErrorCode).Str("errorMessage", personal.Mask(rec.ErrorMessage)).
		Int("attempts", rec.Attempts).Str("entry", entry).Msg("dead-lettered")
	if d.after != nil {
		d.after(rec)
	}
}

// append writes the record, trying again for as long as Redis is away: asynq archives the
// task as soon as this returns, and archives it as soon as Redis is back, so giving up earlier
// would leave the task archived without its durable record. While this waits, asynq keeps the
// task active and its lease alive (or, when Redis stays away past the lease, leaves the task
// to its recovery). It gives up when the worker is stopping and its shutdown timeout has
// passed, after a last try, and after a few tries when Redis answers with an error that
// waiting will not change.
func (d *deadLetterer) append(rec deadletter.Record) (string, error) {
	wait := d.firstTry
	for tries := 1; ; tries++ {
		// Not bound to d.stop: a task that failed just as the shutdown timeout ran out still
		// gets one full try.
		actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		entry, err := d.store.Append(actx, rec)
		cancel()
		if err == nil {
			return entry, nil
		}
		// An answer that waiting will not change (WRONGTYPE, NOPERM) must not hold the task,
		// and its worker slot, until the worker stops: after a few tries, give up.
		if !deadletter.Unavailable(err) && tries >= refusedTries {
			return "", err
		}
		if tries == 1 || tries%10 == 0 {
			d.log.Warn().Err(err).Str("task", rec.TaskID).Int("tries", tries).Msg("could not append to the dead-letter record yet; trying again until Redis takes it")
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.stop.Done():
			t.Stop()
			return "", err
		}
		wait = min(2*wait, d.maxWait)
	}
}

// Record describes a task that is being dead-lettered with err.
func Record(id, queue string, t *asynq.Task, err error, retried int) deadletter.Record {
	rec := deadletter.Record{
		TaskID: id, Type: t.Type(), Queue: queue, Payload: payloadJSON(t.Payload()),
		Reason: deadletter.ReasonRetriesSpent, Attempts: retried + 1, FailedAt: time.Now().UTC(),
		ErrorMessage: err.Error(),
	}
	var dead *handler.Dead
	if errors.As(err, &dead) {
		rec.Reason = dead.Reason
		if dead.Attempts > 0 || dead.Reason != deadletter.ReasonRetriesSpent {
			rec.Attempts = dead.Attempts
		}
		rec.ErrorMessage = dead.Err.Error()
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		rec.ErrorItem, rec.HTTPStatus = pe.Item, pe.HTTPStatus
		if pe.Code != 0 || pe.HasCode { // else no errorCode: an error page, or no answer at all
			rec.ErrorCode = deadletter.Code(pe.Code)
		}
		if pe.Message != "" {
			rec.ErrorMessage = pe.Message
		}
		if pe.Err != nil {
			rec.ErrorMessage += ": " + pe.Err.Error()
		}
	}
	return rec
}

// payloadJSON keeps a payload that is JSON as it is, and stores anything else as a JSON string
// so that the record stays readable (a poison payload is the reason it is there).
func payloadJSON(p []byte) []byte {
	const max = tasks.MaxPayloadBytes
	p = redact.Passwords(p)
	if len(p) <= max && json.Valid(p) {
		return p
	}
	if len(p) > max {
		p = p[:max]
	}
	b, _ := json.Marshal(string(p))
	return b
}
