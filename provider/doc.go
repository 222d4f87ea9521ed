// Package provider is the HTTP client for the certificate provider's two reseller endpoints
// that this project drives: !UpdateUserOvCallback (OV verification callbacks) and
// !modifyThirdPartyDetails (third-party licence changes and cancellations).
//
// It knows nothing of queues. It validates every request against the provider's documented
// rules before anything goes on the wire, sends it as a form-encoded HTTPS POST, parses the
// form-encoded answer, and turns every outcome into either a *Response (success) or an
// *Error that Classify sorts into rate-limited, transient or permanent.
//
// Credentials are carried in a type that never prints, logs or marshals its password.
package provider
