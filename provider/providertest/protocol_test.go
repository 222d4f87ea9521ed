package providertest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

func TestProtocol(t *testing.T) {
	t.Parallel()
	valid := callbackForm("3001").Encode()
	cases := []struct {
		name        string
		method      string
		path        string // under the server's root
		contentType string
		body        string
		status      int
		code        string // "" = the answer must not be form-encoded
		item        string
		msg         string
	}{
		{name: "valid", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: formType, body: valid, status: 200, code: "0"},
		{name: "mounted under a prefix", method: "POST", path: "/provider/products/!UpdateUserOvCallback", contentType: formType, body: valid, status: 200, code: "0"},
		{name: "not under /products/", method: "POST", path: "/elsewhere/v2/!UpdateUserOvCallback", contentType: formType, body: valid, status: 404},
		{name: "no base path", method: "POST", path: "/!UpdateUserOvCallback", contentType: formType, body: valid, status: 404},
		{name: "charset in content type", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: formType + "; charset=UTF-8", body: valid, status: 200, code: "0"},
		{name: "GET", method: "GET", path: "/products/!UpdateUserOvCallback?" + valid, status: 200, code: "-17", msg: "Request used GET rather than POST!"},
		{name: "PUT with valid body", method: "PUT", path: "/products/!modifyThirdPartyDetails", contentType: formType, body: valid, status: 200, code: "-17", msg: "Request used GET rather than POST!"},
		{name: "unknown endpoint", method: "POST", path: "/products/!UpdateUserOVCallback", contentType: formType, body: valid, status: 404},
		{name: "trailing slash", method: "POST", path: "/products/!UpdateUserOvCallback/", contentType: formType, body: valid, status: 404},
		{name: "root", method: "GET", path: "/", status: 404},
		{name: "JSON body", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: "application/json", body: `{"loginName":"demo"}`, status: 200, code: "-3", item: "loginName", msg: "The 'loginName' argument is missing!"},
		{name: "no content type", method: "POST", path: "/products/!UpdateUserOvCallback", body: valid, status: 200, code: "-3", item: "loginName", msg: "The 'loginName' argument is missing!"},
		{name: "parameters in query string only", method: "POST", path: "/products/!UpdateUserOvCallback?" + valid, contentType: formType, status: 200, code: "-3", item: "loginName", msg: "The 'loginName' argument is missing!"},
		{name: "malformed escape", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: formType, body: valid + "&comments=%zz", status: 200, code: "-2", msg: "Unrecognised argument!"},
		{name: "semicolon separator", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: formType, body: strings.ReplaceAll(valid, "&", ";"), status: 200, code: "-2", msg: "Unrecognised argument!"},
		{name: "empty body", method: "POST", path: "/products/!modifyThirdPartyDetails", contentType: formType, status: 200, code: "-3", item: "loginName", msg: "The 'loginName' argument is missing!"},
		{name: "body too large", method: "POST", path: "/products/!UpdateUserOvCallback", contentType: formType, body: valid + "&comments=" + strings.Repeat("x", providertest.MaxBodyBytes), status: 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			root := strings.TrimSuffix(srv.URL, "/products/")
			r := send(t, srv.Client(), newRequest(t, t.Context(), tc.method, root+tc.path, tc.contentType, tc.body))
			if r.status != tc.status {
				t.Errorf("status = %d, want %d (body %q)", r.status, tc.status, r.body)
			}
			if tc.code == "" {
				if strings.Contains(r.body, "errorCode") || r.form != nil {
					t.Errorf("answer %q is a provider answer, want a plain HTTP error", r.body)
				}
				if !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					t.Errorf("Content-Type = %q, want text/html", r.header.Get("Content-Type"))
				}
			} else {
				wantError(t, r, tc.code, tc.item, tc.msg)
			}
			if n := srv.CallCount(); n != 1 {
				t.Errorf("recorded %d calls, want 1", n)
			}
		})
	}
}

func TestAnswerIsFormEncoded(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	r := post(t, srv, providertest.EndpointCallback, callbackForm("3101"))
	if r.body != "errorCode=0" {
		t.Errorf("success body = %q, want %q", r.body, "errorCode=0")
	}
	if ct := r.header.Get("Content-Type"); ct != formType {
		t.Errorf("Content-Type = %q, want %q", ct, formType)
	}
	r = send(t, srv.Client(), newRequest(t, t.Context(), http.MethodGet, srv.URL+providertest.EndpointLicence, "", ""))
	want := url.Values{"errorCode": {"-17"}, "errorMessage": {"Request used GET rather than POST!"}}.Encode()
	if r.body != want {
		t.Errorf("GET body = %q, want %q", r.body, want)
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		opts        []providertest.Option
		login, pass string
		code        string
	}{
		{name: "default account", login: providertest.DefaultLoginName, pass: providertest.DefaultLoginPassword, code: "0"},
		{name: "default absent when accounts given", opts: []providertest.Option{providertest.WithAccount("a", "pa")}, login: providertest.DefaultLoginName, pass: providertest.DefaultLoginPassword, code: "-16"},
		{name: "first of two accounts", opts: []providertest.Option{providertest.WithAccount("a", "pa"), providertest.WithAccount("b", "pb")}, login: "a", pass: "pa", code: "0"},
		{name: "second of two accounts", opts: []providertest.Option{providertest.WithAccount("a", "pa"), providertest.WithAccount("b", "pb")}, login: "b", pass: "pb", code: "0"},
		{name: "password of the other account", opts: []providertest.Option{providertest.WithAccount("a", "pa"), providertest.WithAccount("b", "pb")}, login: "a", pass: "pb", code: "-16"},
		{name: "login name is case sensitive", opts: []providertest.Option{providertest.WithAccount("a", "pa")}, login: "A", pass: "pa", code: "-16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tc.opts...)
			form := licenceForm("3201", "700")
			form.Set("loginName", tc.login)
			form.Set("loginPassword", tc.pass)
			if got := post(t, srv, providertest.EndpointLicence, form).code(t); got != tc.code {
				t.Errorf("errorCode = %s, want %s", got, tc.code)
			}
		})
	}
}

func TestRequireTLS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		opts   []providertest.Option
		method string
		code   string
	}{
		{name: "plain request refused", opts: []providertest.Option{providertest.WithRequireTLS()}, method: http.MethodPost, code: "-1"},
		{name: "GET reported first", opts: []providertest.Option{providertest.WithRequireTLS()}, method: http.MethodGet, code: "-17"},
		{name: "plain request accepted by default", method: http.MethodPost, code: "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := providertest.NewFake(tc.opts...)
			req := httptest.NewRequest(tc.method, "http://provider.test/products/!UpdateUserOvCallback", strings.NewReader(callbackForm("3301").Encode()))
			req.Header.Set("Content-Type", formType)
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, req)
			got, err := url.ParseQuery(rec.Body.String())
			if err != nil {
				t.Fatalf("answer %q: %v", rec.Body.String(), err)
			}
			if got.Get("errorCode") != tc.code {
				t.Errorf("errorCode = %q, want %s (body %q)", got.Get("errorCode"), tc.code, rec.Body.String())
			}
			if tc.code == "-1" && got.Get("errorMessage") != "Request was not made over https!" {
				t.Errorf("errorMessage = %q", got.Get("errorMessage"))
			}
		})
	}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	srv, err := providertest.StartTLS(providertest.WithRequireTLS())
	if err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || !strings.HasSuffix(srv.URL, "/products/") {
		t.Errorf("URL = %q, want https://127.0.0.1:port/products/", srv.URL)
	}
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("3401")).code(t); got != "0" {
		t.Errorf("errorCode over TLS = %s, want 0", got)
	}
	calls := srv.Calls()
	if len(calls) != 1 || !calls[0].TLS {
		t.Errorf("calls = %+v, want one over TLS", calls)
	}
	// A client that does not trust the test certificate must not get through.
	resp, err := http.Post(srv.URL+providertest.EndpointCallback, formType, strings.NewReader(callbackForm("3401").Encode()))
	if err == nil {
		resp.Body.Close()
		t.Errorf("untrusting client got status %d, want a certificate error", resp.StatusCode)
	}
}

func TestMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code int
		want string
	}{
		{0, ""},
		{-1, "Request was not made over https!"},
		{-2, "Unrecognised argument!"},
		{-3, "The 'xxxx' argument is missing!"},
		{-4, "The value of the 'xxxx' argument is invalid!"},
		{-14, "An unknown error occurred!"},
		{-15, "Not enough credit"},
		{-16, "Permission denied!"},
		{-17, "Request used GET rather than POST!"},
		{-18, "Order already refunded"},
		{-20, "Order already cancelled"},
		{-42, "Call limit reached! Please try again later."},
		{-9999, ""},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			if got := providertest.Message(tc.code); got != tc.want {
				t.Errorf("Message(%d) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}
