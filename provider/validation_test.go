package provider

import (
	"errors"
	"strings"
	"testing"
)

// fieldsOf lists "field: problem" of every FieldError in err.
func fieldsOf(err error) []string {
	var out []string
	for _, fe := range FieldErrors(err) {
		out = append(out, fe.Field)
	}
	return out
}

func TestOVCallbackRequestValidate(t *testing.T) {
	t.Parallel()
	ok := OVCallbackRequest{OrderNumber: "1234567", Action: ActionScheduledCallback, PreferredTimeUTC: "2024-02-02 13:03"}
	with := func(f func(*OVCallbackRequest)) OVCallbackRequest { r := ok; f(&r); return r }
	tests := []struct {
		name    string
		req     OVCallbackRequest
		fields  []string // fields expected in error, in order; nil = valid
		problem string   // substring of the error text
	}{
		{"scheduled ok", ok, nil, ""},
		{"manual ok with extension", with(func(r *OVCallbackRequest) { r.Action = ActionManualCallback; r.ExtensionNumber = "12345" }), nil, ""},
		{"replace phone ok", OVCallbackRequest{OrderNumber: "1", Action: ActionReplacePhone, PhoneNumber: "+44 161 000 0000"}, nil, ""},
		{"replace email ok", OVCallbackRequest{OrderNumber: "1", Action: ActionReplaceEmailAddress, EmailAddress: "a@example.com"}, nil, ""},
		{"send email ok", OVCallbackRequest{OrderNumber: "1", Action: ActionSendCallbackEmail}, nil, ""},
		{"all optional at max", with(func(r *OVCallbackRequest) {
			r.OrderNumber = strings.Repeat("9", 128)
			r.Language = "en-GB"
			r.Comments = strings.Repeat("é", 2000)
			r.ExtensionNumber = "12345"
		}), nil, ""},
		{"order missing", with(func(r *OVCallbackRequest) { r.OrderNumber = "" }), []string{"orderNumber"}, "orderNumber: required"},
		{"order too long", with(func(r *OVCallbackRequest) { r.OrderNumber = strings.Repeat("1", 129) }), []string{"orderNumber"}, "at most 128 characters, got 129"},
		{"order padded", with(func(r *OVCallbackRequest) { r.OrderNumber = " 12" }), []string{"orderNumber"}, "spaces"},
		{"order only spaces", with(func(r *OVCallbackRequest) { r.OrderNumber = "   " }), []string{"orderNumber"}, "orderNumber: required (got only spaces)"},
		{"action missing", OVCallbackRequest{OrderNumber: "1"}, []string{"action"}, "action: required"},
		{"action unknown", with(func(r *OVCallbackRequest) { r.Action = "Callback" }), []string{"action"}, `got "Callback"`},
		{"action wrong case", OVCallbackRequest{OrderNumber: "1", Action: "ReplaceEmailAddress", EmailAddress: "a@example.com"}, []string{"action"}, `spells it "replaceEmailAddress"`},
		{"scheduled needs time", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "" }), []string{"preferredTimeUTC"}, "preferredTimeUTC: required"},
		{"manual needs time", OVCallbackRequest{OrderNumber: "1", Action: ActionManualCallback}, []string{"preferredTimeUTC"}, "required"},
		{"time format", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "2024-02-02T13:03" }), []string{"preferredTimeUTC"}, "yyyy-mm-dd hh24:mi"},
		{"time impossible", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "2024-02-30 13:03" }), []string{"preferredTimeUTC"}, "yyyy-mm-dd hh24:mi"},
		{"time one-digit hour", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "2024-02-02 9:03" }), []string{"preferredTimeUTC"}, "yyyy-mm-dd hh24:mi"},
		// As %k writes it: time.Parse takes two spaces for the layout's one, and 16 bytes.
		{"time space-padded hour", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "2024-02-02  9:03" }), []string{"preferredTimeUTC"}, "yyyy-mm-dd hh24:mi"},
		{"time 24h", with(func(r *OVCallbackRequest) { r.PreferredTimeUTC = "2024-02-02 24:00" }), []string{"preferredTimeUTC"}, "yyyy-mm-dd hh24:mi"},
		{"phone needed", OVCallbackRequest{OrderNumber: "1", Action: ActionReplacePhone}, []string{"phoneNumber"}, "phoneNumber: required"},
		{"phone too long", OVCallbackRequest{OrderNumber: "1", Action: ActionReplacePhone, PhoneNumber: strings.Repeat("1", 33)}, []string{"phoneNumber"}, "at most 32"},
		{"email needed", OVCallbackRequest{OrderNumber: "1", Action: ActionReplaceEmailAddress}, []string{"emailAddress"}, "emailAddress: required"},
		{"email bad", OVCallbackRequest{OrderNumber: "1", Action: ActionReplaceEmailAddress, EmailAddress: "Bob <b@example.com>"}, []string{"emailAddress"}, "e-mail address"},
		{"email too long", OVCallbackRequest{OrderNumber: "1", Action: ActionReplaceEmailAddress, EmailAddress: strings.Repeat("a", 250) + "@b.com"}, []string{"emailAddress"}, "at most 255"},
		{"extension too long", with(func(r *OVCallbackRequest) { r.ExtensionNumber = "123456" }), []string{"extensionNumber"}, "at most 5"},
		{"extension wrong action", OVCallbackRequest{OrderNumber: "1", Action: ActionSendCallbackEmail, ExtensionNumber: "1"}, []string{"extensionNumber"}, "only for actions"},
		{"language too long", with(func(r *OVCallbackRequest) { r.Language = "english" }), []string{"language"}, "at most 5"},
		{"comments too long", with(func(r *OVCallbackRequest) { r.Comments = strings.Repeat("x", 2001) }), []string{"comments"}, "at most 2000"},
		{"invalid utf8", with(func(r *OVCallbackRequest) { r.Comments = "\xff" }), []string{"comments"}, "UTF-8"},
		{"phone only spaces", OVCallbackRequest{OrderNumber: "1", Action: ActionReplacePhone, PhoneNumber: "   "}, []string{"phoneNumber"}, "phoneNumber: required (got only spaces)"},
		{"optional field only spaces", with(func(r *OVCallbackRequest) { r.Language = "  " }), []string{"language"}, "language: only spaces: give a value, or leave the field out"},
		{"order with a newline", with(func(r *OVCallbackRequest) { r.OrderNumber = "42\n46" }), []string{"orderNumber"}, "orderNumber: must not contain control characters, got U+000A at byte 2"},
		{"comments on several lines", with(func(r *OVCallbackRequest) { r.Comments = "call after 5pm\r\n\tthanks" }), nil, ""},
		{"comments with NUL", with(func(r *OVCallbackRequest) { r.Comments = "a\x00b" }), []string{"comments"}, "comments: must not contain control characters, got U+0000 at byte 1"},
		{"several at once", OVCallbackRequest{Action: ActionReplacePhone, Language: "toolong"}, []string{"orderNumber", "phoneNumber", "language"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.req.Validate()
			if got := fieldsOf(err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields = %v, want %v (err: %v)", got, tt.fields, err)
			}
			if tt.fields != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if tt.problem != "" && !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %q does not contain %q", err, tt.problem)
			}
		})
	}
}

func TestLicenceRequestValidate(t *testing.T) {
	t.Parallel()
	cancel := LicenceRequest{OrderNumber: 123, Product: 1060, Action: ActionCancelLicence}
	with := func(f func(*LicenceRequest)) LicenceRequest { r := cancel; f(&r); return r }
	tests := []struct {
		name    string
		req     LicenceRequest
		fields  []string
		problem string
	}{
		{"cancel sitelock", cancel, nil, ""},
		{"cancel on expiration", with(func(r *LicenceRequest) { r.CancelType = CancelOnExpiration }), nil, ""},
		{"cancel web", with(func(r *LicenceRequest) { r.Product = 1009 }), nil, ""},
		{"cancel addon", with(func(r *LicenceRequest) { r.Product = 1071; r.CancelType = CancelImmediately }), nil, ""},
		{"qualys details", LicenceRequest{OrderNumber: 5, Product: 341, QualysLoginName: "q", QualysCompanyName: "Acme"}, nil, ""},
		{"codeguard details", LicenceRequest{OrderNumber: 5, Product: 703, CodeGuardUserName: "u", CodeGuardUserEmail: "u@example.com"}, nil, ""},
		{"order missing", with(func(r *LicenceRequest) { r.OrderNumber = 0 }), []string{"orderNumber"}, "orderNumber: required, a positive integer"},
		{"order negative", with(func(r *LicenceRequest) { r.OrderNumber = -5 }), []string{"orderNumber"}, "orderNumber: must be a positive integer, got -5"},
		{"product missing", with(func(r *LicenceRequest) { r.Product = 0 }), []string{"product"}, "product: required"},
		{"product negative", with(func(r *LicenceRequest) { r.Product = -700 }), []string{"product"}, "product: must be one of the documented product codes, got -700"},
		{"product unknown", with(func(r *LicenceRequest) { r.Product = 1063 }), []string{"product"}, "1063 is not a documented product code"},
		{"action unknown", with(func(r *LicenceRequest) { r.Action = "IMMEDIATELY" }), []string{"action"}, `got "IMMEDIATELY"`},
		{"nothing to do", LicenceRequest{OrderNumber: 1, Product: 341}, []string{"action"}, "nothing to do"},
		{"cancelType not sitelock", with(func(r *LicenceRequest) { r.Product = 700; r.CancelType = CancelImmediately }), []string{"cancelType"}, "only for SiteLock products"},
		{"cancelType bad value", with(func(r *LicenceRequest) { r.CancelType = "LATER" }), []string{"cancelType"}, `got "LATER"`},
		{"cancelType without cancel", LicenceRequest{OrderNumber: 1, Product: 1060, CancelType: CancelImmediately}, []string{"cancelType", "action"}, "only with action CANCELLICENCE"},
		{"qualys login only spaces", LicenceRequest{OrderNumber: 5, Product: 341, QualysLoginName: "  "}, []string{"qualysLoginName"}, "qualysLoginName: only spaces"},
		{"qualys on codeguard", LicenceRequest{OrderNumber: 1, Product: 700, QualysLoginName: "q"}, []string{"qualysLoginName"}, "only for HackerGuardian products, not product 700 (CodeGuard)"},
		{"qualys company on web", LicenceRequest{OrderNumber: 1, Product: 1000, QualysCompanyName: "q"}, []string{"qualysCompanyName"}, "only for HackerGuardian"},
		{"codeguard on hackerguardian", LicenceRequest{OrderNumber: 1, Product: 341, CodeGuardUserName: "u"}, []string{"codeGuardUserName"}, "only for CodeGuard"},
		{"codeguard email on sitelock", LicenceRequest{OrderNumber: 1, Product: 1060, CodeGuardUserEmail: "u@example.com"}, []string{"codeGuardUserEmail"}, "only for CodeGuard"},
		{"codeguard email bad", LicenceRequest{OrderNumber: 1, Product: 700, CodeGuardUserEmail: "nope"}, []string{"codeGuardUserEmail"}, "e-mail address"},
		{"tab pasted from a spreadsheet", LicenceRequest{OrderNumber: 1, Product: 346, QualysCompanyName: "Acme\tLtd"}, nil, ""},
		{"qualys control character", LicenceRequest{OrderNumber: 1, Product: 346, QualysLoginName: "q\x1bq"}, []string{"qualysLoginName"}, "must not contain control characters, got U+001B"},
		{"qualys too long", LicenceRequest{OrderNumber: 1, Product: 346, QualysLoginName: strings.Repeat("q", 51)}, []string{"qualysLoginName"}, "at most 50"},
		{"company too long", LicenceRequest{OrderNumber: 1, Product: 346, QualysCompanyName: strings.Repeat("q", 51)}, []string{"qualysCompanyName"}, "at most 50"},
		{"codeguard user too long", LicenceRequest{OrderNumber: 1, Product: 701, CodeGuardUserName: strings.Repeat("q", 51)}, []string{"codeGuardUserName"}, "at most 50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.req.Validate()
			if got := fieldsOf(err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields = %v, want %v (err: %v)", got, tt.fields, err)
			}
			if tt.problem != "" && !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %q does not contain %q", err, tt.problem)
			}
		})
	}
}

func TestEveryDocumentedProductHasAFamily(t *testing.T) {
	t.Parallel()
	// The codes as the provider's reference page lists them.
	documented := map[Family][]int{
		FamilyCodeGuard:      {700, 701, 702, 703},
		FamilyHackerGuardian: {341, 586, 346, 349, 357},
		FamilyWeb:            {1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009},
		FamilySiteLock:       {1059, 1060, 1061, 1062, 1068, 1069, 1070, 1071},
	}
	n := 0
	for fam, codes := range documented {
		for _, c := range codes {
			n++
			if got, ok := ProductFamily(c); !ok || got != fam {
				t.Errorf("ProductFamily(%d) = %q, %v; want %q", c, got, ok, fam)
			}
		}
	}
	if len(products) != n {
		t.Errorf("products has %d codes, the documentation %d", len(products), n)
	}
	if _, ok := ProductFamily(1063); ok {
		t.Error("1063 must not be a product")
	}
}

// An importer that changes the exported list of actions changes nothing of the validation.
func TestCallbackActionsCannotBeChangedFromOutside(t *testing.T) { // not parallel: it changes a package variable
	saved := CallbackActions[0]
	CallbackActions[0] = "Bogus"
	defer func() { CallbackActions[0] = saved }()
	if err := (OVCallbackRequest{OrderNumber: "1", Action: "Bogus"}).Validate(); err == nil {
		t.Error("an action added to CallbackActions from outside passes validation")
	}
	if err := (OVCallbackRequest{OrderNumber: "1", Action: saved, PreferredTimeUTC: "2024-02-02 13:03"}).Validate(); err != nil {
		t.Errorf("%s, taken out of CallbackActions from outside, is refused: %v", saved, err)
	}
}
