package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
)

// Option changes one of a task's defaults.
type Option func(*settings) error

type settings struct {
	queue     string
	maxRetry  int
	key       string
	processIn time.Duration
	processAt time.Time
	timeout   time.Duration
}

// Queue puts the task on one of the served Queues (default QueueDefault).
func Queue(name string) Option {
	return func(s *settings) error {
		if !slices.Contains(queues, name) {
			return &provider.FieldError{Field: "queue", Problem: fmt.Sprintf("must be %q or %q (the queues workers serve), got %q", QueueDefault, QueueBackfill, name)}
		}
		s.queue = name
		return nil
	}
}

// MaxRetry sets the retry budget: transient failures allowed before the task is dead-lettered
// (default DefaultMaxRetry). Rate-limit waits and crash recoveries do not spend it.
func MaxRetry(n int) Option {
	return func(s *settings) error {
		if n < 0 || n > 1000 {
			return &provider.FieldError{Field: "maxRetry", Problem: fmt.Sprintf("must be 0 to 1000, got %d", n)}
		}
		s.maxRetry = n
		return nil
	}
}

// Key replaces the content-derived task ID by "<type>:<key>": the caller's idempotency key.
// A key is 1 to 100 characters of letters, digits and ._:-
func Key(key string) Option {
	return func(s *settings) error {
		if err := validateKey(key); err != nil {
			return err
		}
		s.key = key
		return nil
	}
}

// ProcessIn delays the task by d.
func ProcessIn(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return &provider.FieldError{Field: "processIn", Problem: fmt.Sprintf("must not be negative, got %s", d)}
		}
		s.processIn, s.processAt = d, time.Time{}
		return nil
	}
}

// ProcessAt schedules the task for t.
func ProcessAt(t time.Time) Option {
	return func(s *settings) error {
		if t.IsZero() { // an unset time.Time, surely not "now"
			return &provider.FieldError{Field: "processAt", Problem: "the zero time: give a time, or leave the option out to run now"}
		}
		s.processAt, s.processIn = t, 0
		return nil
	}
}

// Timeout bounds one run of the task (default DefaultTimeout): at least a second. asynq keeps
// whole seconds, so a fraction is rounded up (it would drop a timeout under a second, and the
// task would run under asynq's default of 30 minutes).
func Timeout(d time.Duration) Option {
	return func(s *settings) error {
		if d < time.Second {
			return &provider.FieldError{Field: "timeout", Problem: fmt.Sprintf("must be at least 1s (asynq counts whole seconds), got %s", d)}
		}
		if r := d.Truncate(time.Second); r != d && r < math.MaxInt64-time.Second {
			d = r + time.Second
		}
		s.timeout = d
		return nil
	}
}

func validateKey(key string) error {
	if key == "" || len(key) > 100 {
		return &provider.FieldError{Field: "key", Problem: fmt.Sprintf("must be 1 to 100 characters, got %d", len(key))}
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == ':' || r == '-') {
			return &provider.FieldError{Field: "key", Problem: fmt.Sprintf("only letters, digits and ._:- allowed, got %q", key)}
		}
	}
	return nil
}

// TaskID is a task's ID: "<type>:<orderNumber>:<first 16 hex digits of the SHA-256 of the
// canonical payload>", or "<type>:<key>" when the caller gives an idempotency key. The same
// content always gets the same ID, so enqueueing it twice is recognised as a duplicate.
//
// The canonical payload is the one the constructors write (the task's Payload(): fields in
// the order of the payload struct, the account filled in, empty fields left out), not
// json.Marshal of a payload struct. For a task's ID, build it (NewLicenceTask,
// NewOVCallbackTask, Build) and read the ID from its options with Destination.
func TaskID(typ, orderNumber string, canonicalPayload []byte, key string) string {
	if key != "" {
		return typ + ":" + key
	}
	sum := sha256.Sum256(canonicalPayload)
	return typ + ":" + orderNumber + ":" + hex.EncodeToString(sum[:8])
}

func newTask(typ, orderNumber string, payload []byte, opts []Option) (*asynq.Task, []asynq.Option, error) {
	s := settings{queue: QueueDefault, maxRetry: DefaultMaxRetry, timeout: DefaultTimeout}
	for _, o := range opts {
		if o == nil { // as asynq ignores a nil option
			continue
		}
		if err := o(&s); err != nil {
			return nil, nil, err
		}
	}
	id := TaskID(typ, orderNumber, payload, s.key)
	aopts := []asynq.Option{
		asynq.TaskID(id),
		asynq.Queue(s.queue),
		asynq.MaxRetry(s.maxRetry + RetryReserve),
		asynq.Timeout(s.timeout),
		asynq.Retention(Retention),
	}
	switch {
	case !s.processAt.IsZero():
		aopts = append(aopts, asynq.ProcessAt(s.processAt))
	case s.processIn > 0:
		aopts = append(aopts, asynq.ProcessIn(s.processIn))
	}
	return asynq.NewTask(typ, payload), aopts, nil
}

// RetryBudget is the retry budget of a task whose asynq MaxRetry is maxRetry.
func RetryBudget(maxRetry int) int {
	if maxRetry < RetryReserve {
		return 0
	}
	return maxRetry - RetryReserve
}

// Build decodes a payload of the given type (as JSON, with the rules of DecodeOVCallback or
// DecodeLicence) and returns its task: what the CLI and dead-letter replay use.
func Build(typ string, payload []byte, opts ...Option) (*asynq.Task, []asynq.Option, error) {
	switch typ {
	case TypeOVCallbackUpdate:
		p, err := DecodeOVCallback(payload)
		if err != nil {
			return nil, nil, err
		}
		return NewOVCallbackTask(p, opts...)
	case TypeLicenceModify:
		p, err := DecodeLicence(payload)
		if err != nil {
			return nil, nil, err
		}
		return NewLicenceTask(p, opts...)
	case "":
		return nil, nil, &provider.FieldError{Field: "type", Problem: fmt.Sprintf("required: %q or %q", TypeOVCallbackUpdate, TypeLicenceModify)}
	}
	return nil, nil, &provider.FieldError{Field: "type", Problem: fmt.Sprintf("must be %q or %q, got %q", TypeOVCallbackUpdate, TypeLicenceModify, typ)}
}
