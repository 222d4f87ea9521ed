package tasks

import (
	"encoding/json"
	"errors"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/provider"
)

// OVCallbackPayload is the payload of TypeOVCallbackUpdate: one !UpdateUserOvCallback call.
// Fields carry the provider's parameter names; empty ones are not sent.
type OVCallbackPayload struct {
	Account          string `json:"account,omitempty"` // alias of the worker's account; "" means DefaultAccount
	OrderNumber      string `json:"orderNumber"`
	Action           string `json:"action"` // one of provider.CallbackActions
	PhoneNumber      string `json:"phoneNumber,omitempty"`
	EmailAddress     string `json:"emailAddress,omitempty"`
	PreferredTimeUTC string `json:"preferredTimeUTC,omitempty"` // "yyyy-mm-dd hh24:mi", UTC
	ExtensionNumber  string `json:"extensionNumber,omitempty"`
	Language         string `json:"language,omitempty"`
	Comments         string `json:"comments,omitempty"`
}

// OVCallbackFields lists the payload fields of TypeOVCallbackUpdate.
var OVCallbackFields = []string{"account", "orderNumber", "action", "phoneNumber", "emailAddress",
	"preferredTimeUTC", "extensionNumber", "language", "comments"}

func (p *OVCallbackPayload) fields() map[string]any {
	return map[string]any{
		"account": &p.Account, "orderNumber": &p.OrderNumber, "action": &p.Action,
		"phoneNumber": &p.PhoneNumber, "emailAddress": &p.EmailAddress,
		"preferredTimeUTC": &p.PreferredTimeUTC, "extensionNumber": &p.ExtensionNumber,
		"language": &p.Language, "comments": &p.Comments,
	}
}

// Request is the provider call this payload asks for.
func (p OVCallbackPayload) Request() provider.OVCallbackRequest {
	return provider.OVCallbackRequest{
		OrderNumber: p.OrderNumber, Action: p.Action, PhoneNumber: p.PhoneNumber,
		EmailAddress: p.EmailAddress, PreferredTimeUTC: p.PreferredTimeUTC,
		ExtensionNumber: p.ExtensionNumber, Language: p.Language, Comments: p.Comments,
	}
}

// Validate reports every broken rule, each naming its field.
func (p OVCallbackPayload) Validate() error {
	return errors.Join(ValidateAccount(p.Account), p.Request().Validate())
}

// canonical is the payload as stored: the account filled in.
func (p OVCallbackPayload) canonical() ([]byte, error) {
	p.Account = accountOrDefault(p.Account)
	return json.Marshal(p)
}

// DecodeOVCallback decodes and validates a TypeOVCallbackUpdate payload. Unknown fields and
// values of the wrong JSON type are errors that name the field.
func DecodeOVCallback(data []byte) (OVCallbackPayload, error) {
	var p OVCallbackPayload
	if decodeCanonical(data, &p, func() ([]byte, error) { return p.canonical() }) {
		return p, errors.Join(p.Validate()) // as decodeAndValidate returns it
	}
	p = OVCallbackPayload{}
	err := decodeAndValidate(data, p.fields(), func() error { return p.Validate() }) // p once decoded
	return p, err
}

// NewOVCallbackTask validates p and returns the task with its options: the type's queue,
// retry budget, timeout, 24 h retention and a deterministic task ID, changed by opts.
func NewOVCallbackTask(p OVCallbackPayload, opts ...Option) (*asynq.Task, []asynq.Option, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	payload, err := p.canonical()
	if err != nil {
		return nil, nil, err
	}
	return newTask(TypeOVCallbackUpdate, p.OrderNumber, payload, opts)
}
