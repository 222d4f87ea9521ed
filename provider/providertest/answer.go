package providertest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error codes the provider documents (or is known to answer on other
// endpoints). Tests script them by name rather than by magic number.
const (
	CodeOK                   = 0    // success
	CodeNotHTTPS             = -1   // request was not made over HTTPS
	CodeUnrecognisedArgument = -2   // a parameter the endpoint does not list
	CodeMissingArgument      = -3   // a required or conditional parameter is missing
	CodeInvalidArgument      = -4   // a value fails validation (or a parameter is repeated)
	CodeUnknownError         = -14  // the provider failed; transient
	CodeNotEnoughCredit      = -15  // seen on other endpoints
	CodePermissionDenied     = -16  // wrong login, locked account, blocked IP
	CodeNotPOST              = -17  // method was not POST
	CodeAlreadyRefunded      = -18  // SiteLock order already refunded
	CodeAlreadyCancelled     = -20  // SiteLock order already cancelled
	CodeCallLimit            = -42  // call-rate limit reached; transient
	CodeNotActivated         = -76  // partner account not activated (message not documented)
	CodeContextDenied        = -91  // permission denied for this context (message not documented)
	CodeNoPrice              = -115 // no price found (message not documented)
)

// argumentPlaceholder is the spot in the -3 and -4 messages where the
// provider names the argument.
const argumentPlaceholder = "xxxx"

var messages = map[int]string{
	CodeNotHTTPS:             "Request was not made over https!",
	CodeUnrecognisedArgument: "Unrecognised argument!",
	CodeMissingArgument:      "The 'xxxx' argument is missing!",
	CodeInvalidArgument:      "The value of the 'xxxx' argument is invalid!",
	CodeUnknownError:         "An unknown error occurred!",
	CodeNotEnoughCredit:      "Not enough credit",
	CodePermissionDenied:     "Permission denied!",
	CodeNotPOST:              "Request used GET rather than POST!",
	CodeAlreadyRefunded:      "Order already refunded",
	CodeAlreadyCancelled:     "Order already cancelled",
	CodeCallLimit:            "Call limit reached! Please try again later.",
	// Not documented word for word; plausible texts so scripted answers
	// carry a message.
	CodeNotActivated:  "Partner account not activated!",
	CodeContextDenied: "Permission denied for this context!",
	CodeNoPrice:       "No price found!",
}

// Message returns the provider's documented errorMessage for code, or "" for
// success and for codes without a known message. The -3 and -4 messages
// contain the placeholder 'xxxx' where the provider names the argument.
func Message(code int) string {
	return messages[code]
}

// messageFor is Message with the argument's name filled in.
func messageFor(code int, item string) string {
	m := Message(code)
	if item != "" && (code == CodeMissingArgument || code == CodeInvalidArgument) {
		m = strings.Replace(m, argumentPlaceholder, item, 1)
	}
	return m
}

// Answer scripts one response of the fake, from a well-formed error answer
// to a dropped connection. The zero Answer is a plain success (errorCode=0).
type Answer struct {
	// Code is the errorCode to answer (0 = success).
	Code int
	// Message is the errorMessage; when empty, the documented message for
	// Code (with 'xxxx' replaced by Item for -3 and -4), if there is one.
	Message string
	// Item is the errorItem: the offending argument.
	Item string
	// Detail is the errorDetail.
	Detail string
	// Result is the result parameter of a success.
	Result string
	// HTTPStatus is the HTTP status; 0 means 200.
	HTTPStatus int
	// Header holds extra response headers, such as Retry-After with a 429.
	// A Content-Length larger than the body makes the client see a
	// truncated answer (unexpected EOF).
	Header http.Header
	// Body, when non-nil, is written verbatim instead of the form-encoded
	// answer: junk, HTML, an empty or a truncated body.
	Body *string
	// ContentType is the Content-Type of Body; when empty it is sniffed
	// from Body. The form-encoded answer always has
	// application/x-www-form-urlencoded.
	ContentType string
	// Delay is how long to wait before answering; the wait ends early, with
	// no answer, when the request's context ends.
	Delay time.Duration
	// Drop closes the connection without answering (after Delay). It needs
	// an http.Hijacker (HTTP/1 servers); otherwise ServeHTTP panics with
	// http.ErrAbortHandler, which net/http servers treat as an abort.
	Drop bool
}

// Err returns an Answer for an error code with its documented message, item
// naming the offending argument ("" for none).
func Err(code int, item string) Answer {
	return Answer{Code: code, Item: item}
}

// Raw returns an Answer that writes body verbatim with the given HTTP status
// (0 means 200), as a broken proxy or a half-deployed provider would.
func Raw(status int, body string) Answer {
	return Answer{HTTPStatus: status, Body: &body}
}

// recordedCode is the errorCode a Call records for a: 0 when no
// form-encoded answer is written.
func (a Answer) recordedCode() int {
	if a.Drop || a.Body != nil {
		return 0
	}
	return a.Code
}

// status is the HTTP status written for a, 0 for a dropped connection.
func (a Answer) status() int {
	switch {
	case a.Drop:
		return 0
	case a.HTTPStatus == 0:
		return http.StatusOK
	default:
		return a.HTTPStatus
	}
}

// encode returns the form-encoded body of a.
func (a Answer) encode() string {
	v := url.Values{}
	v.Set("errorCode", strconv.Itoa(a.Code))
	msg := a.Message
	if msg == "" {
		msg = messageFor(a.Code, a.Item)
	}
	if msg != "" {
		v.Set("errorMessage", msg)
	}
	if a.Item != "" {
		v.Set("errorItem", a.Item)
	}
	if a.Detail != "" {
		v.Set("errorDetail", a.Detail)
	}
	if a.Result != "" {
		v.Set("result", a.Result)
	}
	return v.Encode()
}

// write sends a (which is neither dropped nor delayed any more) to w.
func (a Answer) write(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range a.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	var body string
	if a.Body != nil {
		body = *a.Body
		ct := a.ContentType
		if ct == "" && body != "" {
			ct = http.DetectContentType([]byte(body))
		}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
	} else {
		body = a.encode()
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(a.status())
	_, _ = w.Write([]byte(body))
}
