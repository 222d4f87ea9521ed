package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Enqueued is the outcome of one enqueue, or of one look-up.
type Enqueued struct {
	ID        string
	Queue     string
	State     string // "pending", "scheduled", … of the task now in Redis (the existing one for a duplicate)
	Duplicate bool   // the same task (same ID) was already pending, scheduled, retrying, archived or retained as completed
}

// Enqueuer enqueues tasks and recognises duplicates in every queue, not only in the queue a
// task is bound for: asynq alone would take the same task ID once per queue, and the provider
// would be called twice. It is safe for concurrent use.
//
// Tasks that bypass it (a plain asynq.Client) are only checked against their own queue.
type Enqueuer struct {
	rdb    redis.UniversalClient
	client *asynq.Client
}

// NewEnqueuer enqueues on rdb, the workers' Redis. The caller keeps rdb and closes it.
func NewEnqueuer(rdb redis.UniversalClient) *Enqueuer {
	return &Enqueuer{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb)}
}

// lookup finds task IDs in every queue asynq knows (the set asynq:queues, which asynq's client
// fills as it enqueues), with the state asynq keeps in each task's hash. For each ID in ARGV it
// returns two strings: the queue and the state, or two empty strings. The keys are asynq's
// (package base: TaskKey is "asynq:{QUEUE}:t:ID"); TestLookupFollowsAsynq holds that to asynq's
// own client. The keys are built in the script, so it needs one Redis, not a Cluster, which
// asynq's other scripts need as well.
var lookup = redis.NewScript(`
local queues = redis.call('SMEMBERS', 'asynq:queues')
local out = {}
for i, id in ipairs(ARGV) do
	local q, s = '', ''
	for _, queue in ipairs(queues) do
		local state = redis.call('HGET', 'asynq:{' .. queue .. '}:t:' .. id, 'state')
		if state then
			q, s = queue, state
			break
		end
	end
	out[2*i-1], out[2*i] = q, s
end
return out
`)

// Lookup reports where each task ID is: for an ID some queue holds, its queue and state with
// Duplicate set; for the others, only the ID. One round trip, whatever the number of IDs.
func (e *Enqueuer) Lookup(ctx context.Context, ids ...string) ([]Enqueued, error) {
	out := make([]Enqueued, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
		out[i].ID = id
	}
	res, err := lookup.Run(ctx, e.rdb, nil, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("look up task IDs: %w", err)
	}
	if len(res) != 2*len(ids) {
		return nil, fmt.Errorf("look up task IDs: %d answers for %d IDs", len(res)/2, len(ids))
	}
	for i := range out {
		if q := res[2*i]; q != "" {
			out[i].Queue, out[i].State, out[i].Duplicate = q, res[2*i+1], true
		}
	}
	return out, nil
}

// Enqueue writes the task unless a task with its ID is in any queue. A duplicate is not an
// error: it returns the existing task's ID, queue and state with Duplicate set. It costs a
// look-up more than asynq's own enqueue; to enqueue many tasks, look their IDs up together
// with Lookup and enqueue those not found with EnqueueNew.
func (e *Enqueuer) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	if id, queue := target(opts); id != "" {
		found, err := e.Lookup(ctx, id)
		if err != nil {
			return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: %w", id, err)
		}
		if found[0].Duplicate {
			return found[0], nil
		}
	}
	return e.EnqueueNew(ctx, task, opts...)
}

// EnqueueNew writes a task whose ID a Lookup has just found in no queue: it skips the
// look-up. A task with the same ID enqueued in the same queue since then is still reported as
// a duplicate (asynq checks that as it writes); one enqueued in another queue since then is
// not.
func (e *Enqueuer) EnqueueNew(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	id, queue := target(opts)
	info, err := e.client.EnqueueContext(ctx, task, opts...)
	if err == nil {
		return Enqueued{ID: info.ID, Queue: info.Queue, State: info.State.String()}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: %w", id, err)
	}
	res := Enqueued{ID: id, Queue: queue, Duplicate: true, State: "unknown"}
	if id != "" {
		// The state is worth a round trip: a duplicate is rare once looked up.
		if found, lerr := e.Lookup(ctx, id); lerr == nil && found[0].Duplicate {
			res = found[0]
		}
	}
	return res, nil
}

// target is the task ID and queue that opts set.
func target(opts []asynq.Option) (id, queue string) {
	queue = QueueDefault
	for _, o := range opts {
		switch o.Type() {
		case asynq.TaskIDOpt:
			id = o.Value().(string)
		case asynq.QueueOpt:
			queue = o.Value().(string)
		}
	}
	return id, queue
}
