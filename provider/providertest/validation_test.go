package providertest_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// validationCase edits a valid form and expects an answer.
type validationCase struct {
	name string
	edit func(url.Values)
	code string // errorCode
	item string // errorItem
	msg  string // errorMessage
}

func missing(name string) string { return "The '" + name + "' argument is missing!" }
func invalid(name string) string { return "The value of the '" + name + "' argument is invalid!" }

const (
	msgUnrecognised = "Unrecognised argument!"
	msgDenied       = "Permission denied!"
)

func set(kv ...string) func(url.Values) {
	return func(v url.Values) {
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
	}
}

func del(names ...string) func(url.Values) {
	return func(v url.Values) {
		for _, n := range names {
			v.Del(n)
		}
	}
}

func both(a, b func(url.Values)) func(url.Values) {
	return func(v url.Values) { a(v); b(v) }
}

func runValidation(t *testing.T, endpoint string, base func() url.Values, cases []validationCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			form := base()
			if tc.edit != nil {
				tc.edit(form)
			}
			r := post(t, srv, endpoint, form)
			wantError(t, r, tc.code, tc.item, tc.msg)
			calls := srv.Calls()
			if len(calls) != 1 {
				t.Fatalf("recorded %d calls, want 1", len(calls))
			}
			if got, want := calls[0].Code, r.form.Get("errorCode"); want != "" && strconv.Itoa(got) != want {
				t.Errorf("Call.Code = %d, answered %s", got, want)
			}
		})
	}
}

func TestCallbackValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []validationCase{
		{name: "scheduled callback", code: "0"},
		{name: "manual callback with extension", edit: set("action", "ManualCallback", "extensionNumber", "12345"), code: "0"},
		{name: "replace phone", edit: both(del("preferredTimeUTC"), set("action", "ReplacePhone", "phoneNumber", "+44 161 000 0000")), code: "0"},
		{name: "replace email", edit: both(del("preferredTimeUTC"), set("action", "replaceEmailAddress", "emailAddress", "a@example.com")), code: "0"},
		{name: "send callback email", edit: both(del("preferredTimeUTC"), set("action", "sendCallbackEmail")), code: "0"},
		{name: "send callback email with phone", edit: both(del("preferredTimeUTC"), set("action", "sendCallbackEmail", "phoneNumber", "123")), code: "0"},
		{name: "language and comments", edit: set("language", "en", "comments", "please call after lunch"), code: "0"},
		{name: "empty optional is absent", edit: set("language", "", "extensionNumber", ""), code: "0"},
		{name: "orderNumber not numeric", edit: set("orderNumber", "ABC-1"), code: "0"},
		{name: "all maximum lengths", edit: set("loginName", providertest.DefaultLoginName, "orderNumber", long(128), "phoneNumber", long(32), "emailAddress", long(255), "extensionNumber", long(5), "language", long(5), "comments", long(2000)), code: "0"},
		{name: "comments counted in characters", edit: set("comments", strings.Repeat("é", 2000)), code: "0"},

		{name: "unrecognised argument", edit: set("foo", "bar"), code: "-2", item: "foo", msg: msgUnrecognised},
		{name: "unrecognised empty argument", edit: set("foo", ""), code: "-2", item: "foo", msg: msgUnrecognised},
		{name: "licence argument", edit: set("product", "700"), code: "-2", item: "product", msg: msgUnrecognised},
		{name: "argument name is case sensitive", edit: both(del("orderNumber"), set("ordernumber", "1")), code: "-2", item: "ordernumber", msg: msgUnrecognised},
		{name: "argument twice", edit: func(v url.Values) { v.Add("orderNumber", "2") }, code: "-4", item: "orderNumber", msg: invalid("orderNumber")},

		{name: "missing loginName", edit: del("loginName"), code: "-3", item: "loginName", msg: missing("loginName")},
		{name: "missing loginPassword", edit: del("loginPassword"), code: "-3", item: "loginPassword", msg: missing("loginPassword")},
		{name: "missing action", edit: del("action"), code: "-3", item: "action", msg: missing("action")},
		{name: "empty orderNumber", edit: set("orderNumber", ""), code: "-3", item: "orderNumber", msg: missing("orderNumber")},
		{name: "missing before credentials", edit: both(del("action"), set("loginPassword", "wrong")), code: "-3", item: "action", msg: missing("action")},

		{name: "wrong password", edit: set("loginPassword", "wrong"), code: "-16", msg: msgDenied},
		{name: "password is case sensitive", edit: set("loginPassword", strings.ToUpper(providertest.DefaultLoginPassword)), code: "-16", msg: msgDenied},
		{name: "unknown login", edit: set("loginName", "nobody"), code: "-16", msg: msgDenied},
		{name: "credentials before values", edit: set("loginPassword", "wrong", "action", "nonsense"), code: "-16", msg: msgDenied},

		{name: "unknown action", edit: set("action", "nonsense"), code: "-4", item: "action", msg: invalid("action")},
		{name: "action spelled ReplaceEmailAddress", edit: set("action", "ReplaceEmailAddress", "emailAddress", "a@example.com"), code: "-4", item: "action", msg: invalid("action")},
		{name: "action too long", edit: set("action", long(101)), code: "-4", item: "action", msg: invalid("action")},
		{name: "orderNumber too long", edit: set("orderNumber", long(129)), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "phoneNumber too long", edit: set("phoneNumber", long(33)), code: "-4", item: "phoneNumber", msg: invalid("phoneNumber")},
		{name: "emailAddress too long", edit: set("emailAddress", long(256)), code: "-4", item: "emailAddress", msg: invalid("emailAddress")},
		{name: "preferredTimeUTC too long", edit: set("preferredTimeUTC", long(31)), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "extensionNumber too long", edit: set("extensionNumber", long(6)), code: "-4", item: "extensionNumber", msg: invalid("extensionNumber")},
		{name: "language too long", edit: set("language", long(6)), code: "-4", item: "language", msg: invalid("language")},
		{name: "comments too long", edit: set("comments", long(2001)), code: "-4", item: "comments", msg: invalid("comments")},
		{name: "comments too many characters", edit: set("comments", strings.Repeat("é", 2001)), code: "-4", item: "comments", msg: invalid("comments")},

		{name: "time with T", edit: set("preferredTimeUTC", "2024-02-02T13:03"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "time with seconds", edit: set("preferredTimeUTC", "2024-02-02 13:03:00"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "time with one-digit hour", edit: set("preferredTimeUTC", "2024-02-02 1:03"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "time on 30 February", edit: set("preferredTimeUTC", "2024-02-30 13:03"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "time at hour 24", edit: set("preferredTimeUTC", "2024-02-02 24:00"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},
		{name: "time with zone", edit: set("preferredTimeUTC", "2024-02-02 13:03Z"), code: "-4", item: "preferredTimeUTC", msg: invalid("preferredTimeUTC")},

		{name: "ReplacePhone without phone", edit: both(del("preferredTimeUTC"), set("action", "ReplacePhone")), code: "-3", item: "phoneNumber", msg: missing("phoneNumber")},
		{name: "replaceEmailAddress without email", edit: both(del("preferredTimeUTC"), set("action", "replaceEmailAddress")), code: "-3", item: "emailAddress", msg: missing("emailAddress")},
		{name: "ScheduledCallback without time", edit: del("preferredTimeUTC"), code: "-3", item: "preferredTimeUTC", msg: missing("preferredTimeUTC")},
		{name: "ManualCallback with empty time", edit: set("action", "ManualCallback", "preferredTimeUTC", ""), code: "-3", item: "preferredTimeUTC", msg: missing("preferredTimeUTC")},
		{name: "extension with ReplacePhone", edit: set("action", "ReplacePhone", "phoneNumber", "1", "extensionNumber", "12"), code: "-4", item: "extensionNumber", msg: invalid("extensionNumber")},
		{name: "extension with sendCallbackEmail", edit: set("action", "sendCallbackEmail", "extensionNumber", "12"), code: "-4", item: "extensionNumber", msg: invalid("extensionNumber")},
		{name: "first invalid in table order", edit: set("action", "nonsense", "comments", long(2001)), code: "-4", item: "action", msg: invalid("action")},
	}
	runValidation(t, providertest.EndpointCallback, func() url.Values { return callbackForm("1001") }, cases)
}

func TestLicenceValidation(t *testing.T) {
	t.Parallel()
	long := func(n int) string { return strings.Repeat("x", n) }
	modify := del("action")
	cases := []validationCase{
		{name: "cancel CodeGuard", edit: set("product", "700"), code: "0"},
		{name: "cancel HackerGuardian", edit: set("product", "341"), code: "0"},
		{name: "cancel Web", edit: set("product", "1009"), code: "0"},
		{name: "cancel SiteLock", edit: set("product", "1060"), code: "0"},
		{name: "cancel SiteLock add-on on expiration", edit: set("product", "1071", "cancelType", "ON EXPIRATION"), code: "0"},
		{name: "cancel SiteLock immediately", edit: set("product", "1059", "cancelType", "IMMEDIATELY"), code: "0"},
		{name: "modify qualys details", edit: both(modify, set("product", "341", "qualysLoginName", "q", "qualysCompanyName", long(50))), code: "0"},
		{name: "modify CodeGuard details", edit: both(modify, set("product", "703", "codeGuardUserName", "u", "codeGuardUserEmail", "u@example.com")), code: "0"},
		{name: "no action and nothing to change", edit: modify, code: "-3", item: "action", msg: missing("action")},
		{name: "orderNumber with leading zero", edit: set("orderNumber", "0042"), code: "0"},

		{name: "unrecognised argument", edit: set("phoneNumber", "1"), code: "-2", item: "phoneNumber", msg: msgUnrecognised},
		{name: "unrecognised empty argument", edit: set("comments", ""), code: "-2", item: "comments", msg: msgUnrecognised},
		{name: "product twice", edit: func(v url.Values) { v.Add("product", "700") }, code: "-4", item: "product", msg: invalid("product")},
		{name: "missing orderNumber", edit: del("orderNumber"), code: "-3", item: "orderNumber", msg: missing("orderNumber")},
		{name: "missing product", edit: del("product"), code: "-3", item: "product", msg: missing("product")},
		{name: "empty loginName", edit: set("loginName", ""), code: "-3", item: "loginName", msg: missing("loginName")},
		{name: "wrong password", edit: set("loginPassword", "x"), code: "-16", msg: msgDenied},

		{name: "orderNumber not an integer", edit: set("orderNumber", "12a"), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "orderNumber negative", edit: set("orderNumber", "-5"), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "orderNumber zero", edit: set("orderNumber", "0"), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "orderNumber with space", edit: set("orderNumber", " 12"), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "orderNumber overflows", edit: set("orderNumber", "99999999999999999999"), code: "-4", item: "orderNumber", msg: invalid("orderNumber")},
		{name: "product not an integer", edit: set("product", "CodeGuard"), code: "-4", item: "product", msg: invalid("product")},
		{name: "product not listed", edit: set("product", "999"), code: "-4", item: "product", msg: invalid("product")},
		{name: "product between SiteLock ranges", edit: set("product", "1065"), code: "-4", item: "product", msg: invalid("product")},
		{name: "action IMMEDIATELY", edit: set("action", "IMMEDIATELY"), code: "-4", item: "action", msg: invalid("action")},
		{name: "action lower case", edit: set("action", "cancellicence"), code: "-4", item: "action", msg: invalid("action")},
		{name: "qualysLoginName for CodeGuard", edit: set("product", "700", "qualysLoginName", "q"), code: "-4", item: "qualysLoginName", msg: invalid("qualysLoginName")},
		{name: "qualysCompanyName for SiteLock", edit: set("product", "1060", "qualysCompanyName", "c"), code: "-4", item: "qualysCompanyName", msg: invalid("qualysCompanyName")},
		{name: "qualysCompanyName too long", edit: set("product", "341", "qualysCompanyName", long(51)), code: "-4", item: "qualysCompanyName", msg: invalid("qualysCompanyName")},
		{name: "codeGuardUserName for Web", edit: set("product", "1000", "codeGuardUserName", "u"), code: "-4", item: "codeGuardUserName", msg: invalid("codeGuardUserName")},
		{name: "codeGuardUserEmail for HackerGuardian", edit: set("product", "341", "codeGuardUserEmail", "u@example.com"), code: "-4", item: "codeGuardUserEmail", msg: invalid("codeGuardUserEmail")},
		{name: "codeGuardUserEmail too long", edit: set("product", "700", "codeGuardUserEmail", long(51)), code: "-4", item: "codeGuardUserEmail", msg: invalid("codeGuardUserEmail")},
		{name: "cancelType for CodeGuard", edit: set("product", "700", "cancelType", "IMMEDIATELY"), code: "-4", item: "cancelType", msg: invalid("cancelType")},
		{name: "cancelType not listed", edit: set("product", "1060", "cancelType", "NOW"), code: "-4", item: "cancelType", msg: invalid("cancelType")},
		{name: "cancelType with underscore", edit: set("product", "1060", "cancelType", "ON_EXPIRATION"), code: "-4", item: "cancelType", msg: invalid("cancelType")},
	}
	runValidation(t, providertest.EndpointLicence, func() url.Values { return licenceForm("2001", "1060") }, cases)
}
