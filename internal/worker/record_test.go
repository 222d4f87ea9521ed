package worker

import (
	"strings"
	"testing"
)

func TestPayloadJSONWithoutPasswords(t *testing.T) {
	t.Parallel()
	// A payload too broken to keep as JSON is stored as a string, without the password.
	if got := string(payloadJSON([]byte(`{"loginPassword":"hunter2", oops`))); strings.Contains(got, "hunter2") {
		t.Errorf("payloadJSON kept the password: %s", got)
	}
}
