package tasks

import (
	"fmt"

	"github.com/ovqueue/ovqueue/provider"
)

// ValidateAccount checks an account alias: 1 to 64 characters of letters, digits, '.', '_'
// and '-'. The empty alias means DefaultAccount.
func ValidateAccount(alias string) error {
	if alias == "" {
		return nil
	}
	if len(alias) > 64 {
		return &provider.FieldError{Field: "account", Problem: fmt.Sprintf("at most 64 characters, got %d", len(alias))}
	}
	for _, r := range alias {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return &provider.FieldError{Field: "account", Problem: fmt.Sprintf("only letters, digits, '.', '_' and '-', got %q", alias)}
		}
	}
	return nil
}

func accountOrDefault(a string) string {
	if a == "" {
		return DefaultAccount
	}
	return a
}
