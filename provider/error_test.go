package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cb, lic := EndpointUpdateUserOvCallback, EndpointModifyThirdPartyDetails
	code := func(endpoint, action string, c int) error {
		return &Error{Endpoint: endpoint, Action: action, Code: c, HTTPStatus: 200}
	}
	status := func(s int) error { return &Error{Endpoint: cb, HTTPStatus: s, Message: "x"} }
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"nil", nil, Success},
		{"positive code", code(cb, "", 1), Success},
		{"-20 on cancel", code(lic, ActionCancelLicence, -20), Success},
		{"-20 wrapped", fmt.Errorf("call: %w", code(lic, ActionCancelLicence, -20)), Success},
		{"-20 on details", code(lic, "", -20), Permanent},
		{"-20 on callback", code(cb, ActionScheduledCallback, -20), Permanent},
		{"-42", code(cb, "", -42), RateLimited},
		{"429", status(429), RateLimited},
		{"429 with a code", &Error{Endpoint: cb, HTTPStatus: 429, Code: -14}, RateLimited},
		{"-14", code(lic, "", -14), Transient},
		{"unknown negative", code(lic, "", -999), Transient},
		{"500", status(500), Transient},
		{"503 with code", &Error{Endpoint: cb, HTTPStatus: 503, Code: -4}, Transient},
		{"404", status(404), Permanent},
		{"400 with -14", &Error{Endpoint: cb, HTTPStatus: 400, Code: -14}, Permanent},
		{"302", status(302), Permanent},
		{"no errorCode", &Error{Endpoint: cb, HTTPStatus: 200, Message: "answer without errorCode"}, Transient},
		{"connection refused", &Error{Endpoint: cb, Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, Transient},
		{"deadline", &Error{Endpoint: cb, Err: context.DeadlineExceeded}, Transient},
		{"bare deadline", context.DeadlineExceeded, Transient},
		{"validation", &FieldError{Field: "orderNumber", Problem: "required"}, Permanent},
		{"joined validation", errors.Join(&FieldError{Field: "a", Problem: "b"}, &FieldError{Field: "c", Problem: "d"}), Permanent},
	}
	for _, c := range []int{-1, -2, -3, -4, -15, -16, -17, -18, -76, -91, -115} {
		tests = append(tests, struct {
			name string
			err  error
			want Outcome
		}{fmt.Sprintf("code %d", c), code(lic, ActionCancelLicence, c), Permanent})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	e := &Error{Endpoint: EndpointModifyThirdPartyDetails, Code: -4, Message: "The value of the 'product' argument is invalid!", Item: "product", HTTPStatus: 200}
	want := `provider !modifyThirdPartyDetails: errorCode -4 "The value of the 'product' argument is invalid!" (errorItem product)`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	cause := errors.New("dial tcp: refused")
	e2 := &Error{Endpoint: EndpointUpdateUserOvCallback, Message: "call failed", Err: cause}
	if !errors.Is(e2, cause) {
		t.Error("Error must unwrap to its cause")
	}
	if e2.Error() != "provider !UpdateUserOvCallback: call failed: dial tcp: refused" {
		t.Errorf("got %s", e2.Error())
	}
	// The status is named once: after a message of the provider's, and not again after the
	// client's own message for an answer without text, which names it.
	for _, tc := range []struct {
		name string
		e    *Error
		want string
	}{
		{"the client's message", &Error{Endpoint: EndpointUpdateUserOvCallback, HTTPStatus: 500, Message: "HTTP 500 (text/plain, 4 bytes)", statusInMessage: true},
			"provider !UpdateUserOvCallback: HTTP 500 (text/plain, 4 bytes)"},
		{"the client's message beside a code", &Error{Endpoint: EndpointUpdateUserOvCallback, HTTPStatus: 429, HasCode: true, Message: "HTTP 429 (application/x-www-form-urlencoded, 11 bytes)", statusInMessage: true},
			`provider !UpdateUserOvCallback: errorCode 0 "HTTP 429 (application/x-www-form-urlencoded, 11 bytes)"`},
		{"the provider's message, beginning like the client's", &Error{Endpoint: EndpointUpdateUserOvCallback, HTTPStatus: 503, Code: -14, Message: "HTTP 503 busy"},
			`provider !UpdateUserOvCallback: errorCode -14 "HTTP 503 busy" (HTTP 503)`},
		{"the provider's message", &Error{Endpoint: EndpointUpdateUserOvCallback, HTTPStatus: 502, Code: -14, Message: "try later"},
			`provider !UpdateUserOvCallback: errorCode -14 "try later" (HTTP 502)`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%s: got  %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
