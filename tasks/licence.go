package tasks

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
)

// LicencePayload is the payload of TypeLicenceModify: one !modifyThirdPartyDetails call.
// Fields carry the provider's parameter names; empty ones are not sent.
type LicencePayload struct {
	Account            string `json:"account,omitempty"` // alias of the worker's account; "" means DefaultAccount
	OrderNumber        Int    `json:"orderNumber"`
	Product            Int    `json:"product"`          // a documented product code
	Action             string `json:"action,omitempty"` // provider.ActionCancelLicence, or "" to change details
	CancelType         string `json:"cancelType,omitempty"`
	QualysLoginName    string `json:"qualysLoginName,omitempty"`
	QualysCompanyName  string `json:"qualysCompanyName,omitempty"`
	CodeGuardUserName  string `json:"codeGuardUserName,omitempty"`
	CodeGuardUserEmail string `json:"codeGuardUserEmail,omitempty"`
}

// LicenceFields lists the payload fields of TypeLicenceModify.
var LicenceFields = []string{"account", "orderNumber", "product", "action", "cancelType",
	"qualysLoginName", "qualysCompanyName", "codeGuardUserName", "codeGuardUserEmail"}

func (p *LicencePayload) fields() map[string]any {
	return map[string]any{
		"account": &p.Account, "orderNumber": &p.OrderNumber, "product": &p.Product,
		"action": &p.Action, "cancelType": &p.CancelType,
		"qualysLoginName": &p.QualysLoginName, "qualysCompanyName": &p.QualysCompanyName,
		"codeGuardUserName": &p.CodeGuardUserName, "codeGuardUserEmail": &p.CodeGuardUserEmail,
	}
}

// Request is the provider call this payload asks for.
func (p LicencePayload) Request() provider.LicenceRequest {
	product := int(p.Product)
	if int64(product) != int64(p.Product) {
		product = -1 // out of int range: never a product code
	}
	return provider.LicenceRequest{
		OrderNumber: int64(p.OrderNumber), Product: product, Action: p.Action, CancelType: p.CancelType,
		QualysLoginName: p.QualysLoginName, QualysCompanyName: p.QualysCompanyName,
		CodeGuardUserName: p.CodeGuardUserName, CodeGuardUserEmail: p.CodeGuardUserEmail,
	}
}

// Validate reports every broken rule, each naming its field.
func (p LicencePayload) Validate() error {
	return errors.Join(ValidateAccount(p.Account), p.Request().Validate())
}

func (p LicencePayload) canonical() ([]byte, error) {
	p.Account = accountOrDefault(p.Account)
	return json.Marshal(p)
}

// DecodeLicence decodes and validates a TypeLicenceModify payload. orderNumber and product
// may be JSON numbers or strings of digits. Unknown fields and values of the wrong JSON type
// are errors that name the field.
func DecodeLicence(data []byte) (LicencePayload, error) {
	var p LicencePayload
	if decodeCanonical(data, &p, func() ([]byte, error) { return p.canonical() }) {
		return p, errors.Join(p.Validate()) // as decodeAndValidate returns it
	}
	p = LicencePayload{}
	err := decodeAndValidate(data, p.fields(), func() error { return p.Validate() }) // p once decoded
	return p, err
}

// NewLicenceTask validates p and returns the task with its options: the type's queue, retry
// budget, timeout, 24 h retention and a deterministic task ID, changed by opts.
func NewLicenceTask(p LicencePayload, opts ...Option) (*asynq.Task, []asynq.Option, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	payload, err := p.canonical()
	if err != nil {
		return nil, nil, err
	}
	return newTask(TypeLicenceModify, strconv.FormatInt(int64(p.OrderNumber), 10), payload, opts)
}
