package providertest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

func TestScriptFIFOThenNormal(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Script("4001", providertest.Answer{Code: -14}, providertest.Err(-42, ""))
	srv.Script("4001", providertest.Answer{Code: 1, Result: "booked"})
	srv.Script("4999", providertest.Answer{Code: -16})

	want := []struct{ code, msg, result string }{
		{"-14", "An unknown error occurred!", ""},
		{"-42", "Call limit reached! Please try again later.", ""},
		{"1", "", "booked"},
		{"0", "", ""}, // queue empty: normal behaviour
		{"0", "", ""},
	}
	for i, w := range want {
		r := post(t, srv, providertest.EndpointCallback, callbackForm("4001"))
		if got := r.code(t); got != w.code {
			t.Errorf("call %d: errorCode = %s, want %s", i, got, w.code)
		}
		if got := r.form.Get("errorMessage"); got != w.msg {
			t.Errorf("call %d: errorMessage = %q, want %q", i, got, w.msg)
		}
		if got := r.form.Get("result"); got != w.result {
			t.Errorf("call %d: result = %q, want %q", i, got, w.result)
		}
	}
	if n := srv.PendingScripts(); n != 1 {
		t.Errorf("PendingScripts = %d, want 1 (order 4999 untouched)", n)
	}
	calls := srv.CallsFor("4001")
	if len(calls) != len(want) {
		t.Fatalf("CallsFor = %d calls, want %d", len(calls), len(want))
	}
	for i, c := range calls {
		if got := strconv.Itoa(c.Code); got != want[i].code {
			t.Errorf("call %d recorded Code %d, want %s", i, c.Code, want[i].code)
		}
	}
}

func TestScriptTakesPrecedence(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		req  func(t *testing.T, srv *providertest.Server) *http.Request
	}{
		{name: "over wrong credentials", req: func(t *testing.T, srv *providertest.Server) *http.Request {
			f := callbackForm("4101")
			f.Set("loginPassword", "wrong")
			return newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, f.Encode())
		}},
		{name: "over unrecognised argument", req: func(t *testing.T, srv *providertest.Server) *http.Request {
			f := callbackForm("4101")
			f.Set("bogus", "1")
			return newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, f.Encode())
		}},
		{name: "over wrong method", req: func(t *testing.T, srv *providertest.Server) *http.Request {
			return newRequest(t, t.Context(), http.MethodPut, srv.URL+providertest.EndpointLicence, formType, licenceForm("4101", "700").Encode())
		}},
		{name: "over unknown endpoint", req: func(t *testing.T, srv *providertest.Server) *http.Request {
			return newRequest(t, t.Context(), http.MethodPost, srv.URL+"!nope", formType, licenceForm("4101", "700").Encode())
		}},
		{name: "over the hook", req: func(t *testing.T, srv *providertest.Server) *http.Request {
			srv.SetHook(func(providertest.Call) *providertest.Answer { return &providertest.Answer{Code: -15} })
			return newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointLicence, formType, licenceForm("4101", "700").Encode())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			srv.Script("4101", providertest.Answer{Code: -18, Detail: "scripted"})
			r := send(t, srv.Client(), tc.req(t, srv))
			if got := r.code(t); got != "-18" || r.form.Get("errorDetail") != "scripted" {
				t.Errorf("answer = %q, want the scripted -18", r.body)
			}
			if srv.CallCount() != 1 {
				t.Errorf("CallCount = %d, want 1", srv.CallCount())
			}
		})
	}
}

func TestScriptEndpoint(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.ScriptEndpoint(providertest.EndpointLicence, "4201", providertest.Err(-14, ""))
	srv.Script("4201", providertest.Err(-15, ""))

	// The callback endpoint skips the licence queue and takes from the shared one.
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("4201")).code(t); got != "-15" {
		t.Errorf("callback errorCode = %s, want -15", got)
	}
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("4201", "700")).code(t); got != "-14" {
		t.Errorf("licence errorCode = %s, want -14", got)
	}
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("4201", "700")).code(t); got != "0" {
		t.Errorf("licence errorCode after scripts = %s, want 0", got)
	}
}

func TestScriptedAnswers(t *testing.T) {
	t.Parallel()
	junk := "<html><body>502 Bad Gateway</body></html>"
	empty := ""
	cases := []struct {
		name        string
		answer      providertest.Answer
		status      int
		body        string // exact body
		contentType string // prefix
		header      [2]string
		code        int // recorded Call.Code
	}{
		{
			name:   "error with every field",
			answer: providertest.Answer{Code: -4, Item: "phoneNumber", Detail: "too many digits"},
			status: 200, contentType: formType, code: -4,
			body: url.Values{"errorCode": {"-4"}, "errorItem": {"phoneNumber"}, "errorDetail": {"too many digits"}, "errorMessage": {"The value of the 'phoneNumber' argument is invalid!"}}.Encode(),
		},
		{
			name:   "own message",
			answer: providertest.Answer{Code: -14, Message: "Database is down"},
			status: 200, contentType: formType, code: -14,
			body: "errorCode=-14&errorMessage=Database+is+down",
		},
		{
			name:   "unknown code has no message",
			answer: providertest.Answer{Code: -999},
			status: 200, contentType: formType, code: -999,
			body: "errorCode=-999",
		},
		{
			name:   "form answer with HTTP 503",
			answer: providertest.Answer{Code: -14, HTTPStatus: 503},
			status: 503, contentType: formType, code: -14,
			body: "errorCode=-14&errorMessage=An+unknown+error+occurred%21",
		},
		{
			name:   "429 with Retry-After",
			answer: providertest.Answer{HTTPStatus: 429, Body: &empty, Header: http.Header{"Retry-After": {"30"}}},
			status: 429, header: [2]string{"Retry-After", "30"}, code: 0,
		},
		{
			name:   "HTML from a proxy",
			answer: providertest.Raw(502, junk),
			status: 502, body: junk, contentType: "text/html", code: 0,
		},
		{
			name:   "empty 200",
			answer: providertest.Raw(0, ""),
			status: 200, code: 0,
		},
		{
			name:   "body without errorCode",
			answer: providertest.Answer{Body: &junk, ContentType: formType, Code: -14},
			status: 200, body: junk, contentType: formType, code: 0,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			srv.Script("4301", tc.answer)
			req := newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, callbackForm("4301").Encode())
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tc.status)
			}
			if string(b) != tc.body {
				t.Errorf("body = %q, want %q", b, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("Content-Type = %q, want prefix %q", ct, tc.contentType)
			}
			if tc.header[0] != "" && resp.Header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s = %q, want %q", tc.header[0], resp.Header.Get(tc.header[0]), tc.header[1])
			}
			calls := srv.Calls()
			if len(calls) != 1 || calls[0].Code != tc.code || calls[0].Status != tc.status {
				t.Errorf("recorded %+v, want one call with Code %d, Status %d", calls, tc.code, tc.status)
			}
		})
	}
}

func TestTruncatedAnswer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Script("4401", providertest.Answer{Body: new("errorCo"), ContentType: formType, Header: http.Header{"Content-Length": {"100"}}})
	req := newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, callbackForm("4401").Encode())
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %q, %v; want io.ErrUnexpectedEOF", b, err)
	}
}

func TestDrop(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Script("4501", providertest.Answer{Drop: true}, providertest.Answer{Drop: true, Delay: time.Millisecond})
	for i := range 2 {
		req := newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, callbackForm("4501").Encode())
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("drop %d: got status %d, want a connection error", i, resp.StatusCode)
		}
	}
	// The server survives and answers the next call normally.
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("4501")).code(t); got != "0" {
		t.Errorf("after drops errorCode = %s, want 0", got)
	}
	calls := srv.CallsFor("4501")
	if len(calls) != 3 {
		t.Fatalf("recorded %d calls, want 3", len(calls))
	}
	for i, c := range calls[:2] {
		if c.Code != 0 || c.Status != 0 {
			t.Errorf("dropped call %d recorded Code %d Status %d, want 0 and 0", i, c.Code, c.Status)
		}
	}
}

func TestDelayHonoursContext(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	srv.Script("4601", providertest.Answer{Delay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req := newRequest(t, ctx, http.MethodPost, srv.URL+providertest.EndpointCallback, formType, callbackForm("4601").Encode())
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return srv.CallCount() == 1 }) // recorded before the delay
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request still waiting after cancel")
	}
	// The handler must have given up as well, or this call would queue behind it
	// on nothing, and Close (in Cleanup) would hang for an hour.
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("4602")).code(t); got != "0" {
		t.Errorf("next call errorCode = %s, want 0", got)
	}
}

func TestServeHTTPReturnsWhenContextEnds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts []providertest.Option
		ans  *providertest.Answer
	}{
		{name: "scripted delay", ans: &providertest.Answer{Delay: time.Hour}},
		{name: "latency", opts: []providertest.Option{providertest.WithLatency(time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := providertest.NewFake(tc.opts...)
			if tc.ans != nil {
				f.Script("4701", *tc.ans)
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/products/!UpdateUserOvCallback", strings.NewReader(callbackForm("4701").Encode()))
			req.Header.Set("Content-Type", formType)
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				f.ServeHTTP(rec, req)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("ServeHTTP still waiting after the context ended")
			}
			if rec.Body.Len() != 0 {
				t.Errorf("answered %q to a gone client, want nothing", rec.Body.String())
			}
			if f.CallCount() != 1 {
				t.Errorf("CallCount = %d, want 1", f.CallCount())
			}
		})
	}
}

func TestShortDelayAnswers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, providertest.WithLatency(time.Millisecond))
	srv.Script("4801", providertest.Answer{Code: -14, Delay: 5 * time.Millisecond})
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("4801")).code(t); got != "-14" {
		t.Errorf("errorCode = %s, want -14", got)
	}
}

func TestCloseReleasesWaitingCalls(t *testing.T) {
	t.Parallel()
	srv, err := providertest.Start(providertest.WithLatency(time.Hour))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		req := newRequest(t, context.Background(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, callbackForm("4901").Encode())
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return srv.CallCount() == 1 })
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting for a delayed call")
	}
	if err := <-errc; err == nil {
		t.Error("client got an answer, want a connection error")
	}
}

func TestHook(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	var mu sync.Mutex
	var seen []string
	srv.SetHook(func(c providertest.Call) *providertest.Answer {
		mu.Lock()
		seen = append(seen, c.Endpoint+" "+c.Form.Get("action"))
		mu.Unlock()
		_ = srv.CallCount() // the hook may use the fake without deadlock
		if c.Form.Get("action") == providertest.ActionSendCallbackEmail {
			return &providertest.Answer{Code: -14}
		}
		return nil
	})
	email := callbackForm("5001")
	email.Set("action", providertest.ActionSendCallbackEmail)
	email.Del("preferredTimeUTC")
	if got := post(t, srv, providertest.EndpointCallback, email).code(t); got != "-14" {
		t.Errorf("hooked errorCode = %s, want -14", got)
	}
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("5001")).code(t); got != "0" {
		t.Errorf("not hooked errorCode = %s, want 0", got)
	}
	// A nil answer means normal behaviour, validation included.
	bad := callbackForm("5001")
	bad.Set("bogus", "1")
	if got := post(t, srv, providertest.EndpointCallback, bad).code(t); got != "-2" {
		t.Errorf("not hooked invalid errorCode = %s, want -2", got)
	}
	srv.SetHook(nil)
	if got := post(t, srv, providertest.EndpointCallback, email).code(t); got != "0" {
		t.Errorf("after SetHook(nil) errorCode = %s, want 0", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"!UpdateUserOvCallback sendCallbackEmail",
		"!UpdateUserOvCallback ScheduledCallback",
		"!UpdateUserOvCallback ScheduledCallback",
	}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("hook saw %q, want %q", seen, want)
	}
	if c := srv.Calls()[0]; c.Code != -14 {
		t.Errorf("hooked call recorded Code %d, want -14", c.Code)
	}
}

// waitFor polls cond until it holds, failing the test after a generous time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
