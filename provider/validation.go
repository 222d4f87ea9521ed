package provider

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
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
	v.field(field, value, max, required, "\t")
}

// note is text for free-form notes to people (comments), which may run over several lines.
func (v *validator) note(field, value string, max int) {
	v.field(field, value, max, false, "\t\n\r")
}

// field applies checkText's rules to a request's field, and more: a required field of nothing
// but spaces is missing, an optional one is refused (the provider would store the blanks; an
// empty field is left out instead), and no control character other than those in allowed is
// sent (a newline in an order number would also split every log line and listing that shows
// the task ID). A tab is allowed everywhere: it comes with values pasted from spreadsheets,
// and tasks queued before this rule may hold one.
func (v *validator) field(field, value string, max int, required bool, allowed string) {
	if err := checkText(field, value, max, required); err != nil {
		v.errs = append(v.errs, err)
		return
	}
	if value != "" && strings.TrimSpace(value) == "" {
		if required {
			v.add(field, "required (got only spaces)")
		} else {
			v.add(field, "only spaces: give a value, or leave the field out")
		}
		return
	}
	for i, r := range value {
		if unicode.IsControl(r) && !strings.ContainsRune(allowed, r) {
			v.add(field, "must not contain control characters, got %U at byte %d", r, i)
			return
		}
	}
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.errs...) }
