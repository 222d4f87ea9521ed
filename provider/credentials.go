package provider

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

const redacted = "[redacted]"

// Credentials is an account's login for the provider. Its password can only be read by this
// package when it builds a request: String, GoString, MarshalJSON, MarshalText and zerolog all
// print "[redacted]", and the password is held behind a function so that even reflection-based
// printers (%+v of a struct that embeds Credentials in an unexported field) cannot reach it.
type Credentials struct {
	loginName string
	password  func() string
	forms     func() []string // passwordForms of the password, worked out once
}

// NewCredentials checks a login against the provider's limits (loginName up to 64 characters,
// loginPassword up to 128, both required) and wraps it.
func NewCredentials(loginName, loginPassword string) (Credentials, error) {
	var errs []error
	if err := checkLogin("loginName", loginName, 64); err != nil {
		errs = append(errs, err)
	}
	if err := checkLogin("loginPassword", loginPassword, 128); err != nil {
		// The rule is named, never the value.
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Credentials{}, errors.Join(errs...)
	}
	forms := passwordForms(loginPassword)
	return Credentials{loginName: loginName, password: func() string { return loginPassword },
		forms: func() []string { return forms }}, nil
}

// LoginName returns the account's login name, which is not a secret.
func (c Credentials) LoginName() string { return c.loginName }

// IsZero reports whether c holds no login.
func (c Credentials) IsZero() bool { return c.password == nil }

func (c Credentials) loginPassword() string {
	if c.password == nil {
		return ""
	}
	return c.password()
}

// passwordForms returns the forms in which an answer may quote the password (see
// passwordForms); the caller must not change the slice.
func (c Credentials) passwordForms() []string {
	if c.forms == nil {
		return nil
	}
	return c.forms()
}

// String returns "[redacted]".
func (c Credentials) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not print the password either.
func (c Credentials) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "[redacted]".
func (c Credentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (c Credentials) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalZerologObject logs the login name only.
func (c Credentials) MarshalZerologObject(e *zerolog.Event) {
	e.Str("loginName", c.loginName).Str("loginPassword", redacted)
}

// checkLogin is checkText for a required part of a login, which also may not hold an ASCII
// control character other than a tab: a line break inside is most often a file of two lines
// read as one value, and every call with it would be refused with -16, which may lock the
// account. (Configuration trims a line break at the end.) Where the character is, is not
// said: it would tell of a password.
func checkLogin(field, v string, max int) error {
	if err := checkText(field, v, max, true); err != nil {
		return err
	}
	for _, r := range v {
		if r < 0x20 && r != '\t' {
			return &FieldError{Field: field, Problem: "must not contain control characters such as a line break (is it read from a file of more than one line?)"}
		}
	}
	// Blank, or a name padded with spaces, is a slip of configuration that the provider would
	// refuse on every call, as above. A password may start or end with a space. U+FFFD is
	// what a decoder makes of bytes that are not text (or of a JSON "\udc80"), U+FEFF what some
	// editors write first in a file: neither is part of a login.
	switch {
	case strings.ContainsRune(v, utf8.RuneError):
		return &FieldError{Field: field, Problem: "must not contain U+FFFD, the replacement character (was it decoded from something that is not UTF-8?)"}
	case strings.ContainsRune(v, '\ufeff'):
		return &FieldError{Field: field, Problem: `must not contain U+FEFF, a byte-order mark (was it read from a file saved as "UTF-8 with BOM"?)`}
	case strings.TrimSpace(v) == "":
		return &FieldError{Field: field, Problem: "must not be only spaces"}
	case field == "loginName" && strings.TrimSpace(v) != v:
		return &FieldError{Field: field, Problem: "must not start or end with spaces"}
	}
	return nil
}

// checkText applies the provider's rules for a text parameter: required or not, at most max
// characters (not bytes), valid UTF-8.
func checkText(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return &FieldError{Field: field, Problem: "required"}
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return &FieldError{Field: field, Problem: "must be valid UTF-8"}
	}
	if n := utf8.RuneCountInString(v); n > max {
		return &FieldError{Field: field, Problem: fmt.Sprintf("at most %d characters, got %d", max, n)}
	}
	return nil
}
