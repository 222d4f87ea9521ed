package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error is every failed call: the provider answered a negative errorCode, the HTTP exchange
// failed, or the answer could not be read. It never holds the request's password.
type Error struct {
	Endpoint   string // e.g. "!modifyThirdPartyDetails"
	Action     string // the request's action, when it had one
	Code       int    // the provider's errorCode; 0 when the answer carried none
	HasCode    bool   // the answer carried an errorCode (which an HTTP error may give as 0)
	Message    string // errorMessage, or what went wrong when there was no errorCode
	Item       string // errorItem: the offending parameter
	Detail     string // errorDetail
	HTTPStatus int    // 0 when no HTTP answer arrived
	Err        error  // the underlying transport or parse error, if any

	statusInMessage bool // Message is the client's own, and names HTTPStatus
}

func (e *Error) Error() string {
	s := "provider " + e.Endpoint + ": "
	switch {
	case e.Code != 0 || e.HasCode:
		s += "errorCode " + strconv.Itoa(e.Code)
		if e.Message != "" {
			s += " " + strconv.Quote(e.Message)
		}
	case e.Message != "":
		s += e.Message
	}
	if e.Item != "" {
		s += " (errorItem " + e.Item + ")"
	}
	if e.Detail != "" {
		s += " (errorDetail " + strconv.Quote(e.Detail) + ")"
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK && !e.statusInMessage {
		s += " (HTTP " + strconv.Itoa(e.HTTPStatus) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Outcome is what a call's result means for whoever retries it.
type Outcome int

// The outcomes of a call, as the error policy in DESIGN.md defines them.
const (
	Success     Outcome = iota // errorCode >= 0, or -20 in answer to CANCELLICENCE
	RateLimited                // -42 or HTTP 429: the account must cool down
	Transient                  // may succeed later: retry with backoff
	Permanent                  // will not change by waiting: dead-letter
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case RateLimited:
		return "rate-limited"
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Documented error codes.
const (
	CodeNotHTTPS             = -1
	CodeUnknownArgument      = -2
	CodeMissingArgument      = -3
	CodeInvalidValue         = -4
	CodeUnknownError         = -14
	CodeNotEnoughCredit      = -15
	CodePermissionDenied     = -16
	CodeNotPOST              = -17
	CodeAlreadyRefunded      = -18
	CodeAlreadyCancelled     = -20
	CodeCallLimit            = -42
	CodeNotActivated         = -76
	CodeContextDenied        = -91
	CodeNoPriceFound         = -115
	codeNone             int = 0
)

// permanentCodes will not change by waiting.
var permanentCodes = map[int]bool{
	CodeNotHTTPS: true, CodeUnknownArgument: true, CodeMissingArgument: true, CodeInvalidValue: true,
	CodeNotEnoughCredit: true, CodePermissionDenied: true, CodeNotPOST: true, CodeAlreadyRefunded: true,
	CodeAlreadyCancelled: true, CodeNotActivated: true, CodeContextDenied: true, CodeNoPriceFound: true,
}

// IsDocumented reports whether code is one of the documented error codes (the Code constants).
func IsDocumented(code int) bool {
	return permanentCodes[code] || code == CodeUnknownError || code == CodeCallLimit
}

// Classify sorts the result of a call into the outcomes of the error policy. It is the one
// place that decides what is retried: nil is Success; validation errors (ErrInvalid) are
// Permanent; an *Error is judged by its HTTP status and errorCode; anything else (a context
// deadline, a connection error) is Transient.
func Classify(err error) Outcome {
	if err == nil {
		return Success
	}
	if errors.Is(err, ErrInvalid) {
		return Permanent
	}
	var pe *Error
	if !errors.As(err, &pe) {
		return Transient
	}
	if IsAlreadyCancelled(pe) {
		return Success
	}
	switch {
	case pe.Code == CodeCallLimit || pe.HTTPStatus == http.StatusTooManyRequests:
		return RateLimited
	case pe.HTTPStatus >= 500:
		return Transient
	case pe.HTTPStatus >= 300 && pe.HTTPStatus != 0:
		// Other 4xx, and redirects (which are never followed: a POST must not turn into a GET).
		return Permanent
	case pe.Code == codeNone:
		// No errorCode: a junk body, a timeout, a dropped connection.
		return Transient
	case pe.Code > 0:
		return Success
	case permanentCodes[pe.Code]:
		return Permanent
	}
	// -14 and every code the documentation does not list.
	return Transient
}

// IsAlreadyCancelled reports whether err is the provider's -20 in answer to CANCELLICENCE: the
// licence is already cancelled, so the goal of the call is met.
func IsAlreadyCancelled(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Code == CodeAlreadyCancelled &&
		pe.Endpoint == EndpointModifyThirdPartyDetails && pe.Action == ActionCancelLicence
}

// errorf builds an *Error for a failure that has no errorCode.
func errorf(endpoint, action string, status int, cause error, format string, args ...any) *Error {
	return &Error{Endpoint: endpoint, Action: action, HTTPStatus: status, Err: cause, Message: fmt.Sprintf(format, args...)}
}
