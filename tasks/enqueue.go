package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/redisurl"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// Enqueued is the outcome of one enqueue, or of one look-up.
type Enqueued struct {
	ID        string
	Queue     string
	State     string // "pending", "scheduled", … of the task now in Redis (the existing one for a duplicate)
	Duplicate bool   // the same task (same ID) was already pending, scheduled, retrying, archived or retained as completed
	// DifferentContent is set on a duplicate whose task in Redis has another payload than the
	// one given: the ID came from an idempotency key (tasks.Key) that was given before to other
	// content. The payload given was not enqueued. A hint, set by Enqueue and EnqueueNew (not by
	// Lookup) when the stored payload could be read and compared; never an error.
	DifferentContent bool
}

// Enqueuer enqueues tasks and recognises duplicates in every queue, not only in the queue a
// task is bound for: asynq alone would take the same task ID once per queue, and the provider
// would be called twice. It is safe for concurrent use.
//
// The look-up and the write are two steps: the same task enqueued into two different queues at
// the same moment (by two callers, or two backfills) can be taken in both. Into the same queue
// it cannot: asynq checks that as it writes. Tasks that bypass the Enqueuer (a plain
// asynq.Client) are only checked against their own queue.
type Enqueuer struct {
	rdb    redis.UniversalClient
	client *asynq.Client
	owned  bool // opened by OpenEnqueuer: Close closes rdb

	closeOnce sync.Once
	closeErr  error
}

// OpenEnqueuer connects to the workers' Redis at url, any form their REDIS_URL takes
// (redis://, rediss://, redis-socket://, redis-sentinel://; see asynq.ParseRedisURI), read as
// the workers read it: a user name for Redis ACLs is kept, and a redis-sentinel URL always means
// database 0 (asynq ignores a /N there), and a query parameter asynq does not read is ignored
// (the workers warn of both; this cannot). Close it when
// done. The error never holds the URL's password.
//
// It does not contact Redis: a server that is down or refuses the login is reported by the
// first Enqueue or Lookup. Every call gives up when its context ends (a deadline, or a
// cancel), even while Redis does not answer; a write cut off so may still take effect, and a
// second Enqueue reports it as a duplicate.
func OpenEnqueuer(url string) (*Enqueuer, error) {
	opt, _, err := redisurl.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("tasks: Redis URL: %w", err)
	}
	rdb, err := redisurl.NewClient(opt) // a command ends with its context
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	e := NewEnqueuer(rdb)
	e.owned = true
	return e, nil
}

// Close closes the connection OpenEnqueuer opened; an Enqueuer from NewEnqueuer leaves its
// client to its caller.
func (e *Enqueuer) Close() error {
	if e == nil || !e.owned {
		return nil
	}
	// A second Close (a defer after an explicit one) is no error.
	e.closeOnce.Do(func() { e.closeErr = e.rdb.Close() })
	return e.closeErr
}

// errNoClient is the error of an Enqueuer without a Redis client: NewEnqueuer(nil), or a zero
// Enqueuer.
var errNoClient = errors.New("tasks: the Enqueuer has no Redis client: open it with OpenEnqueuer, or give NewEnqueuer one")

// NewEnqueuer enqueues on rdb, the workers' Redis: one server, or Sentinel; not a Cluster,
// whose look-up fails with ErrCluster. The caller keeps rdb and closes it. To start from a
// REDIS_URL, use OpenEnqueuer: it reads the URL as the workers do, and asynq.ParseRedisURI
// does not (it drops a user name for Redis ACLs).
func NewEnqueuer(rdb redis.UniversalClient) *Enqueuer {
	if c, ok := rdb.(*redis.Client); ok && c == nil {
		rdb = nil // a nil *redis.Client in the interface: no client either
	}
	return &Enqueuer{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb)}
}

// ErrCluster: the look-up across queues reads keys of every queue in one script, which a Redis
// Cluster does not allow. The workers do not support a Cluster either.
var ErrCluster = errors.New("a Redis Cluster is not supported")

// lookup finds task IDs in the queues the workers serve (ARGV[2] up to ARGV[ARGV[1]+1]) and in
// every other queue asynq knows (the set asynq:queues, which asynq's client fills as it
// enqueues and a queue deleted from the UI leaves), with the state asynq keeps in each task's
// hash. The other ARGV are the IDs. It returns a flat list of (position among the IDs, queue,
// state) for the IDs found. An ID in several queues is reported once: where it is live (not
// archived) if it is anywhere, else where it was found first. The keys are asynq's (package
// base: TaskKey is "asynq:{QUEUE}:t:ID"); TestLookupFollowsAsynq holds that to asynq's own
// client. They are built in the script: it needs one Redis, not a Cluster.
//
// Most IDs of a backfill are in no queue, and a call from Lua costs ten times what the command
// does, so each queue is asked once for all the IDs (EXISTS counts them), and one by one only
// when some are there.
var lookup = redis.NewScript(`
local nq = tonumber(ARGV[1])
local queues, seen = {}, {}
local function add(queue)
	if not seen[queue] then
		seen[queue] = true
		table.insert(queues, queue)
	end
end
for i = 2, nq + 1 do
	add(ARGV[i])
end
for _, queue in ipairs(redis.call('SMEMBERS', 'asynq:queues')) do
	add(queue)
end
local first, n = nq + 2, #ARGV - nq - 1
local hitQueue, hitState = {}, {}
for _, queue in ipairs(queues) do
	local prefix, keys = 'asynq:{' .. queue .. '}:t:', {}
	for i = 1, n do
		keys[i] = prefix .. ARGV[first + i - 1]
	end
	if n > 0 and redis.call('EXISTS', unpack(keys)) > 0 then
		for i, key in ipairs(keys) do
			if hitState[i] == nil or hitState[i] == 'archived' then
				local state = redis.call('HGET', key, 'state')
				if state and (hitState[i] == nil or state ~= 'archived') then
					hitQueue[i], hitState[i] = queue, state
				end
			end
		end
	end
end
local out = {}
for i = 1, n do
	if hitState[i] then
		table.insert(out, i)
		table.insert(out, hitQueue[i])
		table.insert(out, hitState[i])
	end
end
return out
`)

// maxLookup is the most IDs one call of the script takes: Lua's unpack has a limit of a few
// thousand values.
const maxLookup = 1000

// Lookup reports where each task ID is: for an ID some queue holds, its queue and state with
// Duplicate set; for the others, only the ID. An ID in several queues is reported where it is
// live (pending, active, scheduled, retry, completed…) if it is anywhere, else where it is
// archived. One round trip for up to a thousand IDs.
func (e *Enqueuer) Lookup(ctx context.Context, ids ...string) ([]Enqueued, error) {
	if e == nil || e.rdb == nil {
		return nil, errNoClient
	}
	out := make([]Enqueued, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	if len(ids) == 0 {
		return out, nil
	}
	if _, ok := e.rdb.(*redis.ClusterClient); ok {
		return nil, fmt.Errorf("look up task IDs: %w", ErrCluster)
	}
	for start := 0; start < len(ids); start += maxLookup {
		part := ids[start:min(start+maxLookup, len(ids))]
		args := make([]any, 0, 1+len(queues)+len(part))
		args = append(args, len(queues))
		for _, q := range queues {
			args = append(args, q)
		}
		for _, id := range part {
			args = append(args, id)
		}
		res, err := untilDone(ctx, func() ([]any, error) { return lookup.Run(ctx, e.rdb, nil, args...).Slice() })
		if err != nil {
			return nil, fmt.Errorf("look up task IDs: %w", err)
		}
		if len(res)%3 != 0 {
			return nil, fmt.Errorf("look up task IDs: unexpected answer of %d values", len(res))
		}
		for j := 0; j < len(res); j += 3 {
			i, iok := res[j].(int64)
			queue, qok := res[j+1].(string)
			state, sok := res[j+2].(string)
			if !iok || !qok || !sok || i < 1 || int(i) > len(part) {
				return nil, fmt.Errorf("look up task IDs: unexpected answer %v", res[j:j+3])
			}
			out[start+int(i)-1] = Enqueued{ID: part[i-1], Queue: queue, State: state, Duplicate: true}
		}
	}
	return out, nil
}

// Enqueue writes the task unless a task with its ID is in any queue. A duplicate is not an
// error: it returns the existing task's ID, queue and state with Duplicate set, and
// DifferentContent when that task's payload is not this one (a key given twice). It costs a
// look-up more than asynq's own enqueue, and a duplicate one read more; to enqueue many tasks,
// look their IDs up together with Lookup and enqueue those not found with EnqueueNew.
//
// opts are the options the task's constructor returned with it (the caller may add asynq
// options to them, asynq.Deadline say, but a queue only of those the workers serve: another is
// refused): they hold its ID, which the look-up needs. Without an ID, Enqueue refuses the task with
// ErrNoTaskID rather than write it under a random one, which no later enqueue would recognise.
func (e *Enqueuer) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	id, queue, err := destination(task, opts)
	if err != nil {
		return Enqueued{Queue: queue}, err
	}
	found, err := e.Lookup(ctx, id)
	if err != nil {
		return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: %w", id, err)
	}
	if found[0].Duplicate {
		return e.compare(ctx, found[0], task), nil
	}
	return e.EnqueueNew(ctx, task, opts...)
}

// ErrNoTaskID is returned by Enqueue and EnqueueNew when no asynq.TaskID is among the options
// passed: the task was enqueued without the options its constructor returned. Options built
// into the task with asynq.NewTask are not seen (asynq does not show them).
var ErrNoTaskID = errors.New("no task ID among the options: pass the options its constructor (NewLicenceTask, NewOVCallbackTask, Build) returned with the task")

// destination is Destination for a task about to be enqueued: an error for no task, or no ID.
func destination(task *asynq.Task, opts []asynq.Option) (id, queue string, err error) {
	id, queue = Destination(opts)
	switch {
	case task == nil:
		return id, queue, errors.New("enqueue: the task is nil")
	case id == "":
		return id, queue, fmt.Errorf("enqueue %s: %w", task.Type(), ErrNoTaskID)
	case !slices.Contains(queues, queue):
		// An asynq.Queue option of the caller's: no worker would ever take the task.
		return id, queue, fmt.Errorf("enqueue %s: queue %q: the workers serve only %q and %q (choose with tasks.Queue)", id, queue, QueueDefault, QueueBackfill)
	case slices.ContainsFunc(opts, func(o asynq.Option) bool { return o != nil && o.Type() == asynq.GroupOpt }):
		// Grouped tasks wait for an aggregator, which the workers do not run.
		return id, queue, fmt.Errorf("enqueue %s: asynq.Group: the workers do not aggregate groups; the task would wait for ever", id)
	}
	return id, queue, nil
}

// EnqueueNew writes a task whose ID a Lookup has just found in no queue: it skips the
// look-up. A task with the same ID enqueued in the same queue since then is still reported as
// a duplicate (asynq checks that as it writes); one enqueued in another queue since then is
// not.
func (e *Enqueuer) EnqueueNew(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	id, queue, err := destination(task, opts)
	if err != nil {
		return Enqueued{Queue: queue}, err
	}
	if e == nil || e.rdb == nil || e.client == nil {
		return Enqueued{ID: id, Queue: queue}, errNoClient
	}
	info, err := untilDone(ctx, func() (*asynq.TaskInfo, error) { return e.client.EnqueueContext(ctx, task, opts...) })
	if err == nil {
		return Enqueued{ID: info.ID, Queue: info.Queue, State: info.State.String()}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		if ctx.Err() != nil {
			// Cut off as it went: it may have been written (enqueue it again to know: a
			// duplicate says it was).
			return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: may or may not be enqueued: %w", id, err)
		}
		return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: %w", id, err)
	}
	res := Enqueued{ID: id, Queue: queue, Duplicate: true, State: "unknown"}
	// The state is worth a round trip: a duplicate is rare once looked up.
	if found, lerr := e.Lookup(ctx, id); lerr == nil && found[0].Duplicate {
		res = found[0]
	}
	return e.compare(ctx, res, task), nil
}

// compare sets dup.DifferentContent when the task dup found in Redis surely has another
// payload than task. It is a hint: when the stored task cannot be read (Redis fails, it is
// gone, asynq wrote it in a form this package does not know) it says nothing, and the
// duplicate is still a duplicate, not an error.
func (e *Enqueuer) compare(ctx context.Context, dup Enqueued, task *asynq.Task) Enqueued {
	msg, err := untilDone(ctx, func() ([]byte, error) { return e.rdb.HGet(ctx, "asynq:{"+dup.Queue+"}:t:"+dup.ID, "msg").Bytes() })
	if err != nil {
		return dup
	}
	if stored, ok := messagePayload(msg); ok {
		dup.DifferentContent = differentPayload(task.Type(), stored, task.Payload())
	}
	return dup
}

// untilDone returns what f returns, or ctx's error as soon as ctx ends. go-redis ends a
// command at its context's deadline (with ContextTimeoutEnabled), but not when the context is
// cancelled: against a Redis that does not answer, a cancel would wait out the read timeout.
// A command cut off so may still take effect; f goes on until the client gives it up.
func untilDone[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v        T
		err      error
		panicked any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			// A panic in f (go-redis's, on a nil client) is the caller's, as it was before f
			// ran on a goroutine of its own: one the caller cannot recover would end the
			// whole program.
			if p := recover(); p != nil {
				r.panicked = p
			}
			done <- r
		}()
		r.v, r.err = f()
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			panic(r.panicked)
		}
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// differentPayload reports whether two payloads of a task type are surely different content.
// Payloads that differ only in their JSON form (as another version of this package may write
// them) are the same content when they decode to the same canonical payload; when either does
// not decode (it was valid when written, and the rules have changed since), it cannot tell,
// and says no.
func differentPayload(typ string, a, b []byte) bool {
	if bytes.Equal(a, b) {
		return false
	}
	ta, _, errA := Build(typ, a)
	tb, _, errB := Build(typ, b)
	return errA == nil && errB == nil && !bytes.Equal(ta.Payload(), tb.Payload())
}

// messagePayload returns the payload of an asynq task message: field 2 (bytes) of asynq's
// protobuf TaskMessage, which asynq keeps in the msg field of the task's hash.
// TestEnqueuerKeyGivenToOtherContent holds that to asynq's own client.
func messagePayload(msg []byte) ([]byte, bool) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, false
		}
		msg = msg[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			return v, n >= 0
		}
		n = protowire.ConsumeFieldValue(num, typ, msg)
		if n < 0 {
			return nil, false
		}
		msg = msg[n:]
	}
	return nil, true // protobuf leaves an empty payload out
}

// Destination is the task ID and queue that a constructor's options give its task (queue
// QueueDefault when they name none), for looking tasks up with Lookup before EnqueueNew.
func Destination(opts []asynq.Option) (id, queue string) {
	queue = QueueDefault
	for _, o := range opts {
		if o == nil { // as asynq ignores a nil option
			continue
		}
		switch o.Type() {
		case asynq.TaskIDOpt:
			id = o.Value().(string)
		case asynq.QueueOpt:
			queue = o.Value().(string)
		}
	}
	return id, queue
}
