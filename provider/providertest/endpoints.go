package providertest

import (
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// The endpoints the fake serves, as the last segment of the URL path.
const (
	EndpointCallback = "!UpdateUserOvCallback"
	EndpointLicence  = "!modifyThirdPartyDetails"
)

// Actions of !UpdateUserOvCallback, spelled exactly as the provider accepts them.
const (
	ActionScheduledCallback   = "ScheduledCallback"
	ActionManualCallback      = "ManualCallback"
	ActionReplacePhone        = "ReplacePhone"
	ActionReplaceEmailAddress = "replaceEmailAddress"
	ActionSendCallbackEmail   = "sendCallbackEmail"
)

// ActionCancelLicence is the only action !modifyThirdPartyDetails accepts.
const ActionCancelLicence = "CANCELLICENCE"

// Cancel types of !modifyThirdPartyDetails (SiteLock products only).
const (
	CancelImmediately  = "IMMEDIATELY"
	CancelOnExpiration = "ON EXPIRATION"
)

// TimeLayout is the format of preferredTimeUTC ("yyyy-mm-dd hh24:mi").
const TimeLayout = "2006-01-02 15:04"

// Product families of !modifyThirdPartyDetails, by product code.
var (
	codeGuardProducts      = map[int]bool{700: true, 701: true, 702: true, 703: true}
	hackerGuardianProducts = map[int]bool{341: true, 586: true, 346: true, 349: true, 357: true}
	webProducts            = map[int]bool{1000: true, 1001: true, 1002: true, 1003: true, 1004: true, 1005: true, 1006: true, 1007: true, 1008: true, 1009: true}
	siteLockMainProducts   = map[int]bool{1059: true, 1060: true, 1061: true, 1062: true}
	siteLockAddOnProducts  = map[int]bool{1068: true, 1069: true, 1070: true, 1071: true}
)

func isSiteLock(product int) bool {
	return siteLockMainProducts[product] || siteLockAddOnProducts[product]
}

func isProduct(product int) bool {
	return codeGuardProducts[product] || hackerGuardianProducts[product] || webProducts[product] || isSiteLock(product)
}

// param is one parameter an endpoint lists.
type param struct {
	name     string
	max      int  // most characters; 0 = no limit
	required bool // missing or empty answers -3 before credentials are checked
	// check validates a non-empty value, or the absence of a conditional
	// one, once credentials are checked; nil = any value.
	check func(value string, form url.Values) *Answer
}

// endpoint is what the fake knows of one endpoint.
type endpoint struct {
	params []param
}

func (e *endpoint) lists(name string) bool {
	for _, p := range e.params {
		if p.name == name {
			return true
		}
	}
	return false
}

var endpoints = map[string]*endpoint{
	EndpointCallback: {params: []param{
		{name: "loginName", max: 64, required: true},
		{name: "loginPassword", max: 128, required: true},
		{name: "action", max: 100, required: true, check: checkCallbackAction},
		{name: "orderNumber", max: 128, required: true},
		{name: "phoneNumber", max: 32, check: requiredFor("phoneNumber", ActionReplacePhone)},
		{name: "emailAddress", max: 255, check: requiredFor("emailAddress", ActionReplaceEmailAddress)},
		{name: "preferredTimeUTC", max: 30, check: checkPreferredTime},
		{name: "extensionNumber", max: 5, check: checkExtension},
		{name: "language", max: 5},
		{name: "comments", max: 2000},
	}},
	EndpointLicence: {params: []param{
		{name: "loginName", max: 64, required: true},
		{name: "loginPassword", max: 128, required: true},
		{name: "orderNumber", required: true, check: checkOrderNumber},
		{name: "product", required: true, check: checkProduct},
		{name: "qualysLoginName", max: 50, check: onlyFor("qualysLoginName", hackerGuardianProducts)},
		{name: "qualysCompanyName", max: 50, check: onlyFor("qualysCompanyName", hackerGuardianProducts)},
		{name: "codeGuardUserName", max: 50, check: onlyFor("codeGuardUserName", codeGuardProducts)},
		{name: "codeGuardUserEmail", max: 50, check: onlyFor("codeGuardUserEmail", codeGuardProducts)},
		{name: "action", check: checkLicenceAction},
		{name: "cancelType", check: checkCancelType},
	}},
}

func missing(name string) *Answer {
	a := Err(CodeMissingArgument, name)
	return &a
}

func invalid(name string) *Answer {
	a := Err(CodeInvalidArgument, name)
	return &a
}

// validate runs the per-parameter checks of step 6 in table order.
func (e *endpoint) validate(form url.Values) *Answer {
	for _, p := range e.params {
		v := form.Get(p.name)
		if p.max > 0 && utf8.RuneCountInString(v) > p.max {
			return invalid(p.name)
		}
		if p.check != nil {
			if a := p.check(v, form); a != nil {
				return a
			}
		}
	}
	return nil
}

func checkCallbackAction(v string, _ url.Values) *Answer {
	switch v {
	case ActionScheduledCallback, ActionManualCallback, ActionReplacePhone,
		ActionReplaceEmailAddress, ActionSendCallbackEmail:
		return nil
	}
	return invalid("action")
}

// requiredFor makes a parameter required for one callback action.
func requiredFor(name, action string) func(string, url.Values) *Answer {
	return func(v string, form url.Values) *Answer {
		if v == "" && form.Get("action") == action {
			return missing(name)
		}
		return nil
	}
}

func isBooking(action string) bool {
	return action == ActionScheduledCallback || action == ActionManualCallback
}

func checkPreferredTime(v string, form url.Values) *Answer {
	if v == "" {
		if isBooking(form.Get("action")) {
			return missing("preferredTimeUTC")
		}
		return nil
	}
	if !validTime(v) {
		return invalid("preferredTimeUTC")
	}
	return nil
}

// validTime reports whether v is exactly "yyyy-mm-dd hh24:mi" and a real
// time. time.Parse alone would accept a one-digit hour.
func validTime(v string) bool {
	if len(v) != len(TimeLayout) {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch TimeLayout[i] {
		case '-', ' ', ':':
			if v[i] != TimeLayout[i] {
				return false
			}
		default:
			if v[i] < '0' || v[i] > '9' {
				return false
			}
		}
	}
	_, err := time.Parse(TimeLayout, v)
	return err == nil
}

func checkExtension(v string, form url.Values) *Answer {
	if v != "" && !isBooking(form.Get("action")) {
		return invalid("extensionNumber")
	}
	return nil
}

// parsePositive parses a string of ASCII digits (at least one) into a
// positive integer.
func parsePositive(v string) (int64, bool) {
	if v == "" {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}

func checkOrderNumber(v string, _ url.Values) *Answer {
	if _, ok := parsePositive(v); !ok {
		return invalid("orderNumber")
	}
	return nil
}

// productOf returns the form's product code; ok is false when it is not a
// listed product.
func productOf(form url.Values) (int, bool) {
	n, ok := parsePositive(form.Get("product"))
	if !ok || n > 1<<31 || !isProduct(int(n)) {
		return 0, false
	}
	return int(n), true
}

func checkProduct(_ string, form url.Values) *Answer {
	if _, ok := productOf(form); !ok {
		return invalid("product")
	}
	return nil
}

// onlyFor allows a parameter only with the given product family.
func onlyFor(name string, family map[int]bool) func(string, url.Values) *Answer {
	return func(v string, form url.Values) *Answer {
		if v == "" {
			return nil
		}
		if p, _ := productOf(form); !family[p] {
			return invalid(name)
		}
		return nil
	}
}

// checkLicenceAction: the table marks action required; the sample that changes account
// details sends none, so it may be left out only when a detail field is given.
func checkLicenceAction(v string, form url.Values) *Answer {
	if v == "" {
		for _, detail := range []string{"qualysLoginName", "qualysCompanyName", "codeGuardUserName", "codeGuardUserEmail"} {
			if form.Get(detail) != "" {
				return nil
			}
		}
		return missing("action")
	}
	if v != ActionCancelLicence {
		return invalid("action")
	}
	return nil
}

func checkCancelType(v string, form url.Values) *Answer {
	if v == "" {
		return nil
	}
	p, _ := productOf(form)
	if !isSiteLock(p) || (v != CancelImmediately && v != CancelOnExpiration) {
		return invalid("cancelType")
	}
	return nil
}
