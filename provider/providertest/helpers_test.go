package providertest_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// startServer starts a plain-HTTP fake closed at the end of the test.
func startServer(t *testing.T, opts ...providertest.Option) *providertest.Server {
	t.Helper()
	srv, err := providertest.Start(opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// reply is an HTTP answer of the fake.
type reply struct {
	status int
	header http.Header
	body   string
	form   url.Values // the parsed body; nil when it is not form-encoded
}

// code returns the answer's errorCode, failing the test when there is none.
func (r reply) code(t *testing.T) string {
	t.Helper()
	if r.form == nil || !r.form.Has("errorCode") {
		t.Fatalf("answer has no errorCode: status %d, body %q", r.status, r.body)
	}
	return r.form.Get("errorCode")
}

// send does req with client and reads the whole answer.
func send(t *testing.T, client *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		r.form, err = url.ParseQuery(r.body)
		if err != nil {
			t.Fatalf("answer %q: %v", r.body, err)
		}
	}
	return r
}

// newRequest builds a request with a body and Content-Type.
func newRequest(t *testing.T, ctx context.Context, method, target, contentType, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

const formType = "application/x-www-form-urlencoded"

// post POSTs form to endpoint of srv and returns the answer.
func post(t *testing.T, srv *providertest.Server, endpoint string, form url.Values) reply {
	t.Helper()
	return send(t, srv.Client(), newRequest(t, t.Context(), http.MethodPost, srv.URL+endpoint, formType, form.Encode()))
}

// callbackForm is a valid !UpdateUserOvCallback form for order.
func callbackForm(order string) url.Values {
	return url.Values{
		"loginName":        {providertest.DefaultLoginName},
		"loginPassword":    {providertest.DefaultLoginPassword},
		"action":           {providertest.ActionScheduledCallback},
		"orderNumber":      {order},
		"preferredTimeUTC": {"2024-02-02 13:03"},
	}
}

// licenceForm is a valid !modifyThirdPartyDetails cancellation.
func licenceForm(order, product string) url.Values {
	return url.Values{
		"loginName":     {providertest.DefaultLoginName},
		"loginPassword": {providertest.DefaultLoginPassword},
		"orderNumber":   {order},
		"product":       {product},
		"action":        {providertest.ActionCancelLicence},
	}
}

// wantError checks an error answer's code, item and message.
func wantError(t *testing.T, r reply, code, item, message string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Errorf("status = %d, want 200 (body %q)", r.status, r.body)
	}
	if got := r.code(t); got != code {
		t.Errorf("errorCode = %s, want %s (body %q)", got, code, r.body)
	}
	if got := r.form.Get("errorItem"); got != item {
		t.Errorf("errorItem = %q, want %q", got, item)
	}
	if got := r.form.Get("errorMessage"); got != message {
		t.Errorf("errorMessage = %q, want %q", got, message)
	}
}
