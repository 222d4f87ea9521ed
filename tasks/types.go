package tasks

import (
	"slices"
	"time"
)

// Task type names. They are stored in Redis with every task: never rename them.
const (
	// TypeOVCallbackUpdate calls !UpdateUserOvCallback with an OVCallbackPayload.
	TypeOVCallbackUpdate = "ovcallback:update"
	// TypeLicenceModify calls !modifyThirdPartyDetails with a LicencePayload.
	TypeLicenceModify = "licence:modify"
)

// Queues the workers serve. Live traffic goes to QueueDefault; backfills to QueueBackfill,
// which workers weight so that a backfill never starves live traffic.
const (
	QueueDefault  = "default"
	QueueBackfill = "backfill"
)

// Queues lists every queue the workers serve. The package reads its own copy: changing this
// slice changes nothing.
var Queues = slices.Clone(queues)

var queues = []string{QueueDefault, QueueBackfill}

// DefaultAccount is the account alias of a payload that names none.
const DefaultAccount = "default"

// Defaults every constructor sets.
const (
	// DefaultMaxRetry is the retry budget: how many transient failures a task may have before
	// it is dead-lettered. Rate-limit waits and crash recoveries do not spend it.
	DefaultMaxRetry = 10
	// DefaultTimeout bounds one run of a task, limiter waits included; each provider call has
	// its own, shorter timeout (the worker's PROVIDER_TIMEOUT).
	DefaultTimeout = 5 * time.Minute
	// Retention is how long a completed task stays visible with its result.
	Retention = 24 * time.Hour
	// MaxPayloadBytes bounds a payload; the largest valid one is about 12 KiB (every field at
	// its longest, in characters that JSON escapes).
	MaxPayloadBytes = 64 << 10
)

// RetryReserve is added to a task's retry budget to form asynq's MaxRetry. asynq archives a
// task whose retry count has reached MaxRetry whatever the error, even one that does not count
// as a failure; the reserve keeps a task whose budget is spent retryable after a rate-limit
// wait or a crash, and the worker itself dead-letters it when a failure would exceed the budget.
const RetryReserve = 1
