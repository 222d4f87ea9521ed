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

// parseAnswer reads a form-encoded answer. It is robust to junk: url.ParseQuery returns the
// pairs it could read even when it also reports an error, so a truncated body still yields its
// errorCode; HasCode is false when there is no integer errorCode at all.
func parseAnswer(body []byte) answer {
	vals, _ := url.ParseQuery(strings.TrimSpace(string(body)))
	var a answer
	if raw, ok := vals["errorCode"]; ok && len(raw) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(raw[0])); err == nil {
			a.Code, a.HasCode = n, true
		}
	}
	a.Message = vals.Get("errorMessage")
	a.Item = vals.Get("errorItem")
	a.Detail = vals.Get("errorDetail")
	a.Result = vals.Get("result")
	return a
}
