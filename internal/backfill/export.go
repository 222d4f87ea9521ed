package backfill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/tasks"
)

// ExportRow is a dead letter as a backfill row: {"type": ..., <payload fields>, then the
// ExportFields that explain the failure}, without a line ending. A backfill reads it back and
// ignores the ExportFields, but for taskId, contentId and entryId: a task enqueued with a key
// has its content's own ID as contentId, and a row whose content still derives it keeps the
// key; a row that is enqueued marks its dead letter (entryId) replayed.
//
// flat is false when the payload could not be spread into the row (it is not a JSON object, or
// it has a field named like a row field): the row then carries it whole as "payload", which a
// backfill rejects until someone fixes it.
func ExportRow(r deadletter.Record) (line []byte, flat bool, err error) {
	b := append(make([]byte, 0, 256+len(r.Payload)), `{"type":`...)
	b = appendJSONString(b, r.Type)
	fields, flat := payloadFields(r.Payload)
	if flat {
		for _, f := range fields {
			b = append(b, ',')
			b = appendJSONString(b, f.name)
			b = append(b, ':')
			b = append(b, f.value...)
		}
	} else {
		payload := r.Payload
		if len(payload) == 0 {
			payload = json.RawMessage("null")
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, payload); err != nil {
			return nil, false, fmt.Errorf("export dead letter %s: payload: %w", r.TaskID, err)
		}
		b = append(b, `,"payload":`...)
		b = append(b, compact.Bytes()...)
	}
	b = append(b, `,"errorCode":`...)
	if r.ErrorCode == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*r.ErrorCode), 10)
	}
	b = append(b, `,"errorMessage":`...)
	b = appendJSONString(b, r.ErrorMessage)
	if r.ErrorItem != "" {
		b = append(b, `,"errorItem":`...)
		b = appendJSONString(b, r.ErrorItem)
	}
	if r.HTTPStatus != 0 {
		b = append(b, `,"httpStatus":`...)
		b = strconv.AppendInt(b, int64(r.HTTPStatus), 10)
	}
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, r.Reason)
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	b = append(b, `,"failedAt":`...)
	b = appendJSONString(b, r.FailedAt.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"taskId":`...)
	b = appendJSONString(b, r.TaskID)
	if r.EntryID != "" {
		b = append(b, `,"entryId":`...)
		b = appendJSONString(b, r.EntryID)
	}
	// A task enqueued with a key (an ID this product gives, other than its content's) has its
	// content's ID written too: a backfill that finds the row's content unchanged keeps the key,
	// so that the row is the same task (a duplicate while it is in Redis), as an unchanged row
	// of a task without a key is. A plain asynq client's ID (a UUID) has no key to keep.
	if strings.HasPrefix(r.TaskID, r.Type+":") {
		if id := contentID(r); id != "" && id != r.TaskID {
			b = append(b, `,"contentId":`...)
			b = appendJSONString(b, id)
		}
	}
	if r.ReplayedAt != nil {
		b = append(b, `,"replayedAt":`...)
		b = appendJSONString(b, r.ReplayedAt.UTC().Format(time.RFC3339Nano))
	}
	return append(b, '}'), flat, nil
}

type field struct {
	name  string
	value json.RawMessage
}

// payloadFields lists a JSON object's fields in order, compacted; false when payload is not an
// object or has a field that would clash with a row field.
func payloadFields(payload json.RawMessage) ([]field, bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var fields []field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if name == "type" || name == "payload" || slices.Contains(ExportFields, name) ||
			slices.ContainsFunc(fields, func(f field) bool { return f.name == name }) {
			return nil, false
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return nil, false
		}
		fields = append(fields, field{name, compact.Bytes()})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	return fields, true
}

// contentID is the ID that the content of r's payload derives (as if it had no key), or ""
// when the payload is not a valid task.
func contentID(r deadletter.Record) string {
	_, opts, err := tasks.Build(r.Type, r.Payload)
	if err != nil {
		return ""
	}
	return taskID(opts)
}

// taskID returns the task ID among asynq options.
func taskID(opts []asynq.Option) string {
	id, _ := tasks.Destination(opts)
	return id
}
