package providertest

import (
	"net/http"
	"net/url"
	"time"
)

// Call is one request the fake received, recorded before it was answered, so
// tests can assert exactly what a client sent and what it was told.
type Call struct {
	// Time is when the request arrived (by the fake's clock).
	Time time.Time
	// Method is the HTTP method.
	Method string
	// Path is the URL path.
	Path string
	// Endpoint is the last path segment, e.g. "!UpdateUserOvCallback".
	Endpoint string
	// Header is the request's header.
	Header http.Header
	// Form is the parsed body; nil when the body was not form-encoded
	// (wrong Content-Type, malformed encoding, too large).
	Form url.Values
	// Body is the raw body as read (up to MaxBodyBytes).
	Body string
	// TLS reports whether the request arrived over TLS.
	TLS bool
	// Code is the errorCode answered; 0 for raw bodies, 404s and dropped
	// connections. It is set before the answer is written (and before any
	// Delay), so it is final once the client has its answer.
	Code int
	// Status is the HTTP status answered; 0 for a dropped connection or a
	// client that went away while sending.
	Status int
}

// clone returns a deep copy of c, so callers cannot change the record.
func (c *Call) clone() Call {
	cc := *c
	cc.Header = c.Header.Clone()
	if c.Form != nil {
		cc.Form = make(url.Values, len(c.Form))
		for k, vs := range c.Form {
			cc.Form[k] = append([]string(nil), vs...)
		}
	}
	return cc
}
