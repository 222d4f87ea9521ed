package provider

import (
	"net/url"
	"strconv"
	"strings"
)

// Response is a successful answer (errorCode >= 0).
type Response struct {
	Code       int    // errorCode: 0, or a positive code such as 1 ("success, payment required")
	Message    string // errorMessage, if any
	Result     string // result, when the endpoint returns one
	HTTPStatus int
}

// answer is every field the provider may put in a form-encoded answer.
type answer struct {
	Code    int
	HasCode bool
	Message string
	Item    string
	Detail  string
	Result  string
}

// minMasked is the shortest password masked in answers: a shorter one would also blank the
// same letters in ordinary words.
const minMasked = 4

// withoutPassword returns a with every copy of password in its texts replaced by [redacted]:
// an answer that quotes the request (a provider's error page may) must not carry the password
// on into logs, the task's last error and the dead-letter record.
func (a answer) withoutPassword(password string) answer {
	if len(password) < minMasked {
		return a
	}
	// As sent in the form, too: an answer may quote the request undecoded.
	forms := []string{password}
	if q := url.QueryEscape(password); q != password {
		forms = append(forms, q)
	}
	for _, s := range []*string{&a.Message, &a.Item, &a.Detail, &a.Result} {
		for _, f := range forms {
			*s = strings.ReplaceAll(*s, f, redacted)
		}
	}
	return a
}

// parseAnswer reads a form-encoded answer. It is lenient, as a reader of another party's
// answers must be, because misreading a success as "no errorCode" repeats a call that already
// happened:
//   - a UTF-8 byte-order mark and surrounding white space are ignored;
//   - pairs may be separated by '&' or by line breaks (some gateways answer one per line);
//   - a value that is not valid form encoding (a bare '%') is taken as it is, and ';' is part of
//     a value (url.ParseQuery drops such pairs, and the provider sends messages unencoded);
//   - the first of a repeated name wins, except errorCode: two different errorCodes are no
//     answer at all (an ambiguous answer must not be taken for a success).
//
// HasCode is false when there is no integer errorCode at all, or more than one.
func parseAnswer(body []byte) answer {
	text := strings.TrimSpace(strings.TrimPrefix(string(body), "\uFEFF"))
	vals := map[string]string{}
	conflict := false // two different errorCodes
	for text != "" {
		var pair string
		i := strings.IndexAny(text, "&\n")
		if i < 0 {
			pair, text = text, ""
		} else {
			pair, text = text[:i], text[i+1:]
		}
		pair = strings.TrimSuffix(pair, "\r")
		name, value, _ := strings.Cut(pair, "=")
		name, value = formText(name), formText(value)
		if first, seen := vals[name]; !seen && name != "" {
			vals[name] = value
		} else if name == "errorCode" && strings.TrimSpace(first) != strings.TrimSpace(value) {
			conflict = true
		}
	}
	var a answer
	if raw, ok := vals["errorCode"]; ok && !conflict {
		if n, err := strconv.Atoi(strings.TrimSpace(raw)); err == nil {
			a.Code, a.HasCode = n, true
		}
	}
	a.Message = vals["errorMessage"]
	a.Item = vals["errorItem"]
	a.Detail = vals["errorDetail"]
	a.Result = vals["result"]
	return a
}

// formText decodes one form-encoded name or value; text that is not valid form encoding was
// not encoded, and is returned as it is.
func formText(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
