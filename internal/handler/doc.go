// Package handler executes the two task types: it decodes and re-validates the payload, waits
// out the fleet's rate limits, makes the provider call, logs it, and turns its outcome into
// what asynq must do next, as the error policy in DESIGN.md says:
//
//   - success: the result is written to the task (code, result, attempts, duration);
//   - rate-limited (-42, HTTP 429): the account cools down fleet-wide and the task is
//     rescheduled after it without spending its retry budget, up to a maximum wait;
//   - transient: returned as a failure, so asynq retries it with backoff, until the budget is
//     spent and the task is dead-lettered;
//   - permanent, or a payload that fails validation: dead-lettered at once.
//
// Dead-lettering is signalled with a *Dead error, which wraps asynq.SkipRetry; the worker's
// error handler appends it to the durable record.
package handler
