// Package providertest is an in-process fake of the certificate provider's
// reseller API: the endpoints !UpdateUserOvCallback and
// !modifyThirdPartyDetails, as described in provider-api/README.md.
//
// The real provider cannot be reached from tests, from "worker -dev" or from
// benchmarks, so this fake stands in for it. It is written from the
// documentation alone and deliberately does not import package provider: a
// client that sends an unlisted parameter, forgets a conditional one, sends a
// badly formatted time or exceeds a length gets the same -2, -3 or -4 answer
// the provider would give, so client bugs show up in tests rather than in
// production.
//
// A Fake validates every call the way the provider does, checks credentials,
// can enforce a call limit (-42) and remembers cancelled SiteLock licences
// (-20). On top of that, tests script faults per order number (Script): error
// codes, HTTP statuses, junk bodies, delays and dropped connections, or decide
// per call with a hook (SetHook). Every request is recorded (Calls), whatever
// it was answered with, so tests can assert the exact form a client sent.
//
// Start and StartTLS serve a Fake on a loopback port; the Fake itself is an
// http.Handler and can be mounted on any server.
//
// Checks run in this order, the first failure answers:
//
//  1. unknown endpoint, or a known one whose path does not end in
//     "/products/" and its name (HTTP 404, HTML body, no errorCode);
//     body larger than MaxBodyBytes (HTTP 413);
//  2. -17 when the method is not POST; -1 when WithRequireTLS is set and the
//     request did not arrive over TLS;
//  3. -2 for a body that is not valid form encoding, then -2 for the first
//     parameter the endpoint does not list, then -4 for the first parameter
//     given more than once (both in order of appearance);
//  4. -3 for the first required parameter that is missing or empty (a body
//     sent without the form Content-Type is treated as having no parameters);
//  5. the call counts against the loginName's call limit; -16 for unknown
//     credentials; -42 when the limit is exceeded;
//  6. per parameter, in the documentation's table order: -4 when too long
//     (in characters) or invalid, -3 when a conditional parameter is missing
//     for the action (!modifyThirdPartyDetails: action, unless a detail
//     field is given);
//  7. -20 for cancelling a SiteLock licence that is already cancelled;
//  8. otherwise errorCode=0.
package providertest
