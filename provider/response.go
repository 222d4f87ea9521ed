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
// happened, but not so lenient that a page about the API reads as an answer of it:
//   - a UTF-8 byte-order mark and surrounding white space are ignored;
//   - a body that starts with '<' (an HTML or XML page) is no answer, whatever it shows;
//   - pairs are separated by '&', or also by line breaks when every line is made of name=value
//     pairs (some gateways answer one pair a line); otherwise a line break belongs to a value;
//   - a value that is not valid form encoding (a bare '%') is taken as it is, and ';' is part of
//     a value (url.ParseQuery drops such pairs, and the provider sends messages unencoded);
//   - the first of a repeated name wins, except errorCode: two different errorCodes are no
//     answer at all (an ambiguous answer must not be taken for a success).
//
// HasCode is false when there is no integer errorCode, or two different ones.
func parseAnswer(body []byte) answer {
	text := strings.TrimSpace(strings.TrimPrefix(string(body), "\uFEFF"))
	if strings.HasPrefix(text, "<") {
		return answer{}
	}
	seps := "&"
	if strings.Contains(text, "\n") && linesArePairs(text) {
		seps = "&\n"
	}
	vals := map[string]string{}
	conflict := false // two different errorCodes
	for text != "" {
		var pair string
		i := strings.IndexAny(text, seps)
		if i < 0 {
			pair, text = text, ""
		} else {
			pair, text = text[:i], text[i+1:]
		}
		if seps != "&" {
			pair = strings.TrimSuffix(pair, "\r")
		}
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

// linesArePairs reports whether every non-empty line of text is made of name=value pairs
// joined by '&', each name a plain identifier (letters, digits, '_').
func linesArePairs(text string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		for pair := range strings.SplitSeq(line, "&") {
			name, _, ok := strings.Cut(pair, "=")
			if !ok || !isIdentifier(name) {
				return false
			}
		}
	}
	return true
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// formText decodes one form-encoded name or value; text that is not valid form encoding was
// not encoded, and is returned as it is.
func formText(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
