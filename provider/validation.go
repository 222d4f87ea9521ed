package provider

import (
	"errors"
	"fmt"
)

// FieldError is one broken rule of a request: the provider's parameter name and what is wrong
// with it, e.g. `preferredTimeUTC: must be "yyyy-mm-dd hh24:mi" in UTC, got "tomorrow"`.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ErrInvalid is matched (errors.Is) by every validation error, so callers can tell bad input
// from a failed call without knowing which field was wrong.
var ErrInvalid = errors.New("invalid request")

// Is makes every *FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// FieldErrors returns every *FieldError inside err (which may be a join of several), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// validator collects field errors so that one Validate call reports every broken rule.
type validator struct{ errs []error }

func (v *validator) text(field, value string, max int, required bool) {
	if err := checkText(field, value, max, required); err != nil {
		v.errs = append(v.errs, err)
	}
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }
