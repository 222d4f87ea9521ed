// Package config is the worker's configuration: every setting comes from an environment variable
// that also has a flag (REDIS_URL and --redis-url), is parsed and checked once at start, and ends
// up in a Worker.
//
// A missing or bad setting is reported as one error of one line that names the variable and its
// flag, so the worker can stop at start and tell the operator exactly what to fix. Passwords (the
// provider's, the UI's, the one inside REDIS_URL) never appear in an error or in Worker.String.
package config
