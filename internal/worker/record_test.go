package worker

import (
	"encoding/json"
	"testing"
)

func TestPayloadJSONWithoutPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		// A payload too broken to keep as JSON is stored as a JSON string, without the password.
		{"broken", `{"loginPassword":"hunter2", oops`, `"{\"loginPassword\":\"[redacted]\", oops"`},
		// A JSON payload is kept as it is; one with a password is re-encoded without it.
		{"JSON", `{"orderNumber":1, "action":"CANCELLICENCE"}`, `{"orderNumber":1, "action":"CANCELLICENCE"}`},
		{"JSON with a password", `{"orderNumber":1,"loginPassword":"hunter2"}`, `{"loginPassword":"[redacted]","orderNumber":1}`},
		// Not JSON at all: a JSON string, so that the record stays readable.
		{"binary", "\x00\x01", `"\u0000\u0001"`},
	}
	for _, tt := range tests {
		got := payloadJSON([]byte(tt.in))
		if string(got) != tt.want || !json.Valid(got) {
			t.Errorf("%s: payloadJSON = %s, want %s", tt.name, got, tt.want)
		}
	}
}
