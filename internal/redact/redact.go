// Package redact blanks secrets in text the product keeps or shows but did not write itself:
// task payloads as a producer sent them.
package redact

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
)

// passwordMember matches, in text that is not JSON, a member whose name says it holds a
// password, with its value: quoted (even left open) or bare. passwordParam matches a
// form-encoded one: loginPassword=….
var (
	passwordMember = regexp.MustCompile(`(?i)("[^"]*password[^"]*"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)`)
	passwordParam  = regexp.MustCompile(`(?i)(password[^=&\s"]*=)[^&\s]*`)
)

// Passwords blanks the value of every member of a payload whose name says it is a
// password, at any depth and whatever the value, and returns p itself when there is none.
// Payloads have no such field; one that carries it anyway (a billing system that put its login
// in, and was refused for the unknown field) must not have it copied into the dead-letter
// record, which is never trimmed and which dead export writes out, nor shown by the UI.
// JSON is decoded and walked (names with escapes included); anything else is matched as text.
func Passwords(p []byte) []byte {
	if !bytes.Contains(bytes.ToLower(p), []byte("password")) && !bytes.Contains(p, []byte(`\u`)) {
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if !redactPasswords(v) {
			return p
		}
		if b, err := json.Marshal(v); err == nil {
			return b
		}
	}
	p = passwordMember.ReplaceAll(p, []byte(`${1}"[redacted]"`))
	return passwordParam.ReplaceAll(p, []byte(`${1}[redacted]`))
}

// redactPasswords replaces, in a decoded JSON value, every value under a name that says it is a
// password, and reports whether it replaced any.
func redactPasswords(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.Contains(strings.ToLower(k), "password") {
				x[k], changed = "[redacted]", true
				continue
			}
			changed = redactPasswords(e) || changed
		}
	case []any:
		for _, e := range x {
			changed = redactPasswords(e) || changed
		}
	}
	return changed
}
