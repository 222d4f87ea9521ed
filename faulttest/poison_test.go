package faulttest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/tasks"
)

// TestPoisonPayloads enqueues tasks that no valid producer would write: payloads that are not
// JSON, that fail validation, that are huge or deeply nested, of an unknown type or for an
// unknown account. The worker dead-letters each at once with a reason that names the problem,
// never calls the provider for them, never retries them, never panics, and goes on to complete
// a valid task enqueued after them.
func TestPoisonPayloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	huge := `{"orderNumber":1,"product":1009,"action":"CANCELLICENCE","qualysLoginName":"` + strings.Repeat("x", 4<<20) + `"}`
	tests := []struct {
		name, typ, payload string
		reason             string // the dead-letter reason
		says               string // what the reason's message must contain
	}{
		{"not JSON", tasks.TypeLicenceModify, "orderNumber=1&product=1009", deadletter.ReasonInvalidPayload, "not a JSON object"},
		{"binary", tasks.TypeOVCallbackUpdate, "\x00\xff\xfe\x01garbage", deadletter.ReasonInvalidPayload, "not a JSON object"},
		{"empty", tasks.TypeLicenceModify, "", deadletter.ReasonInvalidPayload, "payload"},
		{"JSON array", tasks.TypeLicenceModify, `[1,2,3]`, deadletter.ReasonInvalidPayload, "not a JSON object"},
		{"truncated JSON", tasks.TypeOVCallbackUpdate, `{"orderNumber":"12345","action":"Sched`, deadletter.ReasonInvalidPayload, "not a JSON object"},
		{"trailing data", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1009,"action":"CANCELLICENCE"} {}`, deadletter.ReasonInvalidPayload, "trailing data"},
		{"missing order", tasks.TypeLicenceModify, `{"product":1009,"action":"CANCELLICENCE"}`, deadletter.ReasonInvalidPayload, "orderNumber"},
		{"unknown product", tasks.TypeLicenceModify, `{"orderNumber":2,"product":99999,"action":"CANCELLICENCE"}`, deadletter.ReasonInvalidPayload, "product"},
		{"unknown field", tasks.TypeLicenceModify, `{"orderNumber":3,"product":1009,"loginPassword":"x"}`, deadletter.ReasonInvalidPayload, "loginPassword"},
		{"wrong JSON type", tasks.TypeOVCallbackUpdate, `{"orderNumber":{"a":1},"action":"sendCallbackEmail"}`, deadletter.ReasonInvalidPayload, "orderNumber"},
		{"bad callback time", tasks.TypeOVCallbackUpdate, `{"orderNumber":"4","action":"ScheduledCallback","preferredTimeUTC":"tomorrow"}`, deadletter.ReasonInvalidPayload, "preferredTimeUTC"},
		{"huge", tasks.TypeLicenceModify, huge, deadletter.ReasonInvalidPayload, "larger than"},
		{"deeply nested", tasks.TypeLicenceModify, strings.Repeat("[", 100000) + strings.Repeat("]", 100000), deadletter.ReasonInvalidPayload, "larger than"},
		{"nested below the size limit", tasks.TypeOVCallbackUpdate, `{"comments":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, deadletter.ReasonInvalidPayload, "max depth"},
		{"unknown type", "licence:delete", `{"orderNumber":5,"product":1009}`, deadletter.ReasonUnknownType, "licence:delete"},
		{"unknown account", tasks.TypeLicenceModify, `{"account":"nobody","orderNumber":6,"product":1009,"action":"CANCELLICENCE"}`, deadletter.ReasonPermanent, "nobody"},
	}
	id := func(i int) string { return fmt.Sprintf("poison-%02d", i) }
	for i, tt := range tests {
		_, err := e.client.Enqueue(asynq.NewTask(tt.typ, []byte(tt.payload)),
			asynq.TaskID(id(i)), asynq.MaxRetry(10), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatalf("%s: enqueue: %v", tt.name, err)
		}
	}
	w := e.startWorker("w", map[string]string{"WORKER_CONCURRENCY": "4"})

	waitUntil(t, "every poison task archived", 30*time.Second, func() (bool, string) {
		q := e.queue(tasks.QueueDefault)
		return q.Archived == len(tests), counts(q)
	})
	// Nothing loops: no task comes back, and the worker stays up for a valid task after them.
	e.enqueueLicences(900, 1)
	e.waitDone(tasks.QueueDefault, 1, len(tests), 30*time.Second)
	if q := e.queue(tasks.QueueDefault); q.Archived != len(tests) || q.Retry != 0 {
		t.Fatalf("after the valid task: %s, want %d archived and none to retry", counts(q), len(tests))
	}
	if calls := e.fake.Calls(); len(calls) != 1 || calls[0].Form.Get("orderNumber") != "900" {
		t.Errorf("%d provider calls, want only the valid task's: a poison payload reached the provider", len(calls))
	}

	records := map[string]deadletter.Record{}
	for _, r := range e.deadLetters() {
		if _, dup := records[r.TaskID]; dup {
			t.Errorf("task %s dead-lettered twice", r.TaskID)
		}
		records[r.TaskID] = r
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := records[id(i)]
			if !ok {
				t.Fatalf("no dead-letter record for %s", id(i))
			}
			t.Logf("%s: %s", r.Reason, r.ErrorMessage)
			if r.Reason != tt.reason || !strings.Contains(r.ErrorMessage, tt.says) {
				t.Errorf("dead letter: reason %q, message %q; want reason %q and a message naming %q", r.Reason, r.ErrorMessage, tt.reason, tt.says)
			}
			if len(r.ErrorMessage) > 2000 {
				t.Errorf("the reason is %d bytes long: not a clear reason", len(r.ErrorMessage))
			}
			info, err := e.insp.GetTaskInfo(tasks.QueueDefault, id(i))
			if err != nil {
				t.Fatal(err)
			}
			if info.State != asynq.TaskStateArchived || info.Retried != 0 || info.LastErr == "" {
				t.Errorf("task: state %s, retried %d, last error %q; want archived at once with the reason", info.State, info.Retried, info.LastErr)
			}
		})
	}
	if out := w.out.String(); strings.Contains(out, "handler panicked") {
		t.Errorf("a handler panicked:\n%s", tail(out, 40))
	}
	w.stopAndExpectZero()
}
