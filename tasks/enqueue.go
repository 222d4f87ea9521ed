package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// Enqueued is the outcome of one enqueue.
type Enqueued struct {
	ID        string
	Queue     string
	State     string // "pending", "scheduled", … of the task now in Redis (the existing one for a duplicate)
	Duplicate bool   // the same task (same ID) was already pending, scheduled, retrying, archived or retained as completed
}

// Enqueuer enqueues tasks and recognises duplicates. It is safe for concurrent use.
type Enqueuer struct {
	client    *asynq.Client
	inspector *asynq.Inspector
}

// NewEnqueuer uses the given asynq client and inspector (both on the same Redis).
func NewEnqueuer(client *asynq.Client, inspector *asynq.Inspector) *Enqueuer {
	return &Enqueuer{client: client, inspector: inspector}
}

// Enqueue writes the task. A duplicate is not an error: it returns the existing task's ID and
// state with Duplicate set.
func (e *Enqueuer) Enqueue(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (Enqueued, error) {
	id, queue := "", QueueDefault
	for _, o := range opts {
		switch o.Type() {
		case asynq.TaskIDOpt:
			id = o.Value().(string)
		case asynq.QueueOpt:
			queue = o.Value().(string)
		}
	}
	info, err := e.client.EnqueueContext(ctx, task, opts...)
	if err == nil {
		return Enqueued{ID: info.ID, Queue: info.Queue, State: info.State.String()}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) && !errors.Is(err, asynq.ErrDuplicateTask) {
		return Enqueued{ID: id, Queue: queue}, fmt.Errorf("enqueue %s: %w", id, err)
	}
	res := Enqueued{ID: id, Queue: queue, Duplicate: true, State: "unknown"}
	if e.inspector != nil && id != "" {
		if existing, ierr := e.inspector.GetTaskInfo(queue, id); ierr == nil {
			res.State = existing.State.String()
		}
	}
	return res, nil
}
