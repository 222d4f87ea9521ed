package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ovqueue/ovqueue/internal/cli"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// payloadFlag is a flag that sets one payload field.
type payloadFlag struct {
	field, flag, usage string
}

// callbackFlags are the flags of `enqueue callback`, one per field of ovcallback:update.
var callbackFlags = []payloadFlag{
	{"orderNumber", "order", "the OV order's `number` (required)"},
	{"action", "action", "the `action`: ScheduledCallback, ManualCallback, ReplacePhone, replaceEmailAddress or sendCallbackEmail (required)"},
	{"preferredTimeUTC", "time", "the callback's `time`, \"yyyy-mm-dd hh24:mi\" in UTC (required by ScheduledCallback and ManualCallback)"},
	{"phoneNumber", "phone", "the new phone `number` (required by ReplacePhone)"},
	{"emailAddress", "email", "the new e-mail `address` (required by replaceEmailAddress)"},
	{"extensionNumber", "extension", "a phone `extension` (ScheduledCallback and ManualCallback only)"},
	{"language", "language", "the `language` of the call"},
	{"comments", "comments", "`text` for the provider's verification team"},
}

// licenceFlags are the flags of `enqueue licence`, one per field of licence:modify.
var licenceFlags = []payloadFlag{
	{"orderNumber", "order", "the licence's order `number` (required)"},
	{"product", "product", "the product `code` (required), e.g. 700 CodeGuard, 1061 SiteLock Pro"},
	{"action", "action", "`CANCELLICENCE` to cancel; leave out to change the account details"},
	{"cancelType", "cancel-type", "`WHEN` a SiteLock licence is cancelled: IMMEDIATELY or \"ON EXPIRATION\""},
	{"qualysLoginName", "qualys-login", "the HackerGuardian (Qualys) login `name`"},
	{"qualysCompanyName", "qualys-company", "the HackerGuardian (Qualys) company `name`"},
	{"codeGuardUserName", "codeguard-user", "the CodeGuard user `name`"},
	{"codeGuardUserEmail", "codeguard-email", "the CodeGuard user's e-mail `address`"},
}

func (a *app) callback(ctx context.Context, args []string) error {
	return a.one(ctx, args, "callback", tasks.TypeOVCallbackUpdate, callbackFlags, callbackUsage, callbackMore)
}

func (a *app) licence(ctx context.Context, args []string) error {
	return a.one(ctx, args, "licence", tasks.TypeLicenceModify, licenceFlags, licenceUsage, licenceMore)
}

// newOneFlags returns the flag set of the command that enqueues one task, name, whose
// payload fields are fields; the values of those flags, in order; and the common flags.
func newOneFlags(name string, fields []payloadFlag) (*flag.FlagSet, []*string, *taskFlags) {
	fs := newFlagSet(name)
	values := make([]*string, len(fields))
	for i, f := range fields {
		values[i] = fs.String(f.flag, "", f.usage)
	}
	tf := &taskFlags{}
	tf.register(fs, tasks.QueueDefault)
	return fs, values, tf
}

// one enqueues one task of type typ, its payload from the command's flags.
func (a *app) one(ctx context.Context, args []string, name, typ string, fields []payloadFlag, usage, more string) error {
	fs, values, tf := newOneFlags(name, fields)
	positional, done, err := a.parse(fs, args, usage, more)
	if done || err != nil {
		return err
	}
	if len(positional) > 0 {
		return cli.Usagef("unexpected argument (not shown: it may be part of a secret): every value is given by a flag, and a value with spaces must be quoted")
	}

	payload := map[string]string{}
	flagOf := map[string]string{}
	var badText []error
	for i, f := range fields {
		flagOf[f.field] = f.flag
		if *values[i] != "" {
			payload[f.field] = *values[i]
		}
	}
	if tf.account != "" {
		payload["account"] = tf.account
	}
	bad := map[string]bool{}
	names := make([]string, 0, len(fields)+1)
	for _, f := range fields {
		names = append(names, f.field)
	}
	for _, field := range append(names, "account") {
		if v, ok := payload[field]; ok && !utf8.ValidString(v) {
			// json.Marshal would put U+FFFD in place of the bad bytes, and the task would
			// carry, and send, a value other than the one given.
			badText = append(badText, &provider.FieldError{Field: field, Problem: "must be valid UTF-8"})
			bad[field] = true
			// Kept (mended), so that the other fields' checks run as they would with it.
			payload[field] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	opts, optErr := tf.options(fs)
	_, _, payloadErr := tasks.Build(typ, data)
	if len(badText) > 0 {
		// The mended value's own problems are beside the point.
		fes := provider.FieldErrors(payloadErr)
		if len(fes) == 0 && payloadErr != nil {
			badText = append(badText, payloadErr)
		}
		for _, fe := range fes {
			if !bad[fe.Field] {
				badText = append(badText, fe)
			}
		}
		payloadErr = errors.Join(badText...)
	}
	if err := errors.Join(flagErrors(payloadErr, flagOf), optErr); err != nil {
		return cli.Usage(err)
	}
	task, taskOpts, err := tasks.Build(typ, data, opts...)
	if err != nil {
		return cli.Usage(flagErrors(err, flagOf))
	}

	rdb, err := tf.redis.open(ctx, a.getenv, a.stderr, 1)
	if err != nil {
		return err
	}
	defer rdb.Close()
	res, err := tasks.NewEnqueuer(rdb).Enqueue(ctx, task, taskOpts...)
	if err != nil {
		return cli.Failed(err)
	}
	return a.printEnqueued(name, tf.json, res)
}

// printEnqueued writes one task's outcome: "enqueued ID queue=Q state=S" or
// "duplicate ID queue=Q state=S", or the same as a JSON object. A duplicate of other content
// (a --key given before to another task) is still a duplicate, with a warning on stderr.
func (a *app) printEnqueued(name string, asJSON bool, res tasks.Enqueued) error {
	result := "enqueued"
	if res.Duplicate {
		result = "duplicate"
	}
	if res.DifferentContent {
		fmt.Fprintf(a.stderr, "enqueue %s: warning: --key: %s already names a task with other content; this one was not enqueued (give each task its own key)\n", name, res.ID)
	}
	if asJSON {
		return a.writeJSON(taskResult{Result: result, ID: res.ID, Queue: res.Queue, State: res.State, DifferentContent: res.DifferentContent})
	}
	_, err := fmt.Fprintf(a.stdout, "%s %s queue=%s state=%s\n", result, res.ID, res.Queue, res.State)
	return err
}

// taskResult is one task's outcome in JSON.
type taskResult struct {
	Result string `json:"result"` // enqueued, duplicate, replayed
	ID     string `json:"id"`
	Queue  string `json:"queue"`
	State  string `json:"state"`
	From   string `json:"from,omitempty"` // replay: archive or record
	// DifferentContent: a duplicate whose task has other content (a --key given before).
	DifferentContent bool `json:"differentContent,omitempty"`
}

// writeJSON writes v as one line of JSON to stdout.
func (a *app) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = a.stdout.Write(append(b, '\n'))
	return err
}
