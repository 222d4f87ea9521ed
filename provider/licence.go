package provider

import (
	"net/url"
	"strconv"
)

// EndpointModifyThirdPartyDetails modifies or cancels a third-party licence.
const EndpointModifyThirdPartyDetails = "!modifyThirdPartyDetails"

// ActionCancelLicence is the only action of !modifyThirdPartyDetails; without an action the call
// changes the licence's account details.
const ActionCancelLicence = "CANCELLICENCE"

// The cancelTypes of a SiteLock cancellation.
const (
	CancelImmediately  = "IMMEDIATELY"
	CancelOnExpiration = "ON EXPIRATION"
)

// LicenceRequest is one !modifyThirdPartyDetails call, without the login. Field names follow the
// provider's parameters; an empty field is not sent.
type LicenceRequest struct {
	OrderNumber        int64
	Product            int
	Action             string
	CancelType         string
	QualysLoginName    string
	QualysCompanyName  string
	CodeGuardUserName  string
	CodeGuardUserEmail string
}

// Validate reports every rule of the provider's documentation that r breaks, each as a
// *FieldError naming the parameter; nil when r can be sent.
func (r LicenceRequest) Validate() error {
	var v validator
	switch {
	case r.OrderNumber == 0:
		v.add("orderNumber", "required, a positive integer")
	case r.OrderNumber < 0:
		v.add("orderNumber", "must be a positive integer, got %d", r.OrderNumber)
	}
	family, known := ProductFamily(r.Product)
	switch {
	case r.Product == 0:
		v.add("product", "required, one of the documented product codes")
	case r.Product < 0:
		v.add("product", "must be one of the documented product codes, got %d", r.Product)
	case !known:
		v.add("product", "%d is not a documented product code", r.Product)
	}
	if r.Action != "" && r.Action != ActionCancelLicence {
		v.add("action", "must be %s or empty (to change account details), got %q", ActionCancelLicence, r.Action)
	}
	v.text("qualysLoginName", r.QualysLoginName, 50, false)
	v.text("qualysCompanyName", r.QualysCompanyName, 50, false)
	v.text("codeGuardUserName", r.CodeGuardUserName, 50, false)
	v.text("codeGuardUserEmail", r.CodeGuardUserEmail, 50, false)
	if r.CodeGuardUserEmail != "" && !isEmail(r.CodeGuardUserEmail) {
		v.add("codeGuardUserEmail", "must be an e-mail address such as name@example.com")
	}
	if known {
		onlyFor := func(field, value string, want Family) {
			if value != "" && family != want {
				v.add(field, "only for %s products, not product %d (%s)", want, r.Product, family)
			}
		}
		onlyFor("qualysLoginName", r.QualysLoginName, FamilyHackerGuardian)
		onlyFor("qualysCompanyName", r.QualysCompanyName, FamilyHackerGuardian)
		onlyFor("codeGuardUserName", r.CodeGuardUserName, FamilyCodeGuard)
		onlyFor("codeGuardUserEmail", r.CodeGuardUserEmail, FamilyCodeGuard)
		onlyFor("cancelType", r.CancelType, FamilySiteLock)
	}
	if r.CancelType != "" {
		if r.CancelType != CancelImmediately && r.CancelType != CancelOnExpiration {
			v.add("cancelType", "must be %q or %q, got %q", CancelImmediately, CancelOnExpiration, r.CancelType)
		}
		if r.Action != ActionCancelLicence {
			v.add("cancelType", "only with action %s", ActionCancelLicence)
		}
	}
	if r.Action == "" && r.QualysLoginName == "" && r.QualysCompanyName == "" &&
		r.CodeGuardUserName == "" && r.CodeGuardUserEmail == "" {
		v.add("action", "nothing to do: set action %s or a detail field to change", ActionCancelLicence)
	}
	return v.err()
}

func (r LicenceRequest) values(c Credentials) url.Values {
	f := url.Values{}
	f.Set("loginName", c.LoginName())
	f.Set("loginPassword", c.loginPassword())
	f.Set("orderNumber", strconv.FormatInt(r.OrderNumber, 10))
	f.Set("product", strconv.Itoa(r.Product))
	setIf(f, "action", r.Action)
	setIf(f, "cancelType", r.CancelType)
	setIf(f, "qualysLoginName", r.QualysLoginName)
	setIf(f, "qualysCompanyName", r.QualysCompanyName)
	setIf(f, "codeGuardUserName", r.CodeGuardUserName)
	setIf(f, "codeGuardUserEmail", r.CodeGuardUserEmail)
	return f
}
