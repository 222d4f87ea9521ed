package tasks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		typ    string
		in     string
		fields []string // fields named by the error; nil = valid
		want   string   // substring of the error
	}{
		{"callback ok", tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"ScheduledCallback","preferredTimeUTC":"2024-02-02 13:03"}`, nil, ""},
		{"licence ok numbers", tasks.TypeLicenceModify, `{"orderNumber":123,"product":1060,"action":"CANCELLICENCE"}`, nil, ""},
		{"licence ok strings", tasks.TypeLicenceModify, `{"orderNumber":"123","product":" 1060 ","action":"CANCELLICENCE","account":"eu-1"}`, nil, ""},
		{"unknown field", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1060,"action":"CANCELLICENCE","loginPassword":"x"}`, []string{"loginPassword"}, "unknown field"},
		// Unknown fields leave the others whole: their rules are checked too, so a row is fixed in one go.
		{"unknown field and a broken rule", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1060,"action":"CANCEL","foo":1}`, []string{"foo", "action"}, "action: must be"},
		// A field given twice is ambiguous: never silently its last value.
		{"field twice", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1060,"orderNumber":2,"action":"CANCELLICENCE","orderNumber":3}`, []string{"orderNumber"}, "orderNumber: given more than once"},
		{"trailing object", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1060,"action":"CANCELLICENCE"} {}`, []string{"payload"}, "trailing data"},
		{"trailing junk", tasks.TypeLicenceModify, `{"orderNumber":1,"product":1060,"action":"CANCELLICENCE"}x`, []string{"payload"}, "trailing data"},
		{"trailing space is fine", tasks.TypeLicenceModify, "{\"orderNumber\":1,\"product\":1060,\"action\":\"CANCELLICENCE\"}\n ", nil, ""},
		{"null", tasks.TypeLicenceModify, `null`, []string{"payload"}, "not a JSON object"},
		{"array", tasks.TypeLicenceModify, `[1]`, []string{"payload"}, "not a JSON object"},
		{"truncated", tasks.TypeLicenceModify, `{"orderNumber":1,`, []string{"payload"}, "not a JSON object"},
		// A value that does not decode leaves its field empty: rules about it would mislead.
		{"bad value hides rules", tasks.TypeOVCallbackUpdate, `{"orderNumber":5,"action":"ReplacePhone"}`, []string{"orderNumber"}, "must be a string"},
		{"order not digits", tasks.TypeLicenceModify, `{"orderNumber":"12a","product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, `orderNumber: must be an integer or a string of digits, got "12a"`},
		{"order out of range below", tasks.TypeLicenceModify, `{"orderNumber":-99999999999999999999,"product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, `orderNumber: out of range: -9223372036854775808 to 9223372036854775807, got -99999999999999999999`},
		{"order just out of range", tasks.TypeLicenceModify, `{"orderNumber":"9223372036854775808","product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, `orderNumber: out of range: -9223372036854775808 to 9223372036854775807, got 9223372036854775808`},
		{"order number out of range", tasks.TypeLicenceModify, `{"orderNumber":99999999999999999999,"product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, `orderNumber: out of range: -9223372036854775808 to 9223372036854775807, got 99999999999999999999`},
		{"order float", tasks.TypeLicenceModify, `{"orderNumber":1.5,"product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, "must be an integer"},
		{"order too big", tasks.TypeLicenceModify, `{"orderNumber":"99999999999999999999","product":1060,"action":"CANCELLICENCE"}`, []string{"orderNumber"}, "orderNumber: out of range: -9223372036854775808 to 9223372036854775807, got 99999999999999999999"},
		{"callback order number type", tasks.TypeOVCallbackUpdate, `{"orderNumber":1,"action":"sendCallbackEmail"}`, []string{"orderNumber"}, "orderNumber: must be a string, got number"},
		{"not an object", tasks.TypeOVCallbackUpdate, `[1,2]`, []string{"payload"}, "not a JSON object"},
		{"not json", tasks.TypeOVCallbackUpdate, `{"orderNumber":`, []string{"payload"}, "not a JSON object"},
		{"null", tasks.TypeOVCallbackUpdate, `null`, []string{"payload"}, "not a JSON object"},
		{"trailing", tasks.TypeOVCallbackUpdate, `{} {}`, []string{"payload"}, "trailing"},
		{"huge", tasks.TypeOVCallbackUpdate, `{"comments":"` + strings.Repeat("x", 70<<10) + `"}`, []string{"payload"}, "larger than"},
		// encoding/json would make U+FFFD of the bytes, and the provider would get that.
		{"invalid UTF-8", tasks.TypeOVCallbackUpdate, "{\"orderNumber\":\"1\",\"action\":\"sendCallbackEmail\",\"comments\":\"caf\xe9\"}", []string{"comments"}, "comments: not valid UTF-8"},
		{"invalid UTF-8 in a licence", tasks.TypeLicenceModify, "{\"orderNumber\":1,\"product\":341,\"qualysLoginName\":\"q\xff\"}", []string{"qualysLoginName"}, "not valid UTF-8"},
		{"lone surrogate", tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":"a\udc80b"}`, []string{"comments"}, "lone UTF-16 surrogate"},
		{"U+FFFD said in the JSON is text", tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":"a\uFFFDb �"}`, nil, ""},
		{"validation after decode", tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"ReplacePhone"}`, []string{"phoneNumber"}, "phoneNumber: required"},
		{"bad account", tasks.TypeLicenceModify, `{"account":"a b","orderNumber":1,"product":1060,"action":"CANCELLICENCE"}`, []string{"account"}, "account: only letters"},
		{"several", tasks.TypeLicenceModify, `{"orderNumber":"x","product":"y","colour":"red"}`, []string{"colour", "orderNumber", "product"}, ""},
		{"no type", "", `{}`, []string{"type"}, "type: required"},
		{"bad type", "licence:cancel", `{}`, []string{"type"}, `got "licence:cancel"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := tasks.Build(tt.typ, []byte(tt.in))
			var got []string
			for _, fe := range provider.FieldErrors(err) {
				got = append(got, fe.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields %v, want %v (err %v)", got, tt.fields, err)
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func optsOf(opts []asynq.Option) map[asynq.OptionType]any {
	m := map[asynq.OptionType]any{}
	for _, o := range opts {
		m[o.Type()] = o.Value()
	}
	return m
}

func TestTaskIDAndDefaults(t *testing.T) {
	t.Parallel()
	p := tasks.LicencePayload{OrderNumber: 123, Product: 1060, Action: provider.ActionCancelLicence}
	task, opts, err := tasks.NewLicenceTask(p)
	if err != nil {
		t.Fatal(err)
	}
	o := optsOf(opts)
	id := o[asynq.TaskIDOpt].(string)
	if !strings.HasPrefix(id, "licence:modify:123:") || len(id) != len("licence:modify:123:")+16 {
		t.Errorf("id %q", id)
	}
	// The defaults as DESIGN and README state them, written out: not read from the constants.
	if o[asynq.QueueOpt] != "default" || o[asynq.MaxRetryOpt] != 10+1 ||
		o[asynq.RetentionOpt] != 24*time.Hour || o[asynq.TimeoutOpt] != 5*time.Minute {
		t.Errorf("defaults %v", o)
	}
	const canonical = `{"account":"default","orderNumber":123,"product":1060,"action":"CANCELLICENCE"}`
	if got := string(task.Payload()); got != canonical {
		t.Errorf("canonical payload %s", got)
	}
	// <type>:<orderNumber>:<first 16 hex digits of the SHA-256 of the canonical payload>.
	sum := sha256.Sum256([]byte(canonical))
	if want := "licence:modify:123:" + hex.EncodeToString(sum[:])[:16]; id != want {
		t.Errorf("id %q, want %q", id, want)
	}

	// The same content from a differently-typed row has the same ID; other content another.
	_, opts2, err := tasks.Build(tasks.TypeLicenceModify, []byte(`{"product":"1060","orderNumber":"123","action":"CANCELLICENCE","account":"default"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := optsOf(opts2)[asynq.TaskIDOpt]; got != id {
		t.Errorf("same content, id %v != %v", got, id)
	}
	p.CancelType = provider.CancelOnExpiration
	_, opts3, _ := tasks.NewLicenceTask(p)
	if optsOf(opts3)[asynq.TaskIDOpt] == id {
		t.Error("different content, same id")
	}

	_, opts4, err := tasks.NewLicenceTask(p, tasks.Key("inv-2024-0001"), tasks.Queue(tasks.QueueBackfill), tasks.MaxRetry(3))
	if err != nil {
		t.Fatal(err)
	}
	o4 := optsOf(opts4)
	if o4[asynq.TaskIDOpt] != "licence:modify:inv-2024-0001" || o4[asynq.QueueOpt] != "backfill" || o4[asynq.MaxRetryOpt] != 3+tasks.RetryReserve {
		t.Errorf("options %v", o4)
	}
	for name, opt := range map[string]tasks.Option{
		"queue": tasks.Queue("urgent"), "key": tasks.Key("has space"), "maxRetry": tasks.MaxRetry(-1),
		"timeout": tasks.Timeout(500 * time.Millisecond), "processIn": tasks.ProcessIn(-time.Second),
		"processAt": tasks.ProcessAt(time.Time{}),
	} {
		if _, _, err := tasks.NewLicenceTask(p, opt); err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("option %s: err %v", name, err)
		}
	}

	// A nil option is ignored, as asynq ignores one.
	if _, opts5, err := tasks.NewLicenceTask(p, nil, tasks.Queue(tasks.QueueBackfill), nil); err != nil || optsOf(opts5)[asynq.QueueOpt] != "backfill" {
		t.Errorf("nil options: %v, %v", opts5, err)
	}

	// asynq keeps a timeout in whole seconds: a fraction is rounded up, never down to nothing.
	for d, want := range map[time.Duration]time.Duration{time.Second: time.Second, 1500 * time.Millisecond: 2 * time.Second, time.Minute: time.Minute} {
		_, opts, err := tasks.NewLicenceTask(p, tasks.Timeout(d))
		if err != nil {
			t.Fatal(err)
		}
		if got := optsOf(opts)[asynq.TimeoutOpt]; got != want {
			t.Errorf("Timeout(%s): asynq's timeout %v, want %s", d, got, want)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	in := tasks.OVCallbackPayload{Account: "eu", OrderNumber: "55", Action: provider.ActionReplacePhone, PhoneNumber: "+1 555", Comments: "ok"}
	task, _, err := tasks.NewOVCallbackTask(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tasks.DecodeOVCallback(task.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip %+v != %+v", out, in)
	}
	var m map[string]any
	_ = json.Unmarshal(task.Payload(), &m)
	for k := range m {
		if k == "emailAddress" || k == "preferredTimeUTC" {
			t.Errorf("empty field %s stored", k)
		}
	}
}

// An importer that changes the exported list of queues changes nothing of what is accepted.
func TestQueuesCannotBeChangedFromOutside(t *testing.T) { // not parallel: it changes a package variable
	saved := tasks.Queues[1]
	tasks.Queues[1] = "critical"
	defer func() { tasks.Queues[1] = saved }()
	p := tasks.LicencePayload{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence}
	if _, _, err := tasks.NewLicenceTask(p, tasks.Queue("critical")); err == nil {
		t.Error("a queue added to tasks.Queues from outside is accepted")
	}
	if _, _, err := tasks.NewLicenceTask(p, tasks.Queue(saved)); err != nil {
		t.Errorf("queue %s, taken out of tasks.Queues from outside, is refused: %v", saved, err)
	}
}

// Destination reads back the ID and queue a constructor set, for a Lookup before EnqueueNew.
func TestDestination(t *testing.T) {
	t.Parallel()
	p := tasks.LicencePayload{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence}
	_, opts, err := tasks.NewLicenceTask(p, tasks.Key("inv-1"), tasks.Queue(tasks.QueueBackfill))
	if err != nil {
		t.Fatal(err)
	}
	if id, queue := tasks.Destination(opts); id != "licence:modify:inv-1" || queue != "backfill" {
		t.Errorf("Destination = %q, %q; want licence:modify:inv-1, backfill", id, queue)
	}
	if id, queue := tasks.Destination(nil); id != "" || queue != "default" {
		t.Errorf("Destination(nil) = %q, %q; want no ID, queue default", id, queue)
	}
}
