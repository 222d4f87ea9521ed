// Package deadletter is the durable record of every dead-lettered task. asynq trims its own
// archive (10,000 tasks a queue, 90 days) silently; this record, a Redis stream that is never
// trimmed, keeps each one with its payload and the reason, for export and replay.
package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key is the Redis stream that holds the record. Never rename it: it is the data.
const Key = "ovqueue:deadletters"

// ReplayedKey is a hash from stream entry ID to the time the entry was replayed.
const ReplayedKey = "ovqueue:deadletters:replayed"

// Reasons a task is dead-lettered.
const (
	ReasonPermanent      = "permanent"         // the provider's answer will not change by waiting
	ReasonRetriesSpent   = "retries-exhausted" // transient failures used the whole retry budget
	ReasonRateLimitWait  = "rate-limit-wait"   // rate-limited for longer than the maximum wait
	ReasonInvalidPayload = "invalid-payload"   // the payload does not decode or validate
	ReasonUnknownType    = "unknown-type"      // no handler for the task type
)

// Record is one dead-lettered task. It never holds a password: payloads name accounts.
type Record struct {
	EntryID      string          `json:"-"` // the stream entry ID, set when read
	TaskID       string          `json:"taskId"`
	Type         string          `json:"type"`
	Queue        string          `json:"queue"`
	Payload      json.RawMessage `json:"payload"`
	Reason       string          `json:"reason"`
	ErrorCode    *int            `json:"errorCode"` // the provider's errorCode; nil (null) when the failure had none
	ErrorMessage string          `json:"errorMessage"`
	ErrorItem    string          `json:"errorItem,omitempty"`
	HTTPStatus   int             `json:"httpStatus,omitempty"`
	Attempts     int             `json:"attempts"`
	FailedAt     time.Time       `json:"failedAt"`
	ReplayedAt   *time.Time      `json:"replayedAt,omitempty"` // set when read, if replayed
}

// Code returns a pointer to c, for Record.ErrorCode.
func Code(c int) *int { return &c }

// CodeText is a record's errorCode as a person reads it: the code, or "none".
func CodeText(code *int) string {
	if code == nil {
		return "none"
	}
	return strconv.Itoa(*code)
}

// Store appends to and reads the record.
type Store struct{ rdb redis.UniversalClient }

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// Append adds r to the record and returns its entry ID.
func (s *Store) Append(ctx context.Context, r Record) (string, error) {
	if r.FailedAt.IsZero() {
		r.FailedAt = time.Now().UTC()
	}
	r.ReplayedAt = nil
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("dead letter %s: %w: %w", r.TaskID, errUnencodable, err)
	}
	id, err := s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: Key, Values: []any{"record", b}}).Result()
	if err != nil {
		return "", fmt.Errorf("dead letter %s: %w", r.TaskID, err)
	}
	return id, nil
}

var errUnencodable = errors.New("cannot encode the record")

// Unavailable reports whether err, from Append, means that Redis could not take the record
// now but may soon: it could not be reached (a connection error, a timeout), or it answered
// that it is loading, read-only (a replica during a failover), out of memory, busy or unable
// to persist (MISCONF: a full disk refuses writes until someone frees it). Other answers (a key
// of another type, an ACL that denies the command) will not change by waiting.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, errUnencodable) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true // no answer from Redis
	}
	code, _, _ := strings.Cut(reply.Error(), " ")
	switch code {
	case "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY", "OOM", "NOREPLICAS", "MISCONF":
		return true
	}
	return false
}

// Len is the number of records.
func (s *Store) Len(ctx context.Context) (int64, error) { return s.rdb.XLen(ctx, Key).Result() }

// Scan calls fn for every record that the store holds when the scan begins, oldest first,
// reading pageSize at a time so that memory stays flat whatever the record's size. Records
// appended during the scan are left to the next one: a replay whose tasks fail again while it
// runs must not meet their new records and replay them again. A non-nil error from fn stops
// the scan and is returned. An entry that is not a record is skipped, and the scan ends with
// an *UnreadableError.
func (s *Store) Scan(ctx context.Context, fn func(Record) error) error {
	const pageSize = 500
	last, err := s.rdb.XRevRangeN(ctx, Key, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	if len(last) == 0 {
		return nil
	}
	start, end := "-", last[0].ID
	var unreadable *UnreadableError
	done := func() error {
		if unreadable != nil {
			return unreadable
		}
		return nil
	}
	for {
		msgs, err := s.rdb.XRangeN(ctx, Key, start, end, pageSize).Result()
		if err != nil {
			return fmt.Errorf("read dead letters: %w", err)
		}
		if len(msgs) == 0 {
			return done()
		}
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		replayed, err := s.rdb.HMGet(ctx, ReplayedKey, ids...).Result()
		if err != nil {
			return fmt.Errorf("read dead letters: %w", err)
		}
		for i, m := range msgs {
			r, err := decode(m)
			if err != nil {
				// Not the workers' writing (a foreign XADD, a damaged copy): skip it rather than
				// hide every dead letter after it for good, and say so at the end.
				if unreadable == nil {
					unreadable = &UnreadableError{FirstID: m.ID, First: err}
				}
				unreadable.Count++
				unreadable.LastID = m.ID
				continue
			}
			if v, ok := replayed[i].(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
					r.ReplayedAt = &t
				}
			}
			if err := fn(r); err != nil {
				if errors.Is(err, ErrStop) {
					return done()
				}
				return err
			}
		}
		if len(msgs) < pageSize || msgs[len(msgs)-1].ID == end {
			return done()
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// MarkReplayed records that the entry was replayed, so that a later replay skips it.
func (s *Store) MarkReplayed(ctx context.Context, entryID string, at time.Time) error {
	return s.rdb.HSet(ctx, ReplayedKey, entryID, at.UTC().Format(time.RFC3339Nano)).Err()
}

// MarkResent marks the entry replayed, as MarkReplayed does, when it is a dead letter of task
// taskID not marked yet: its task was sent again another way (a backfill of its exported row).
// True when the record holds that dead letter, marked now or before; false when it holds no
// such dead letter (an entry ID from another Redis or database, or from a hand-edited row).
func (s *Store) MarkResent(ctx context.Context, entryID, taskID string, at time.Time) (bool, error) {
	msgs, err := s.rdb.XRangeN(ctx, Key, entryID, entryID, 1).Result()
	if err != nil {
		return false, fmt.Errorf("read dead letter %s: %w", entryID, err)
	}
	if len(msgs) != 1 {
		return false, nil
	}
	if r, err := decode(msgs[0]); err != nil || r.TaskID != taskID {
		return false, nil
	}
	if err := s.rdb.HSetNX(ctx, ReplayedKey, entryID, at.UTC().Format(time.RFC3339Nano)).Err(); err != nil {
		return false, fmt.Errorf("mark dead letter %s replayed: %w", entryID, err)
	}
	return true, nil
}

func decode(m redis.XMessage) (Record, error) {
	raw, ok := m.Values["record"].(string)
	if !ok {
		return Record{}, fmt.Errorf("dead letter %s: no record field", m.ID)
	}
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Record{}, fmt.Errorf("dead letter %s: %w", m.ID, err)
	}
	r.EntryID = m.ID
	if r.ErrorCode != nil && *r.ErrorCode == 0 && (r.HTTPStatus == 0 || r.HTTPStatus >= 200 && r.HTTPStatus < 300) {
		// Written before records had null: a failure without an HTTP error that says 0 had
		// no errorCode (0 would have been a success). After an HTTP error, 0 stays: it may
		// be the answer's own.
		r.ErrorCode = nil
	}
	return r, nil
}

// UnreadableError is what Scan returns, once it has passed every other record to its callback,
// when entries of the stream could not be read as records: they were skipped.
type UnreadableError struct {
	Count           int
	FirstID, LastID string // the first and last skipped entries' IDs
	First           error  // why the first of them could not be read
}

func (e *UnreadableError) Error() string {
	if e.Count == 1 {
		return fmt.Sprintf("1 entry of %s could not be read and was skipped: %v", Key, e.First)
	}
	return fmt.Sprintf("%d entries of %s could not be read and were skipped (from %s to %s); the first: %v", e.Count, Key, e.FirstID, e.LastID, e.First)
}

// ErrStop may be returned by a Scan callback to end the scan early without an error.
var ErrStop = errors.New("stop scan")
