package worker

import (
	"strings"
	"testing"
)

func TestWithoutPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"none", `{"orderNumber":1,"comments":"call me"}`, `{"orderNumber":1,"comments":"call me"}`},
		{"top level", `{"orderNumber":1,"loginPassword":"hunter2"}`, `{"orderNumber":1,"loginPassword":"[redacted]"}`},
		{"any case, nested, escaped quote", `{"a":{"DB_PASSWORD" : "x\"hunter2"},"b":2}`, `{"a":{"DB_PASSWORD" : "[redacted]"},"b":2}`},
		{"not JSON", `{"loginPassword":"hunter2", oops`, `{"loginPassword":"[redacted]", oops`},
		{"the word in a value only", `{"comments":"reset my password please"}`, `{"comments":"reset my password please"}`},
	}
	for _, tt := range tests {
		if got := string(withoutPasswords([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: withoutPasswords(%s) = %s, want %s", tt.name, tt.in, got, tt.want)
		}
	}
	// A payload too broken to keep as JSON is stored as a string, without the password.
	if got := string(payloadJSON([]byte(`{"loginPassword":"hunter2", oops`))); strings.Contains(got, "hunter2") {
		t.Errorf("payloadJSON kept the password: %s", got)
	}
}
