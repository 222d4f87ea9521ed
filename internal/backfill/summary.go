package backfill

import (
	"encoding/json"
	"fmt"
)

// Summary counts what a backfill did with its rows. Every row read is counted exactly once in
// Invalid, Enqueued, Duplicate or Failed, unless the run stopped early (Line then says where).
type Summary struct {
	Rows      int // rows read: valid and invalid
	Valid     int // rows that passed validation
	Invalid   int // rows that failed validation (reported, never enqueued)
	Enqueued  int // new tasks
	Duplicate int // rows whose task was already in Redis (same content, same task ID)
	Failed    int // rows whose enqueue failed (reported)
	DryRun    bool
	// Stopped: the run stopped before the end of the input (interrupted, or too many failures
	// in a row). Line is then the last line handled, 0 when it stopped before any.
	Stopped bool
	Line    int
	// Validating: the run stopped while validating (Line is the last line read), so
	// nothing was enqueued.
	Validating bool
}

// String is the summary line, "enqueued=N duplicate=D invalid=I failed=F", a dry run's too
// (it enqueues nothing: scripts read the same line either way).
func (s Summary) String() string {
	return fmt.Sprintf("enqueued=%d duplicate=%d invalid=%d failed=%d", s.Enqueued, s.Duplicate, s.Invalid, s.Failed)
}

// MarshalJSON writes the summary line's keys, plus "dryRun" and "valid" for a dry run and
// "stoppedAfterLine" when the run stopped early, 0 included ("stoppedWhileValidating" too when
// it was interrupted while validating, before enqueueing anything).
func (s Summary) MarshalJSON() ([]byte, error) {
	type summary struct {
		DryRun           bool `json:"dryRun,omitempty"`
		Valid            *int `json:"valid,omitempty"`
		Enqueued         int  `json:"enqueued"`
		Duplicate        int  `json:"duplicate"`
		Invalid          int  `json:"invalid"`
		Failed           int  `json:"failed"`
		StoppedAfterLine *int `json:"stoppedAfterLine,omitempty"`
		Validating       bool `json:"stoppedWhileValidating,omitempty"`
	}
	out := summary{DryRun: s.DryRun, Enqueued: s.Enqueued, Duplicate: s.Duplicate, Invalid: s.Invalid,
		Failed: s.Failed, Validating: s.Validating}
	if s.Stopped {
		out.StoppedAfterLine = &s.Line
	}
	if s.DryRun {
		out.Valid = &s.Valid
	}
	return json.Marshal(out)
}
