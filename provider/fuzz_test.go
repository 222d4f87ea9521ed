package provider

import (
	"net/url"
	"strconv"
	"testing"
	"unicode/utf8"
)

func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		"errorCode=0",
		"errorCode=-17&errorMessage=Request%20used%20GET%20rather%20than%20POST!",
		"errorCode=-4&errorMessage=The%20value&errorItem=product&errorDetail=x",
		"<html><body>502</body></html>",
		"",
		"errorCode=-4&errorMessage=%zz",
		"errorCode= 1 \n",
		"errorCode=&errorCode=-3",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a := parseAnswer(body) // must not panic on any input
		if !a.HasCode && a.Code != 0 {
			t.Fatalf("code %d without HasCode", a.Code)
		}
		// Whatever was read must survive a round trip through the provider's own encoding.
		v := url.Values{}
		if a.HasCode {
			v.Set("errorCode", strconv.Itoa(a.Code))
		}
		v.Set("errorMessage", a.Message)
		v.Set("errorItem", a.Item)
		b := parseAnswer([]byte(v.Encode()))
		if b.HasCode != a.HasCode || b.Code != a.Code || b.Message != a.Message || b.Item != a.Item {
			t.Fatalf("round trip: %+v != %+v", b, a)
		}
	})
}

// allowed is every parameter each endpoint documents.
var allowed = map[string]map[string]int{
	EndpointUpdateUserOvCallback: {"loginName": 64, "loginPassword": 128, "action": 100, "orderNumber": 128,
		"phoneNumber": 32, "emailAddress": 255, "preferredTimeUTC": 30, "extensionNumber": 5, "language": 5, "comments": 2000},
	EndpointModifyThirdPartyDetails: {"loginName": 64, "loginPassword": 128, "orderNumber": 20, "product": 5,
		"qualysLoginName": 50, "qualysCompanyName": 50, "codeGuardUserName": 50, "codeGuardUserEmail": 50, "action": 13, "cancelType": 13},
}

// checkForm asserts what the provider would check of a form that passed Validate.
func checkForm(t *testing.T, endpoint string, form url.Values) {
	t.Helper()
	for k, vs := range form {
		max, ok := allowed[endpoint][k]
		if !ok {
			t.Fatalf("%s: parameter %q not documented", endpoint, k)
		}
		if len(vs) != 1 || vs[0] == "" {
			t.Fatalf("%s: parameter %q sent as %q", endpoint, k, vs)
		}
		if n := utf8.RuneCountInString(vs[0]); n > max {
			t.Fatalf("%s: parameter %q has %d characters, max %d", endpoint, k, n, max)
		}
	}
}

func FuzzOVCallbackValidate(f *testing.F) {
	f.Add("123", "ScheduledCallback", "", "", "2024-02-02 13:03", "", "", "")
	f.Add("123", "ReplacePhone", "+1 555", "", "", "", "en", "hi")
	f.Add("123", "replaceEmailAddress", "", "a@b.c", "", "", "", "")
	f.Add("", "ManualCallback", "", "", "2024-13-02 13:03", "123456", "", "")
	creds, _ := NewCredentials("u", "p")
	f.Fuzz(func(t *testing.T, order, action, phone, email, when, ext, lang, comments string) {
		r := OVCallbackRequest{order, action, phone, email, when, ext, lang, comments}
		if err := r.Validate(); err != nil {
			if len(FieldErrors(err)) == 0 {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		checkForm(t, EndpointUpdateUserOvCallback, r.values(creds))
	})
}

func FuzzLicenceValidate(f *testing.F) {
	f.Add(int64(1), 1060, "CANCELLICENCE", "ON EXPIRATION", "", "", "", "")
	f.Add(int64(5), 341, "", "", "q", "Acme", "", "")
	f.Add(int64(-1), 700, "", "", "", "", "u", "u@example.com")
	creds, _ := NewCredentials("u", "p")
	f.Fuzz(func(t *testing.T, order int64, product int, action, cancelType, ql, qc, cu, ce string) {
		r := LicenceRequest{order, product, action, cancelType, ql, qc, cu, ce}
		if err := r.Validate(); err != nil {
			if len(FieldErrors(err)) == 0 {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		checkForm(t, EndpointModifyThirdPartyDetails, r.values(creds))
	})
}
