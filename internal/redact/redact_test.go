package redact

import "testing"

func TestPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"none", `{"orderNumber":1,"comments":"call me"}`, `{"orderNumber":1,"comments":"call me"}`},
		{"top level", `{"orderNumber":1,"loginPassword":"hunter2"}`, `{"loginPassword":"[redacted]","orderNumber":1}`},
		{"any case, nested, escaped quote", `{"a":{"DB_PASSWORD" : "x\"hunter2"},"b":2}`, `{"a":{"DB_PASSWORD":"[redacted]"},"b":2}`},
		{"not a string", `{"loginPassword":12345678,"x":{"password":{"value":"hunter2"}}}`, `{"loginPassword":"[redacted]","x":{"password":"[redacted]"}}`},
		{"escaped name", `{"login\u0050assword":"hunter2"}`, `{"loginPassword":"[redacted]"}`},
		{"big numbers kept", `{"password":"x","orderNumber":12345678901234567890}`, `{"orderNumber":12345678901234567890,"password":"[redacted]"}`},
		{"not JSON", `{"loginPassword":"hunter2", oops`, `{"loginPassword":"[redacted]", oops`},
		{"not JSON, left open", `{"loginPassword":"hunter2`, `{"loginPassword":"[redacted]"`},
		{"not JSON, bare", `{"loginPassword":hunter2, oops`, `{"loginPassword":"[redacted]", oops`},
		{"form-encoded", `loginName=acme&loginPassword=hunter2&orderNumber=1`, `loginName=acme&loginPassword=[redacted]&orderNumber=1`},
		{"the word in a value only", `{"comments":"reset my password please"}`, `{"comments":"reset my password please"}`},
	}
	for _, tt := range tests {
		if got := string(Passwords([]byte(tt.in))); got != tt.want {
			t.Errorf("%s: Passwords(%s) = %s, want %s", tt.name, tt.in, got, tt.want)
		}
	}
}
