package backfill

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/tasks"
)

// A backfill spends most of its own time turning rows into tasks, and tasks.Build decodes
// payloads with a general decoder that costs three times what the rest of the work does. So
// the common row, whose every member is a field of its type with a plain value, is decoded
// here straight into the payload struct of package tasks and built with that package's own
// constructor, which validates it with the same code as tasks.Build. Anything else goes to
// tasks.Build. TestFastPathMatchesBuild checks that both give the same task, or the same
// error, for every row the fast path takes.

// builder turns a row's type and payload into a task. One builder serves one goroutine.
type builder struct {
	opts []tasks.Option
}

// build returns the task of a payload of type typ, with the builder's options.
func (b *builder) build(typ string, payload []byte) (*asynq.Task, []asynq.Option, error) {
	switch typ {
	case tasks.TypeOVCallbackUpdate:
		if p, ok := fastCallback(payload); ok {
			return tasks.NewOVCallbackTask(p, b.opts...)
		}
	case tasks.TypeLicenceModify:
		if p, ok := fastLicence(payload); ok {
			return tasks.NewLicenceTask(p, b.opts...)
		}
	}
	return tasks.Build(typ, payload, b.opts...)
}

// buildKeyed is build with the idempotency key key in place of the content-derived ID.
func (b *builder) buildKeyed(typ string, payload []byte, key string) (*asynq.Task, []asynq.Option, error) {
	opts := append(slices.Clip(b.opts), tasks.Key(key))
	return tasks.Build(typ, payload, opts...)
}

// validate reports what build would: the options were checked once for all rows, so a valid
// payload is a valid task.
func (b *builder) validate(typ string, payload []byte) error {
	switch typ {
	case tasks.TypeOVCallbackUpdate:
		if p, ok := fastCallback(payload); ok {
			return p.Validate()
		}
	case tasks.TypeLicenceModify:
		if p, ok := fastLicence(payload); ok {
			return p.Validate()
		}
	}
	_, _, err := tasks.Build(typ, payload, b.opts...)
	return err
}

// fastCallback decodes payload when every member is a field of TypeOVCallbackUpdate with a
// JSON string value.
func fastCallback(payload []byte) (tasks.OVCallbackPayload, bool) {
	var p tasks.OVCallbackPayload
	if len(payload) > tasks.MaxPayloadBytes {
		return p, false
	}
	fits := true
	scanned := scanObject(payload, func(key, value []byte) {
		var dst *string
		switch string(key) {
		case "account":
			dst = &p.Account
		case "orderNumber":
			dst = &p.OrderNumber
		case "action":
			dst = &p.Action
		case "phoneNumber":
			dst = &p.PhoneNumber
		case "emailAddress":
			dst = &p.EmailAddress
		case "preferredTimeUTC":
			dst = &p.PreferredTimeUTC
		case "extensionNumber":
			dst = &p.ExtensionNumber
		case "language":
			dst = &p.Language
		case "comments":
			dst = &p.Comments
		}
		s, ok := plainString(value)
		if dst == nil || !ok || !slices.Contains(tasks.OVCallbackFields, string(key)) {
			fits = false
			return
		}
		*dst = s
	})
	return p, scanned && fits
}

// fastLicence decodes payload when every member is a field of TypeLicenceModify, with a JSON
// string value, or for orderNumber and product an integer or a string of digits.
func fastLicence(payload []byte) (tasks.LicencePayload, bool) {
	var p tasks.LicencePayload
	if len(payload) > tasks.MaxPayloadBytes {
		return p, false
	}
	fits := true
	scanned := scanObject(payload, func(key, value []byte) {
		if !slices.Contains(tasks.LicenceFields, string(key)) {
			fits = false
			return
		}
		var num *tasks.Int
		var dst *string
		switch string(key) {
		case "orderNumber":
			num = &p.OrderNumber
		case "product":
			num = &p.Product
		case "account":
			dst = &p.Account
		case "action":
			dst = &p.Action
		case "cancelType":
			dst = &p.CancelType
		case "qualysLoginName":
			dst = &p.QualysLoginName
		case "qualysCompanyName":
			dst = &p.QualysCompanyName
		case "codeGuardUserName":
			dst = &p.CodeGuardUserName
		case "codeGuardUserEmail":
			dst = &p.CodeGuardUserEmail
		}
		switch {
		case num != nil:
			n, ok := plainInt(value)
			*num, fits = n, fits && ok
		case dst != nil:
			s, ok := plainString(value)
			*dst, fits = s, fits && ok
		default:
			fits = false
		}
	})
	return p, scanned && fits
}

// plainString decodes a JSON string as encoding/json would; false for any other value, and
// for invalid UTF-8, which encoding/json would change.
func plainString(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' || !utf8.Valid(value) {
		return "", false
	}
	if bytes.IndexByte(value, '\\') < 0 {
		return string(value[1 : len(value)-1]), true
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil || strings.ContainsRune(s, utf8.RuneError) {
		return "", false // U+FFFD may stand for an escape that is no character: tasks.Build judges
	}
	return s, true
}

// plainInt decodes 1 to 18 digits, bare or in a JSON string, as tasks.Int would; false for
// anything else (signs, spaces, fractions, empty strings), which tasks.Build then judges.
func plainInt(value []byte) (tasks.Int, bool) {
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if len(value) == 0 || len(value) > 18 {
		return 0, false
	}
	for _, c := range value {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if len(value) > 1 && value[0] == '0' {
		return 0, false // 007 is not JSON; "007" is, but leave such rows to tasks.Build
	}
	n, err := strconv.ParseInt(string(value), 10, 64)
	return tasks.Int(n), err == nil
}
