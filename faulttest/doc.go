// Package faulttest proves that the worker loses nothing when things break: it builds the
// real cmd/worker (and cmd/enqueue) binaries, starts their processes against redis-servers of
// its own (loopback, AOF on) and the fake provider, and then kills workers with SIGKILL,
// stops Redis in the middle of a run, answers -42 to every call, feeds poison payloads, sends
// SIGTERM during slow calls and has a Redis Sentinel fail the master over to a replica.
// Everything is asserted through asynq's inspector, the fake provider's record of calls, the
// dead-letter record and exit codes.
//
// The package holds only tests; run them with
//
//	go test -race -timeout 10m ./faulttest/
//
// They need Debian's redis-server on PATH. Without it they skip, unless CI=true, where they
// fail: a CI run that proves nothing must not pass.
package faulttest
