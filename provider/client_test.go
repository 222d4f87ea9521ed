package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
)

func newClient(t *testing.T, opts ...providertest.Option) (*provider.Client, *providertest.Server, provider.Credentials) {
	t.Helper()
	srv, err := providertest.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := provider.New(srv.URL, provider.WithTimeout(2*time.Second), provider.WithUserAgent("test-agent/1"))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv, creds
}

func TestClientSendsExactForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		call     func(context.Context, *provider.Client, provider.Credentials) (*provider.Response, error)
		endpoint string
		want     url.Values
	}{
		{
			name: "scheduled callback",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.UpdateUserOvCallback(ctx, cr, provider.OVCallbackRequest{OrderNumber: "1234567", Action: provider.ActionScheduledCallback, PreferredTimeUTC: "2024-02-02 13:03"})
			},
			endpoint: "!UpdateUserOvCallback",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "action": {"ScheduledCallback"},
				"orderNumber": {"1234567"}, "preferredTimeUTC": {"2024-02-02 13:03"}},
		},
		{
			name: "manual callback with every optional field",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.UpdateUserOvCallback(ctx, cr, provider.OVCallbackRequest{OrderNumber: "77", Action: provider.ActionManualCallback,
					PreferredTimeUTC: "2030-12-31 23:59", ExtensionNumber: "204", Language: "en", Comments: "call after 5 & ask for Ann",
					PhoneNumber: "+1 555 0100", EmailAddress: "ann@example.com"})
			},
			endpoint: "!UpdateUserOvCallback",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "action": {"ManualCallback"},
				"orderNumber": {"77"}, "preferredTimeUTC": {"2030-12-31 23:59"}, "extensionNumber": {"204"}, "language": {"en"},
				"comments": {"call after 5 & ask for Ann"}, "phoneNumber": {"+1 555 0100"}, "emailAddress": {"ann@example.com"}},
		},
		{
			name: "replace phone sends no empty fields",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.UpdateUserOvCallback(ctx, cr, provider.OVCallbackRequest{OrderNumber: "9", Action: provider.ActionReplacePhone, PhoneNumber: "0161 000"})
			},
			endpoint: "!UpdateUserOvCallback",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "action": {"ReplacePhone"},
				"orderNumber": {"9"}, "phoneNumber": {"0161 000"}},
		},
		{
			name: "cancel sitelock on expiration",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.ModifyThirdPartyDetails(ctx, cr, provider.LicenceRequest{OrderNumber: 123456, Product: 1061, Action: provider.ActionCancelLicence, CancelType: provider.CancelOnExpiration})
			},
			endpoint: "!modifyThirdPartyDetails",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "orderNumber": {"123456"},
				"product": {"1061"}, "action": {"CANCELLICENCE"}, "cancelType": {"ON EXPIRATION"}},
		},
		{
			name: "hackerguardian details without action",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.ModifyThirdPartyDetails(ctx, cr, provider.LicenceRequest{OrderNumber: 5, Product: 341, QualysLoginName: "qualys_login_name"})
			},
			endpoint: "!modifyThirdPartyDetails",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "orderNumber": {"5"},
				"product": {"341"}, "qualysLoginName": {"qualys_login_name"}},
		},
		{
			name: "codeguard details",
			call: func(ctx context.Context, c *provider.Client, cr provider.Credentials) (*provider.Response, error) {
				return c.ModifyThirdPartyDetails(ctx, cr, provider.LicenceRequest{OrderNumber: 6, Product: 702, CodeGuardUserName: "cg", CodeGuardUserEmail: "cg@example.com"})
			},
			endpoint: "!modifyThirdPartyDetails",
			want: url.Values{"loginName": {"demo"}, "loginPassword": {"demo-password"}, "orderNumber": {"6"},
				"product": {"702"}, "codeGuardUserName": {"cg"}, "codeGuardUserEmail": {"cg@example.com"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv, creds := newClient(t)
			resp, err := tt.call(t.Context(), c, creds)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if resp.Code != 0 {
				t.Errorf("code = %d, want 0", resp.Code)
			}
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			got := calls[0]
			if got.Method != http.MethodPost || got.Endpoint != tt.endpoint || !strings.HasSuffix(got.Path, "/products/"+tt.endpoint) {
				t.Errorf("call = %s %s (%s)", got.Method, got.Path, got.Endpoint)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			if ua := got.Header.Get("User-Agent"); ua != "test-agent/1" {
				t.Errorf("User-Agent = %q", ua)
			}
			if got.Form.Encode() != tt.want.Encode() {
				t.Errorf("form\n got  %s\n want %s", got.Form.Encode(), tt.want.Encode())
			}
		})
	}
}

func TestClientRefusesInvalidRequestWithoutCalling(t *testing.T) {
	t.Parallel()
	c, srv, creds := newClient(t)
	_, err := c.UpdateUserOvCallback(t.Context(), creds, provider.OVCallbackRequest{OrderNumber: "1", Action: provider.ActionScheduledCallback})
	if !errors.Is(err, provider.ErrInvalid) || provider.Classify(err) != provider.Permanent {
		t.Fatalf("err = %v, want a permanent validation error", err)
	}
	if !strings.Contains(err.Error(), "preferredTimeUTC: required") {
		t.Errorf("error %q should name preferredTimeUTC", err)
	}
	_, err = c.ModifyThirdPartyDetails(t.Context(), creds, provider.LicenceRequest{OrderNumber: 1, Product: 999, Action: provider.ActionCancelLicence})
	if !errors.Is(err, provider.ErrInvalid) {
		t.Fatalf("err = %v, want validation error", err)
	}
	if n := srv.CallCount(); n != 0 {
		t.Errorf("%d calls reached the provider, want 0", n)
	}
	if _, err := c.ModifyThirdPartyDetails(t.Context(), provider.Credentials{}, provider.LicenceRequest{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("zero credentials: err = %v", err)
	}
}

func body(s string) *string { return &s }

func TestClientOutcomes(t *testing.T) {
	t.Parallel()
	cancel := provider.LicenceRequest{OrderNumber: 42, Product: 1060, Action: provider.ActionCancelLicence}
	tests := []struct {
		name     string
		script   []providertest.Answer
		req      provider.LicenceRequest
		creds    [2]string
		outcome  provider.Outcome
		code     int
		item     string
		status   int
		contains string
	}{
		{name: "success", outcome: provider.Success},
		{name: "success payment required", script: []providertest.Answer{{Code: 1}}, outcome: provider.Success, code: 1},
		{name: "wrong password", creds: [2]string{"demo", "wrong"}, outcome: provider.Permanent, code: -16, contains: "Permission denied!"},
		{name: "unknown error", script: []providertest.Answer{{Code: -14}}, outcome: provider.Transient, code: -14},
		{name: "call limit", script: []providertest.Answer{{Code: -42}}, outcome: provider.RateLimited, code: -42},
		{name: "http 429", script: []providertest.Answer{{HTTPStatus: 429, Body: body("slow down")}}, outcome: provider.RateLimited, status: 429},
		{name: "invalid value with item", script: []providertest.Answer{{Code: -4, Item: "product"}}, outcome: provider.Permanent, code: -4, item: "product", contains: "errorItem product"},
		{name: "not enough credit", script: []providertest.Answer{{Code: -15}}, outcome: provider.Permanent, code: -15},
		{name: "unknown negative code", script: []providertest.Answer{{Code: -999, Message: "new"}}, outcome: provider.Transient, code: -999},
		{name: "already cancelled", script: []providertest.Answer{{Code: -20}}, outcome: provider.Success, code: -20},
		{name: "html error page", script: []providertest.Answer{{Body: body("<html><body>Service Unavailable</body></html>")}}, outcome: provider.Transient, contains: "without errorCode"},
		{name: "empty body", script: []providertest.Answer{{Body: body("")}}, outcome: provider.Transient, contains: "without errorCode"},
		{name: "truncated body keeps its code", script: []providertest.Answer{{Body: body("errorCode=-4&errorMessage=The%20val")}}, outcome: provider.Permanent, code: -4},
		{name: "junk errorCode", script: []providertest.Answer{{Body: body("errorCode=abc")}}, outcome: provider.Transient, contains: "without errorCode"},
		{name: "bad escape still read", script: []providertest.Answer{{Body: body("errorCode=-3&errorMessage=%zz&errorItem=orderNumber")}}, outcome: provider.Permanent, code: -3, item: "orderNumber"},
		{name: "http 502", script: []providertest.Answer{{HTTPStatus: 502, Body: body("<h1>Bad gateway</h1>")}}, outcome: provider.Transient, status: 502, contains: "HTTP 502"},
		{name: "http 404", script: []providertest.Answer{{HTTPStatus: 404, Body: body("not found")}}, outcome: provider.Permanent, status: 404},
		{name: "http 4xx with errorCode 0", script: []providertest.Answer{{HTTPStatus: 499, Body: body("errorCode=0")}}, outcome: provider.Permanent, status: 499, contains: "HTTP 499 ("},
		{name: "answer quoting the password", script: []providertest.Answer{{Code: -16, Message: "Permission denied for demo/" + providertest.DefaultLoginPassword,
			Detail: "loginPassword=" + providertest.DefaultLoginPassword}}, outcome: provider.Permanent, code: -16, contains: "Permission denied for demo/[redacted]"},
		{name: "dropped connection", script: []providertest.Answer{{Drop: true}}, outcome: provider.Transient, contains: "call failed"},
		{name: "timeout", script: []providertest.Answer{{Delay: 5 * time.Second}}, outcome: provider.Transient, contains: "deadline exceeded"},
		{name: "huge answer", script: []providertest.Answer{{Body: body("errorCode=0&result=" + strings.Repeat("x", 70<<10))}}, outcome: provider.Transient, contains: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv, creds := newClient(t)
			c2, err := provider.New(srv.URL, provider.WithTimeout(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if tt.creds[0] != "" {
				if creds, err = provider.NewCredentials(tt.creds[0], tt.creds[1]); err != nil {
					t.Fatal(err)
				}
			}
			if tt.name == "timeout" {
				c = c2
			}
			req := cancel
			srv.Script("42", tt.script...)
			resp, err := c.ModifyThirdPartyDetails(t.Context(), creds, req)
			if got := provider.Classify(err); got != tt.outcome {
				t.Fatalf("outcome %v, want %v (err %v)", got, tt.outcome, err)
			}
			if err != nil {
				if strings.Contains(err.Error(), providertest.DefaultLoginPassword) {
					t.Errorf("error text holds the password: %v", err)
				}
				if tt.contains != "" && !strings.Contains(err.Error(), tt.contains) {
					t.Errorf("error %q does not contain %q", err, tt.contains)
				}
				if tt.status != 0 && strings.Count(err.Error(), fmt.Sprintf("HTTP %d", tt.status)) != 1 {
					t.Errorf("error %q does not name HTTP %d once", err, tt.status)
				}
				var pe *provider.Error
				if !errors.As(err, &pe) {
					t.Fatalf("err %T is not *provider.Error", err)
				}
				if strings.Contains(pe.Message+pe.Item+pe.Detail, providertest.DefaultLoginPassword) {
					t.Errorf("error fields hold the password: %+v", pe)
				}
				if pe.Code != tt.code || pe.Item != tt.item || pe.Endpoint != provider.EndpointModifyThirdPartyDetails {
					t.Errorf("error = %+v, want code %d item %q", pe, tt.code, tt.item)
				}
				if tt.status != 0 && pe.HTTPStatus != tt.status {
					t.Errorf("status = %d, want %d", pe.HTTPStatus, tt.status)
				}
				return
			}
			if resp == nil || resp.Code != tt.code {
				t.Errorf("resp = %+v, want code %d", resp, tt.code)
			}
		})
	}
}

// An answer that quotes the password, in whatever form the request carried it or none, does
// not carry it on: not in the error's text, nor in any of its fields.
func TestClientMasksThePasswordAsSent(t *testing.T) {
	t.Parallel()
	c, srv, _ := newClient(t)
	// "&errorDetail=" in a password splits an unencoded quote of it into two of the answer's
	// fields: only the body as it came still holds it whole.
	passwords := []string{"p@ss w/rd&1", "s3cr&t p@ss+word", "ab%41cd+ef%zz", "plain-password", "pw&errorDetail=s3cretpart", `it's "pw"`}
	for i, password := range passwords {
		creds, err := provider.NewCredentials("demo", password)
		if err != nil {
			t.Fatal(err)
		}
		// Every form in which the password must not come out, whichever way it went in.
		leaks := []string{password, url.QueryEscape(password), url.PathEscape(password)}
		if d, err := url.QueryUnescape(password); err == nil {
			leaks = append(leaks, d)
		}
		if d, err := url.QueryUnescape(url.PathEscape(password)); err == nil {
			leaks = append(leaks, d)
		}
		if _, part, ok := strings.Cut(password, "errorDetail="); ok {
			leaks = append(leaks, part)
		}
		jsonQuoted, _ := json.Marshal(password) // "&" as \u0026
		leaks = append(leaks, html.EscapeString(password), strings.Trim(string(jsonQuoted), `"`), phpHTML(password), jsEscapeEvery(password),
			rawURLEncode(password), escapeEvery(password), lowerHex(url.QueryEscape(password)), rawURLEncode(rawURLEncode(password)))
		answers := map[string]providertest.Answer{
			"form-encoded":                   {Code: -16, Message: "denied: loginName=demo&loginPassword=" + url.QueryEscape(password)},
			"every field":                    {Code: -16, Message: "bad " + password, Item: password, Detail: "was " + password},
			"unencoded":                      providertest.Raw(200, "errorCode=-16&errorMessage=bad password "+password+"&errorDetail=sent "+password),
			"path-encoded":                   providertest.Raw(200, "errorCode=-16&errorMessage=bad password "+url.PathEscape(password)),
			"every byte escaped, lower case": providertest.Raw(200, "errorCode=-16&errorMessage=bad password "+escapeEvery(password)),
			"HTTP 500 page":                  providertest.Raw(500, "errorCode=-14&errorMessage=loginPassword="+password),
			"HTML-escaped":                   {Code: -16, Message: `<input name="loginPassword" value="` + html.EscapeString(password) + `">`},
			"in a JSON string":               {Code: -16, Message: `{"loginPassword":` + string(jsonQuoted) + `}`},
			// Escaped as other languages do (PHP's htmlspecialchars, every other character as
			// \uXXXX in upper case): not one of the client's forms, so the text is withheld.
			"HTML-escaped, PHP":         {Code: -16, Message: "value=" + phpHTML(password)},
			"JSON, every character \\u": {Code: -16, Item: `"` + jsEscapeEvery(password) + `"`},
			// Percent-encoded in the text itself, as other languages encode (JavaScript's
			// encodeURIComponent, PHP's rawurlencode), or byte by byte in lower case.
			"quoted rawurlencoded":                {Code: -16, Message: "login refused for loginPassword=" + rawURLEncode(password)},
			"quoted, every byte escaped, lower":   {Code: -16, Detail: "sent " + escapeEvery(password)},
			"quoted form-encoded, lower-case hex": {Code: -16, Message: "loginPassword=" + lowerHex(url.QueryEscape(password))},
			"quoted rawurlencoded twice":          {Code: -16, Item: "loginPassword=" + rawURLEncode(rawURLEncode(password))},
			"redirect, path rawurlencoded": {HTTPStatus: http.StatusFound, Body: new(string), Header: http.Header{"Location": {
				"https://login.example/p/" + rawURLEncode(password)}}},
			"redirect": {HTTPStatus: http.StatusFound, Body: new(string), Header: http.Header{"Location": {
				"https://login.example/p/" + url.PathEscape(password) + "?loginName=demo&loginPassword=" + url.QueryEscape(password) + "#" + password}}},
		}
		for name, ans := range answers {
			order := 7000 + i*100 + len(name) // distinct per case
			for srv.PendingScripts() > 0 {
				time.Sleep(time.Millisecond)
			}
			srv.Script(strconv.Itoa(order), ans)
			_, err = c.ModifyThirdPartyDetails(t.Context(), creds, provider.LicenceRequest{OrderNumber: int64(order), Product: 1060, Action: provider.ActionCancelLicence})
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%q, %s: err %v, want a provider error", password, name, err)
			}
			// Every error of the chain, not only the text: a caller may log the *url.Error it
			// finds with errors.As.
			texts := append(chainTexts(err), pe.Message, pe.Item, pe.Detail)
			for _, text := range texts {
				for _, leak := range leaks {
					if strings.Contains(text, leak) {
						t.Errorf("%q, %s: %q holds the password as %q", password, name, text, leak)
					}
				}
			}
			if !strings.Contains(err.Error(), "[redacted]") && name != "redirect" {
				t.Errorf("%q, %s: %q, want the password shown as [redacted]", password, name, err)
			}
			// A Location that net/http cannot parse (a raw "%zz" in it) fails the call before
			// the client sees the answer: its text is blanked all the same.
			if name == "redirect" && !strings.Contains(err.Error(), "redirected to https://login.example/p/") &&
				!strings.Contains(err.Error(), "failed to parse Location") {
				t.Errorf("%q, redirect: %q, want the target's host and path", password, err)
			}
		}
	}
}

// chainTexts returns the text of err and of every error in its chain.
func chainTexts(err error) []string {
	if err == nil {
		return nil
	}
	texts := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		texts = append(texts, chainTexts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			texts = append(texts, chainTexts(e)...)
		}
	}
	return texts
}

// phpHTML escapes s as PHP's htmlspecialchars does, quotes included.
func phpHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&#039;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// jsEscapeEvery writes every character of s as a \uXXXX escape, in upper case.
func jsEscapeEvery(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04X`, r)
	}
	return b.String()
}

// rawURLEncode percent-encodes s as JavaScript's encodeURIComponent does (a space as %20, and
// every reserved character, "+" and "&" among them).
func rawURLEncode(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// lowerHex writes the hex digits of s's %XX escapes in lower case.
func lowerHex(s string) string {
	return regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(s, strings.ToLower)
}

// escapeEvery percent-encodes every byte of s, in lower case: a form that no encoder of the
// client's own produces, and that reads back as s.
func escapeEvery(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, "%%%02x", s[i])
	}
	return b.String()
}

// A password that matches part of an answer's own text (a field name, the code) must not
// change what the answer says: blanking it before reading the errorCode took a success for an
// answer without one, and the call was made again.
func TestClientPasswordLikeTheAnswersOwnText(t *testing.T) {
	t.Parallel()
	c, srv, _ := newClient(t)
	for i, tt := range []struct {
		password string
		answer   providertest.Answer
		code     int
	}{
		{"Code", providertest.Answer{Result: "ok"}, 0},
		{"error", providertest.Answer{Result: "ok"}, 0},
		{"rror", providertest.Answer{Code: 1, Message: "payment required"}, 1},
		{"Code=0", providertest.Raw(200, "errorCode=0&result=ok"), 0},
		{"1234", providertest.Raw(200, "errorCode=1234&errorMessage=fine"), 1234},
	} {
		creds, err := provider.NewCredentials("demo", tt.password)
		if err != nil {
			t.Fatal(err)
		}
		order := 7600 + i
		srv.Script(strconv.Itoa(order), tt.answer)
		resp, err := c.ModifyThirdPartyDetails(t.Context(), creds, provider.LicenceRequest{OrderNumber: int64(order), Product: 1060, Action: provider.ActionCancelLicence})
		if err != nil || resp.Code != tt.code {
			t.Errorf("password %q: %+v, %v; want a success with code %d", tt.password, resp, err, tt.code)
		}
	}
}

// HasCode tells an errorCode of 0 in an HTTP error from no errorCode at all.
// A password that holds "&errorCode=", quoted unencoded by an answer, must not lend the answer
// its code: a -16 that quotes it stays a -16 (read as two codes it would be retried, and
// repeated -16 calls may lock the account).
func TestClientPasswordHoldingAnErrorCode(t *testing.T) {
	t.Parallel()
	c, srv, _ := newClient(t)
	for i, tt := range []struct {
		answer   providertest.Answer
		outcome  provider.Outcome
		code     int
		password string
	}{
		{providertest.Raw(200, "errorCode=-16&errorMessage=bad login pw&errorCode=0"), provider.Permanent, -16, "pw&errorCode=0"},
		{providertest.Raw(200, "errorMessage=login failed for pw&errorCode=0"), provider.Transient, 0, "pw&errorCode=0"},
	} {
		creds, err := provider.NewCredentials("demo", tt.password)
		if err != nil {
			t.Fatal(err)
		}
		order := 7800 + i
		srv.Script(strconv.Itoa(order), tt.answer)
		_, err = c.ModifyThirdPartyDetails(t.Context(), creds, provider.LicenceRequest{OrderNumber: int64(order), Product: 1060, Action: provider.ActionCancelLicence})
		var pe *provider.Error
		if provider.Classify(err) != tt.outcome || !errors.As(err, &pe) || pe.Code != tt.code {
			t.Errorf("answer %d: %v (%v), want %v with code %d", i, err, provider.Classify(err), tt.outcome, tt.code)
		}
	}
}

func TestClientErrorHasCode(t *testing.T) {
	t.Parallel()
	c, srv, creds := newClient(t)
	for i, tt := range []struct {
		answer providertest.Answer
		want   bool
	}{
		{providertest.Raw(499, "errorCode=0"), true},
		{providertest.Raw(503, "errorCode=-14&errorMessage=busy"), true},
		{providertest.Answer{Code: -4, Item: "product"}, true},
		{providertest.Raw(503, "<h1>down</h1>"), false},
		{providertest.Raw(200, "maintenance"), false},
	} {
		order := 7700 + i
		srv.Script(strconv.Itoa(order), tt.answer)
		_, err := c.ModifyThirdPartyDetails(t.Context(), creds, provider.LicenceRequest{OrderNumber: int64(order), Product: 1060, Action: provider.ActionCancelLicence})
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.HasCode != tt.want {
			t.Errorf("answer %d: %v (%+v), want HasCode %v", i, err, pe, tt.want)
		}
	}
}

func TestClientOverTLSAndNoRedirects(t *testing.T) {
	t.Parallel()
	srv, err := providertest.StartTLS(providertest.WithRequireTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := provider.New(srv.URL, provider.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	if _, err := c.UpdateUserOvCallback(t.Context(), creds, provider.OVCallbackRequest{OrderNumber: "1", Action: provider.ActionSendCallbackEmail}); err != nil {
		t.Fatalf("TLS call: %v", err)
	}

	// A redirect would turn the POST into a GET and may carry the form elsewhere.
	var hits int
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	rc, err := provider.New(redirect.URL + "/products/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.UpdateUserOvCallback(t.Context(), creds, provider.OVCallbackRequest{OrderNumber: "1", Action: provider.ActionSendCallbackEmail})
	if provider.Classify(err) != provider.Permanent || !strings.Contains(err.Error(), "redirected to https://elsewhere.example/") {
		t.Fatalf("redirect: %v", err)
	}
	if hits != 1 {
		t.Errorf("%d requests, want 1", hits)
	}
}

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, err string }{
		{in: "https://secure.trust-provider.com/products/", want: "https://secure.trust-provider.com/products/"},
		{in: "https://secure.trust-provider.com/products", want: "https://secure.trust-provider.com/products/"},
		{in: "http://127.0.0.1:8081/products/", want: "http://127.0.0.1:8081/products/"},
		{in: "http://localhost/products/", want: "http://localhost/products/"},
		{in: "http://LocalHost:8081/products/", want: "http://LocalHost:8081/products/"},
		{in: "http://[::1]:99/p/", want: "http://[::1]:99/p/"},
		{in: "http://provider.example/products/", err: "http is only allowed for a loopback host"},
		{in: "ftp://provider.example/", err: "scheme must be https"},
		{in: "/products/", err: "must be absolute"},
		{in: "https://user:hunter2@provider.example/", err: "must not contain a login"},
		{in: "https://provider.example/?a=b", err: "query"},
		{in: "https://provider.example/products/?", err: "query"},
		{in: "https://127.0.0.1:99999/products/", err: `port must be 1 to 65535, got "99999"`},
		{in: "https://provider.example:0/", err: `port must be 1 to 65535, got "0"`},
		{in: "https://provider.example:/", err: `port must be 1 to 65535, got ""`},
		{in: "https://provider.example:65535/", want: "https://provider.example:65535/"},
	}
	for _, tt := range tests {
		u, err := provider.ParseBaseURL(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseBaseURL(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the URL's password: %v", err)
			}
		case err != nil:
			t.Errorf("ParseBaseURL(%q): %v", tt.in, err)
		case u.String() != tt.want:
			t.Errorf("ParseBaseURL(%q) = %s, want %s", tt.in, u, tt.want)
		}
	}
}

// TestClientReusesConnections: concurrent callers keep their connections between calls
// instead of opening new ones (Go's default transport keeps only 2 idle per host).
func TestClientReusesConnections(t *testing.T) {
	t.Parallel()
	fake := providertest.NewFake()
	srv := httptest.NewUnstartedServer(fake)
	var mu sync.Mutex
	opened := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	const concurrency, rounds = 10, 5
	c, err := provider.New(srv.URL+"/products/", provider.WithMaxIdleConns(concurrency))
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	for range rounds {
		var wg sync.WaitGroup
		for i := range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := provider.OVCallbackRequest{OrderNumber: strconv.Itoa(i), Action: provider.ActionSendCallbackEmail}
				if _, err := c.UpdateUserOvCallback(t.Context(), creds, req); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	// A connection goes back to the pool a moment after its caller has the answer, so a round
	// may open one before the last round's is back. Go's default of 2 idle a host would open
	// about concurrency-2 a round: over 40 here.
	mu.Lock()
	defer mu.Unlock()
	if limit := 2 * concurrency; opened > limit {
		t.Errorf("%d connections opened for %d calls by %d callers, want at most %d", opened, concurrency*rounds, concurrency, limit)
	}
}
