// Package tasks is what a billing system imports to enqueue work for the ovqueue workers: the
// task type names, one payload struct per type, validation (the same code the worker runs
// again before each call), constructors that set each type's defaults, deterministic task IDs,
// and an Enqueuer that reports duplicates as such.
//
// Payload JSON uses the provider's own parameter names, so a row of a backfill reads like the
// provider's documentation. Credentials never enter a payload: it names an account alias and
// the worker supplies that account's login.
package tasks
