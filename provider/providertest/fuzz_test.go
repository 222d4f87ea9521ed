package providertest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// FuzzServeHTTP checks that any body on either endpoint gets a well-formed
// provider answer: HTTP 200, form-encoded, with an errorCode, and that the
// call is recorded.
func FuzzServeHTTP(f *testing.F) {
	f.Add(providertest.EndpointCallback, callbackForm("1").Encode())
	f.Add(providertest.EndpointLicence, licenceForm("1", "1060").Encode())
	f.Add(providertest.EndpointLicence, "loginName=demo&loginName=demo")
	f.Add(providertest.EndpointCallback, "%zz=1&=&&a")
	f.Add(providertest.EndpointCallback, "action=ScheduledCallback&preferredTimeUTC=9999-99-99+99%3A99")
	f.Fuzz(func(t *testing.T, endpoint, body string) {
		if endpoint != providertest.EndpointCallback {
			endpoint = providertest.EndpointLicence
		}
		fake := providertest.NewFake()
		req := httptest.NewRequest(http.MethodPost, "/products/"+endpoint, strings.NewReader(body))
		req.Header.Set("Content-Type", formType)
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		v, err := url.ParseQuery(rec.Body.String())
		if err != nil || !v.Has("errorCode") {
			t.Fatalf("answer %q for %q: %v", rec.Body.String(), body, err)
		}
		calls := fake.Calls()
		if len(calls) != 1 || calls[0].Body != body {
			t.Fatalf("recorded %+v", calls)
		}
	})
}
