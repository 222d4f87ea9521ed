package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

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
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("out of range: %d to %d, got %s", int64(math.MinInt64), int64(math.MaxInt64), truncate(s, 40))
	}
	if err != nil {
		return fmt.Errorf("must be an integer or a string of digits, got %s", truncate(s, 40))
	}
	*n = Int(v)
	return nil
}

// decodeCanonical is the fast way for a payload as this package writes it, which is every
// payload a worker reads from a task built by the constructors: when data is exactly the
// canonical encoding (canonical) of what encoding/json makes of it (into p), no field in it is
// unknown, given twice, written in another case or of the wrong type, and what is left is
// validation, done by the caller. It reports false, leaving p to be reset, for anything else,
// which takes the strict way of decodeAndValidate. FuzzDecodeCanonical holds that both ways
// agree.
func decodeCanonical(data []byte, p any, canonical func() ([]byte, error)) bool {
	if len(data) > MaxPayloadBytes || json.Unmarshal(data, p) != nil {
		return false
	}
	c, err := canonical()
	return err == nil && bytes.Equal(c, data)
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
	notObject := func(err error) error {
		problem := "not a JSON object"
		if err != nil {
			problem += ": " + jsonProblem(err)
		}
		return &provider.FieldError{Field: "payload", Problem: problem}
	}
	if !json.Valid(data) {
		// encoding/json's own words and byte offset, as for any other JSON; or, when the
		// first value is a whole object, what follows it is the trouble.
		var v map[string]json.RawMessage
		if err := json.NewDecoder(bytes.NewReader(data)).Decode(&v); err != nil {
			return nil, notObject(err)
		}
		if v == nil {
			return nil, notObject(nil)
		}
		return nil, &provider.FieldError{Field: "payload", Problem: "trailing data after the JSON object"}
	}
	// Valid JSON from here. The object is walked a member at a time, rather than decoded into
	// a map, so that a field given twice is an error and not silently its last value.
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notObject(err)
	}
	raw := make(map[string]json.RawMessage, len(fields))
	var twice []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notObject(err)
		}
		key, _ := tok.(string) // a member's name: the decoder allows nothing else here
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, notObject(err)
		}
		if _, dup := raw[key]; dup && fields[key] != nil && !slices.Contains(twice, key) {
			twice = append(twice, key)
		}
		raw[key] = value
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notObject(err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var unknowns, bads []error
	sort.Strings(twice)
	for _, k := range twice {
		bads = append(bads, &provider.FieldError{Field: k, Problem: "given more than once (which one was meant?)"})
	}
	for _, k := range keys {
		dst, ok := fields[k]
		if !ok {
			unknowns = append(unknowns, &provider.FieldError{Field: k, Problem: "unknown field (never forwarded: the provider would answer -2)"})
			continue
		}
		if !utf8.Valid(raw[k]) {
			// encoding/json would quietly make U+FFFD of the bytes, and that is what the
			// provider would get.
			bads = append(bads, &provider.FieldError{Field: k, Problem: "not valid UTF-8"})
			continue
		}
		if err := json.Unmarshal(raw[k], dst); err != nil {
			bads = append(bads, &provider.FieldError{Field: k, Problem: jsonProblem(err)})
			continue
		}
		if s, ok := dst.(*string); ok && strings.ContainsRune(*s, utf8.RuneError) && !saysFFFD(raw[k]) {
			// A U+FFFD the JSON does not say: encoding/json made it of an escape that is no
			// character (a lone UTF-16 surrogate such as \udc80).
			bads = append(bads, &provider.FieldError{Field: k, Problem: `holds an escape that is no character (a lone UTF-16 surrogate such as \udc80)`})
		}
	}
	return errors.Join(unknowns...), errors.Join(bads...)
}

// saysFFFD reports whether a JSON value holds U+FFFD itself, as the character or as \ufffd.
func saysFFFD(raw []byte) bool {
	return bytes.ContainsRune(raw, utf8.RuneError) || bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`))
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
