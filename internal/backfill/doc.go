// Package backfill enqueues many tasks from a file of rows: JSON Lines or CSV, in the format
// DESIGN.md gives (a "type" plus the payload's own field names), which `enqueue dead export`
// writes too.
//
// A backfill validates first and enqueues after, and its memory stays flat whatever the
// input's size. The validation pass streams the input once, decodes and validates every row
// with the code of package tasks (in parallel, one worker a CPU), and reports each bad row as
// "FILE:LINE: field: why", in line order. While it does, it builds each valid row's task and
// appends it to a temporary file (the spool). Only when the whole input is good, or the caller
// skips bad rows, does the enqueue pass read the spool back and enqueue, with a pool of
// workers and an optional rate limit. So a task is built once, what is enqueued is exactly
// what was validated, and standard input needs no copy of its own.
//
// Task IDs are deterministic, so running the same backfill again enqueues nothing new: every
// row is reported as a duplicate. The enqueue pass looks each chunk of rows' task IDs up in
// every queue in one round trip, a chunk ahead of its workers, so that a row whose task is in
// another queue (live traffic, in default) is a duplicate too, and so that a re-run costs a
// look-up a chunk rather than a failed enqueue a row.
package backfill
