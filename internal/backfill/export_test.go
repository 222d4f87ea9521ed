package backfill

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/tasks"
)

func TestExportRow(t *testing.T) {
	t.Parallel()
	failed := time.Date(2024, 2, 2, 13, 3, 0, 500, time.UTC)
	replayed := failed.Add(time.Hour)
	licence := json.RawMessage(`{"account":"default", "orderNumber":9,"product":1061,"action":"CANCELLICENCE"}`)
	_, opts, err := tasks.Build(tasks.TypeLicenceModify, licence)
	if err != nil {
		t.Fatal(err)
	}
	derived := taskID(opts)
	tests := []struct {
		name string
		rec  deadletter.Record
		want string
		flat bool
	}{
		{"licence", deadletter.Record{TaskID: derived, Type: tasks.TypeLicenceModify, Queue: "default", Payload: licence,
			Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4), ErrorMessage: `Invalid "product"`, ErrorItem: "product", Attempts: 1, FailedAt: failed},
			`{"type":"licence:modify","account":"default","orderNumber":9,"product":1061,"action":"CANCELLICENCE","errorCode":-4,"errorMessage":"Invalid \"product\"","errorItem":"product","reason":"permanent","attempts":1,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"` + derived + `"}`,
			true},
		{"licence with a key: its content's ID too", deadletter.Record{TaskID: "licence:modify:inv-9", Type: tasks.TypeLicenceModify, Queue: "default", Payload: licence,
			Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4), Attempts: 1, FailedAt: failed},
			`{"type":"licence:modify","account":"default","orderNumber":9,"product":1061,"action":"CANCELLICENCE","errorCode":-4,"errorMessage":"","reason":"permanent","attempts":1,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"licence:modify:inv-9","contentId":"` + derived + `"}`,
			true},
		{"replayed, HTTP status", deadletter.Record{TaskID: "ovcallback:update:1:x", Type: tasks.TypeOVCallbackUpdate,
			Payload: json.RawMessage(`{"orderNumber":"1"}`), Reason: deadletter.ReasonRetriesSpent, HTTPStatus: 503, Attempts: 11, FailedAt: failed, ReplayedAt: &replayed},
			`{"type":"ovcallback:update","orderNumber":"1","errorCode":null,"errorMessage":"","httpStatus":503,"reason":"retries-exhausted","attempts":11,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"ovcallback:update:1:x","replayedAt":"2024-02-02T14:03:00.0000005Z"}`,
			true},
		{"payload not an object", deadletter.Record{TaskID: "x:1", Type: "x", Payload: json.RawMessage(`[1, 2]`), Reason: deadletter.ReasonInvalidPayload, FailedAt: failed},
			`{"type":"x","payload":[1,2],"errorCode":null,"errorMessage":"","reason":"invalid-payload","attempts":0,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"x:1"}`,
			false},
		{"payload with a row field", deadletter.Record{TaskID: "x:2", Type: "x", Payload: json.RawMessage(`{"type":"y"}`), FailedAt: failed},
			`{"type":"x","payload":{"type":"y"},"errorCode":null,"errorMessage":"","reason":"","attempts":0,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"x:2"}`,
			false},
		{"no payload", deadletter.Record{TaskID: "x:3", Type: "x", FailedAt: failed},
			`{"type":"x","payload":null,"errorCode":null,"errorMessage":"","reason":"","attempts":0,"failedAt":"2024-02-02T13:03:00.0000005Z","taskId":"x:3"}`,
			false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, flat, err := ExportRow(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || flat != tt.flat {
				t.Errorf("ExportRow =\n%s %v\nwant\n%s %v", got, flat, tt.want, tt.flat)
			}
			if !json.Valid(got) {
				t.Errorf("not JSON: %s", got)
			}
		})
	}
}

// An exported row, read back as a backfill row, builds the task that was dead-lettered.
func TestExportRowReadsBack(t *testing.T) {
	t.Parallel()
	task, opts, err := tasks.Build(tasks.TypeOVCallbackUpdate, []byte(`{"orderNumber":"77","action":"ReplacePhone","phoneNumber":"+1 555","comments":"a \"b\"\nc"}`))
	if err != nil {
		t.Fatal(err)
	}
	id := optString(opts[:1])
	line, _, err := ExportRow(deadletter.Record{TaskID: "ignored", Type: task.Type(), Payload: task.Payload(), ErrorCode: deadletter.Code(-14), ErrorMessage: "busy", Attempts: 11, FailedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, JSONL, string(line), "")
	if err != nil || len(got) != 1 || strings.Contains(got[0], "error") {
		t.Fatalf("read back %q, %v", got, err)
	}
	d := newDecoder(JSONL, nil, "")
	typ, payload, err := d.decode(row{line: 1, data: line})
	if err != nil {
		t.Fatal(err)
	}
	again, againOpts, err := (&builder{}).build(typ, payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Payload()) != string(task.Payload()) || optString(againOpts[:1]) != id {
		t.Errorf("read back %s %s, want %s %s", again.Payload(), optString(againOpts[:1]), task.Payload(), id)
	}
}
