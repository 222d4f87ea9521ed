package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/tasks"
)

func TestCallback(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	insp := inspect(t, r)
	args := []string{"callback", "--order", "1234567", "--action", "ScheduledCallback", "--time", "2024-02-02 13:03", "--comments", "ring twice"}
	payload := `{"account":"default","orderNumber":"1234567","action":"ScheduledCallback","preferredTimeUTC":"2024-02-02 13:03","comments":"ring twice"}`
	id := taskID(t, tasks.TypeOVCallbackUpdate, payload)

	enqueue(t, t.Context(), r, "", args...).expect(t, cli.ExitOK, "enqueued "+id+" queue=default state=pending\n", "")
	info, err := insp.GetTaskInfo(tasks.QueueDefault, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != tasks.TypeOVCallbackUpdate || string(info.Payload) != payload || info.MaxRetry != tasks.DefaultMaxRetry+tasks.RetryReserve {
		t.Errorf("task %s %s retry %d", info.Type, info.Payload, info.MaxRetry)
	}

	// The same content again is a duplicate, reported with the existing task's state: exit 0.
	enqueue(t, t.Context(), r, "", append(args, "--json")...).expect(t, cli.ExitOK,
		`{"result":"duplicate","id":"`+id+`","queue":"default","state":"pending"}`+"\n", "")
	if n := len(queued(t, insp, tasks.QueueDefault)); n != 1 {
		t.Errorf("%d tasks in Redis, want 1", n)
	}
}

func TestCallbackKeyMakesDuplicates(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	insp := inspect(t, r)
	first := []string{"callback", "--order", "7", "--action", "ReplacePhone", "--phone", "+1 555 0100", "--key", "booking-8812", "--in", "1h"}
	enqueue(t, t.Context(), r, "", first...).expect(t, cli.ExitOK, "enqueued ovcallback:update:booking-8812 queue=default state=scheduled\n", "")
	// The same content and key again: a duplicate, nothing to warn of.
	enqueue(t, t.Context(), r, "", first...).expect(t, cli.ExitOK, "duplicate ovcallback:update:booking-8812 queue=default state=scheduled\n", "")
	// Other content, same key: the caller's idempotency key wins, and the CLI warns that the
	// other content was not enqueued.
	second := []string{"callback", "--order", "7", "--action", "ReplacePhone", "--phone", "+1 555 0199", "--key", "booking-8812"}
	warning := "enqueue callback: warning: --key: ovcallback:update:booking-8812 already names a task with other content; this one was not enqueued (give each task its own key)\n"
	enqueue(t, t.Context(), r, "", second...).expect(t, cli.ExitOK, "duplicate ovcallback:update:booking-8812 queue=default state=scheduled\n", warning)
	enqueue(t, t.Context(), r, "", append(second, "--json")...).expect(t, cli.ExitOK,
		`{"result":"duplicate","id":"ovcallback:update:booking-8812","queue":"default","state":"scheduled","differentContent":true}`+"\n", warning)
	info, err := insp.GetTaskInfo(tasks.QueueDefault, "ovcallback:update:booking-8812")
	if err != nil || !strings.Contains(string(info.Payload), "0100") || time.Until(info.NextProcessAt) < 50*time.Minute {
		t.Errorf("task %+v, %v", info, err)
	}
}

func TestLicence(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	insp := inspect(t, r)
	future := time.Now().UTC().Add(48 * time.Hour) // scheduled, whenever the test runs
	at := future.Format("2006-01-02") + " 00:00"
	payload := `{"account":"eu","orderNumber":123456,"product":1061,"action":"CANCELLICENCE","cancelType":"ON EXPIRATION"}`
	id := taskID(t, tasks.TypeLicenceModify, payload)
	for _, cmd := range []string{"licence", "license"} {
		want := "enqueued "
		if cmd == "license" {
			want = "duplicate "
		}
		enqueue(t, t.Context(), r, "", cmd, "--order", "123456", "--product", "1061", "--action", "CANCELLICENCE",
			"--cancel-type", "ON EXPIRATION", "--account", "eu", "--queue", "backfill", "--max-retry", "2", "--at", at).
			expect(t, cli.ExitOK, want+id+" queue=backfill state=scheduled\n", "")
	}
	info, err := insp.GetTaskInfo(tasks.QueueBackfill, id)
	if err != nil {
		t.Fatal(err)
	}
	wantAt, _ := time.Parse("2006-01-02 15:04", at)
	if string(info.Payload) != payload || info.MaxRetry != 2+tasks.RetryReserve || !info.NextProcessAt.Equal(wantAt) {
		t.Errorf("task %s retry %d at %s", info.Payload, info.MaxRetry, info.NextProcessAt)
	}
	// Change account details, with --at in RFC 3339.
	enqueue(t, t.Context(), r, "", "licence", "--order", "9", "--product", "700", "--codeguard-email", "ops@example.com", "--at", future.Format("2006-01-02")+"T10:00:00+02:00", "--json").
		expect(t, cli.ExitOK, `~"queue":"default","state":"scheduled"}`, "")
}

// Every bad flag is reported, naming the flag and the rule; nothing is enqueued; exit 2.
func TestFlagErrors(t *testing.T) {
	t.Parallel()
	cb := []string{"callback", "--order", "1", "--action", "sendCallbackEmail"}
	lic := []string{"licence", "--order", "1", "--product", "700", "--action", "CANCELLICENCE"}
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"callback required", []string{"callback"}, "enqueue callback: --order: required\nenqueue callback: --action: required\n"},
		{"time", append(cb[:4:4], "ScheduledCallback", "--time", "tomorrow"), `enqueue callback: --time: must be "yyyy-mm-dd hh24:mi" in UTC, e.g. "2024-02-02 13:03", got "tomorrow"` + "\n"},
		{"action", append(cb[:4:4], "scheduledcallback"), `~enqueue callback: --action: must be one of ScheduledCallback, ManualCallback, ReplacePhone, replaceEmailAddress, sendCallbackEmail, got "scheduledcallback" (the provider spells it "ScheduledCallback")`},
		{"phone required", append(cb[:4:4], "ReplacePhone"), "enqueue callback: --phone: required\n"},
		{"email", append(cb, "--email", "not-an-address"), "enqueue callback: --email: must be an e-mail address such as name@example.com\n"},
		{"extension", append(cb, "--extension", "123456"), "~enqueue callback: --extension: at most 5 characters, got 6\n"},
		{"account", append(cb, "--account", "a b"), `enqueue callback: --account: only letters, digits, '.', '_' and '-', got "a b"` + "\n"},
		{"queue", append(cb, "--queue", "urgent"), `enqueue callback: --queue: must be "default" or "backfill" (the queues workers serve), got "urgent"` + "\n"},
		{"max-retry range", append(cb, "--max-retry", "2000"), "enqueue callback: --max-retry: must be 0 to 1000, got 2000\n"},
		{"max-retry not a number", append(cb, "--max-retry", "many"), `enqueue callback: --max-retry: must be an integer, got "many"` + "\n"},
		{"key", append(cb, "--key", "has space"), `enqueue callback: --key: only letters, digits and ._:- allowed, got "has space"` + "\n"},
		{"empty key", append(cb, "--key", ""), "enqueue callback: --key: must be 1 to 100 characters, got 0\n"},
		{"in", append(cb, "--in", "soon"), `enqueue callback: --in: must be a duration such as 90s, 15m or 2h, got "soon"` + "\n"},
		{"negative in", append(cb, "--in", "-5m"), "enqueue callback: --in: must not be negative, got -5m0s\n"},
		{"at", append(cb, "--at", "02/02/2024"), `enqueue callback: --at: must be RFC 3339 (2024-02-02T13:03:00Z) or "yyyy-mm-dd hh:mm" in UTC (2024-02-02 13:03), got "02/02/2024"` + "\n"},
		{"at one-digit hour", append(cb, "--at", "2030-01-01 9:00"), `enqueue callback: --at: must be RFC 3339 (2024-02-02T13:03:00Z) or "yyyy-mm-dd hh:mm" in UTC (2024-02-02 13:03), got "2030-01-01 9:00"` + "\n"},
		{"time one-digit hour", append(cb[:4:4], "ScheduledCallback", "--time", "2030-02-02 9:03"), `enqueue callback: --time: must be "yyyy-mm-dd hh24:mi" in UTC, e.g. "2024-02-02 13:03", got "2030-02-02 9:03"` + "\n"},
		{"in and at", append(cb, "--in", "1h", "--at", "2030-01-01 00:00"), "enqueue callback: --in and --at: give one or the other\n"},
		{"empty account", append(cb, "--account", ""), `enqueue callback: --account: empty; give a value, or leave the flag out for the account named "default"` + "\n"},
		{"empty in", append(cb, "--in="), "enqueue callback: --in: empty; give a value, or leave the flag out to run the task at once\n"},
		{"empty at", append(lic, "--at", ""), "enqueue licence: --at: empty; give a value, or leave the flag out to run the task at once\n"},
		{"several at once", []string{"callback", "--order", "1", "--action", "ReplacePhone", "--queue", "x", "--in", "x"},
			"enqueue callback: --phone: required\nenqueue callback: --in: must be a duration such as 90s, 15m or 2h, got \"x\"\nenqueue callback: --queue: must be \"default\" or \"backfill\" (the queues workers serve), got \"x\"\n"},
		{"unknown flag", append(cb, "--colour", "red"), "enqueue callback: unknown flag, argument #5 (not shown: it may be part of a secret)\n"},
		{"dead's flag", append(cb, "--code", "-14"), "enqueue callback: --code is not a flag of callback (only of dead list, export and replay)\n"},
		// After a --redis-url, a flag-like argument may be a piece of its password, unquoted.
		{"unquoted password piece", append(cb, "--redis-url", "redis://:correct", "-type=battery@127.0.0.1:6379/0"), "enqueue callback: unknown flag, argument #7 (not shown: it may be part of a secret)\n"},
		{"unknown flag, a typo", append(cb, "--langauge", "en"), "enqueue callback: unknown flag, argument #5 (not shown: it may be part of a secret); did you mean --language?\n"},
		{"flag without value", append(cb, "--phone"), "enqueue callback: --phone needs a value\n"},
		{"positional", append(cb, "extra"), "enqueue callback: unexpected argument (not shown: it may be part of a secret): every value is given by a flag, and a value with spaces must be quoted\n"},
		// --redis-url with a password with spaces, not quoted.
		{"unquoted value", append(cb, "--redis-url", "redis://:correct", "horse@127.0.0.1:6379/0"), "enqueue callback: unexpected argument (not shown: it may be part of a secret): every value is given by a flag, and a value with spaces must be quoted\n"},
		{"licence required", []string{"licence"}, "enqueue licence: --order: required, a positive integer\nenqueue licence: --product: required, one of the documented product codes\nenqueue licence: --action: nothing to do: set action CANCELLICENCE or a detail field to change\n"},
		{"order", append(lic[:1:1], "--order", "12a", "--product", "700"), `enqueue licence: --order: must be an integer or a string of digits, got "12a"` + "\n"},
		{"product", append(lic[:3:3], "--product", "9999", "--action", "CANCELLICENCE"), "enqueue licence: --product: 9999 is not a documented product code\n"},
		{"cancel-type family", append(lic, "--cancel-type", "IMMEDIATELY"), "enqueue licence: --cancel-type: only for SiteLock products, not product 700 (CodeGuard)\n"},
		{"codeguard-email", append(lic, "--codeguard-email", "x"), "enqueue licence: --codeguard-email: must be an e-mail address such as name@example.com\n"},
		{"qualys on codeguard", append(lic, "--qualys-login", "q"), "enqueue licence: --qualys-login: only for HackerGuardian products, not product 700 (CodeGuard)\n"},
		// Bytes that are not UTF-8 are refused, not replaced by U+FFFD (json.Marshal's way).
		{"comments not UTF-8", append(cb, "--comments", "caf\xe9"), "enqueue callback: --comments: must be valid UTF-8\n"},
		{"order not UTF-8, and a field missing", []string{"callback", "--order", "1\xff5", "--action", "ReplacePhone"},
			"enqueue callback: --order: must be valid UTF-8\nenqueue callback: --phone: required\n"},
		{"codeguard-user not UTF-8", append(lic[:5:5], "--codeguard-user", "b\xffob"), "enqueue licence: --codeguard-user: must be valid UTF-8\n"},
	}
	r := redistest.New(t)
	insp := inspect(t, r)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.stderr
			if !strings.HasPrefix(want, "~") {
				want += "Run 'enqueue " + tt.args[0] + " --help' for usage.\n"
			}
			enqueue(t, t.Context(), r, "", tt.args...).expect(t, cli.ExitUsage, "", want)
		})
	}
	t.Cleanup(func() {
		if n := len(queued(t, insp, tasks.QueueDefault)); n != 0 {
			t.Errorf("%d tasks enqueued by bad commands", n)
		}
	})
}

func TestTaskJSON(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	o := enqueue(t, t.Context(), r, "", "licence", "--order", "5", "--product", "341", "--qualys-company", "ACME", "--json")
	var got taskResult
	if err := json.Unmarshal([]byte(o.stdout), &got); err != nil || o.code != 0 {
		t.Fatalf("stdout %q: %v (exit %d, stderr %s)", o.stdout, err, o.code, o.stderr)
	}
	if got.Result != "enqueued" || !strings.HasPrefix(got.ID, "licence:modify:5:") || got.Queue != "default" || got.State != asynq.TaskStatePending.String() {
		t.Errorf("result %+v", got)
	}
}
