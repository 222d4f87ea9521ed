package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ovqueue/ovqueue/provider"
)

// Int is an integer payload field that also accepts a JSON string of digits, so rows from
// systems that quote every value still decode. It encodes as a JSON number.
type Int int64

// UnmarshalJSON accepts 123 and "123".
func (n *Int) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = 0
			return nil
		}
		for _, r := range s {
			if r < '0' || r > '9' {
				return fmt.Errorf("must be an integer or a string of digits, got %q", s)
			}
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("must be an integer or a string of digits, got %s", truncate(s, 40))
	}
	*n = Int(v)
	return nil
}

// decodeAndValidate decodes a JSON object into the named destinations, then validates what it
// decoded, naming the field in every error; an unknown field is an error (the provider would
// answer -2), never dropped. Unknown fields leave the known ones whole, so their errors come
// with the validation's: a row is fixed in one go. A value that does not decode leaves its
// field empty, and rules about it, or that depend on it, would mislead: then only the
// decoding errors are reported.
func decodeAndValidate(data []byte, fields map[string]any, validate func() error) error {
	unknown, bad := decodeFields(data, fields)
	if bad != nil {
		return errors.Join(unknown, bad)
	}
	return errors.Join(unknown, validate())
}

// decodeFields decodes a JSON object into the named destinations, naming the field in every
// error. It returns the unknown fields apart from the values that could not be decoded (and a
// payload that is not a JSON object).
func decodeFields(data []byte, fields map[string]any) (unknown, bad error) {
	if len(data) > MaxPayloadBytes {
		return nil, &provider.FieldError{Field: "payload", Problem: fmt.Sprintf("larger than %d bytes (%d)", MaxPayloadBytes, len(data))}
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, &provider.FieldError{Field: "payload", Problem: "not a JSON object: " + jsonProblem(err)}
	}
	if raw == nil {
		return nil, &provider.FieldError{Field: "payload", Problem: "not a JSON object"}
	}
	if dec.More() {
		return nil, &provider.FieldError{Field: "payload", Problem: "trailing data after the JSON object"}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknowns, bads []error
	for _, k := range keys {
		dst, ok := fields[k]
		if !ok {
			unknowns = append(unknowns, &provider.FieldError{Field: k, Problem: "unknown field (never forwarded: the provider would answer -2)"})
			continue
		}
		if err := json.Unmarshal(raw[k], dst); err != nil {
			bads = append(bads, &provider.FieldError{Field: k, Problem: jsonProblem(err)})
		}
	}
	return errors.Join(unknowns...), errors.Join(bads...)
}

// jsonProblem turns a decoding error into words for a person.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.String()
		switch want {
		case "string":
			want = "a string"
		case "tasks.Int":
			want = "an integer or a string of digits"
		}
		return fmt.Sprintf("must be %s, got %s", want, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se.Error())
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
