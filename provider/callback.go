package provider

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EndpointUpdateUserOvCallback schedules or changes the verification callback of an OV order.
const EndpointUpdateUserOvCallback = "!UpdateUserOvCallback"

// The actions of !UpdateUserOvCallback, spelled exactly as the provider expects them.
const (
	ActionScheduledCallback   = "ScheduledCallback"
	ActionManualCallback      = "ManualCallback"
	ActionReplacePhone        = "ReplacePhone"
	ActionReplaceEmailAddress = "replaceEmailAddress"
	ActionSendCallbackEmail   = "sendCallbackEmail"
)

// CallbackActions lists the actions of !UpdateUserOvCallback in the provider's order.
// Validation reads its own copy: changing this slice changes nothing.
var CallbackActions = slices.Clone(callbackActions)

var callbackActions = []string{
	ActionScheduledCallback, ActionManualCallback, ActionReplacePhone,
	ActionReplaceEmailAddress, ActionSendCallbackEmail,
}

// PreferredTimeLayout is the Go layout of preferredTimeUTC ("yyyy-mm-dd hh24:mi" in UTC).
const PreferredTimeLayout = "2006-01-02 15:04"

// OVCallbackRequest is one !UpdateUserOvCallback call, without the login. Field names follow
// the provider's parameters; an empty field is not sent.
type OVCallbackRequest struct {
	OrderNumber      string
	Action           string
	PhoneNumber      string
	EmailAddress     string
	PreferredTimeUTC string
	ExtensionNumber  string
	Language         string
	Comments         string
}

// Validate reports every rule of the provider's documentation that r breaks, each as a
// *FieldError naming the parameter; nil when r can be sent.
func (r OVCallbackRequest) Validate() error {
	var v validator
	v.text("orderNumber", r.OrderNumber, 128, true)
	if trimmed := strings.TrimSpace(r.OrderNumber); trimmed != "" && trimmed != r.OrderNumber { // only spaces: "required" says it
		v.add("orderNumber", "must not start or end with spaces")
	}
	v.text("action", r.Action, 100, true)
	if r.Action != "" && !isCallbackAction(r.Action) {
		msg := fmt.Sprintf("must be one of %s, got %q", strings.Join(callbackActions, ", "), r.Action)
		for _, a := range callbackActions {
			if strings.EqualFold(a, r.Action) {
				msg += fmt.Sprintf(" (the provider spells it %q)", a)
			}
		}
		v.add("action", "%s", msg)
	}
	v.text("phoneNumber", r.PhoneNumber, 32, r.Action == ActionReplacePhone)
	v.text("emailAddress", r.EmailAddress, 255, r.Action == ActionReplaceEmailAddress)
	if r.EmailAddress != "" && !isEmail(r.EmailAddress) {
		v.add("emailAddress", "must be an e-mail address such as name@example.com")
	}
	timed := r.Action == ActionScheduledCallback || r.Action == ActionManualCallback
	v.text("preferredTimeUTC", r.PreferredTimeUTC, 30, timed)
	if r.PreferredTimeUTC != "" {
		// time.Parse takes a one-digit hour ("2024-02-02 9:03"), and any run of spaces for the
		// layout's one ("2024-02-02  9:03", as %k writes it), which the provider refuses (-4).
		if _, err := time.Parse(PreferredTimeLayout, r.PreferredTimeUTC); err != nil || !fixedDigits(r.PreferredTimeUTC, PreferredTimeLayout) {
			v.add("preferredTimeUTC", "must be \"yyyy-mm-dd hh24:mi\" in UTC, e.g. \"2024-02-02 13:03\", got %q", r.PreferredTimeUTC)
		}
	}
	v.text("extensionNumber", r.ExtensionNumber, 5, false)
	if r.ExtensionNumber != "" && !timed && r.Action != "" {
		v.add("extensionNumber", "only for actions %s and %s, not %s", ActionManualCallback, ActionScheduledCallback, r.Action)
	}
	v.text("language", r.Language, 5, false)
	v.note("comments", r.Comments, 2000)
	return v.err()
}

// values is the form the provider receives, login first; empty optional fields are left out.
func (r OVCallbackRequest) values(c Credentials) url.Values {
	f := url.Values{}
	f.Set("loginName", c.LoginName())
	f.Set("loginPassword", c.loginPassword())
	f.Set("action", r.Action)
	f.Set("orderNumber", r.OrderNumber)
	setIf(f, "phoneNumber", r.PhoneNumber)
	setIf(f, "emailAddress", r.EmailAddress)
	setIf(f, "preferredTimeUTC", r.PreferredTimeUTC)
	setIf(f, "extensionNumber", r.ExtensionNumber)
	setIf(f, "language", r.Language)
	setIf(f, "comments", r.Comments)
	return f
}

func setIf(f url.Values, key, value string) {
	if value != "" {
		f.Set(key, value)
	}
}

func isCallbackAction(a string) bool {
	for _, x := range callbackActions {
		if a == x {
			return true
		}
	}
	return false
}

// isEmail accepts a bare address (no display name, no angle brackets).
func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// fixedDigits reports whether v has layout's shape: a digit wherever layout has one, and
// layout's own character everywhere else.
func fixedDigits(v, layout string) bool {
	if len(v) != len(layout) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := layout[i]; c >= '0' && c <= '9' {
			if v[i] < '0' || v[i] > '9' {
				return false
			}
		} else if v[i] != c {
			return false
		}
	}
	return true
}
