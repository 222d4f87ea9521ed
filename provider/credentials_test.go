package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestCredentialsNeverPrintPassword(t *testing.T) {
	t.Parallel()
	const pw = "s3cr3t-Pa55word"
	c, err := NewCredentials("reseller", pw)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Public  Credentials
		private Credentials
		Ptr     *Credentials
	}
	h := holder{Public: c, private: c, Ptr: &c}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	log.Info().Object("creds", c).Interface("iface", c).Interface("holder", h).Msg("login")
	outputs = append(outputs, buf.String())

	for _, out := range outputs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("password printed: %s", out)
		}
	}
	if !strings.Contains(buf.String(), `"loginName":"reseller"`) {
		t.Errorf("zerolog object should carry the login name: %s", buf.String())
	}
	if got := c.loginPassword(); got != pw {
		t.Errorf("loginPassword() = %q, want the password", got)
	}
}

func TestNewCredentialsRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, login, pw string
		want            string
	}{
		{"ok", "a", "b", ""},
		{"login missing", "", "b", "loginName: required"},
		{"password missing", "a", "", "loginPassword: required"},
		{"login too long", strings.Repeat("a", 65), "b", "loginName: at most 64"},
		{"password too long", "a", strings.Repeat("p", 129), "loginPassword: at most 128"},
		{"login of two lines", "line1\nline2", "b", "loginName: must not contain control characters"},
		{"password of two lines", "a", "pp1\r\npp2", "loginPassword: must not contain control characters"},
		{"NUL in password", "a", "pp\x00", "loginPassword: must not contain control characters"},
		{"tab in password", "a", "p\tq", ""},
		{"DEL and C1 in password", "a", "p\x7fq\u0085", ""},
		{"login of spaces", "   ", "b", "loginName: must not be only spaces"},
		{"login padded", " acme ", "b", "loginName: must not start or end with spaces"},
		{"password of spaces", "a", "  \t ", "loginPassword: must not be only spaces"},
		{"password padded", "a", " p q ", ""},
		{"replacement character in password", "a", "p\ufffdq", "loginPassword: must not contain U+FFFD"},
		{"byte-order mark in name", "\ufeffa", "pw", "loginName: must not contain U+FEFF, a byte-order mark"},
		{"byte-order mark in password", "a", "\ufeffpw", "loginPassword: must not contain U+FEFF, a byte-order mark"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCredentials(tt.login, tt.pw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), strings.Repeat("p", 129)) || strings.Contains(err.Error(), "pp") {
				t.Fatal("error repeats the password")
			}
		})
	}
}
