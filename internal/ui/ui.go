// Package ui serves the asynq web UI (asynqmon, embedded in the binary) behind optional basic
// auth, with payloads and results shown as indented JSON, without passwords.
package ui

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"

	"github.com/ovqueue/ovqueue/internal/redact"
)

// Options configures the UI.
type Options struct {
	Redis    asynq.RedisConnOpt
	User     string // basic auth; both empty: no auth (only allowed on loopback by config)
	Password string
	ReadOnly bool // hide and refuse destructive actions
}

// UI is the web UI's HTTP handler; Close releases its Redis connections.
type UI struct {
	mon  *asynqmon.HTTPHandler
	h    http.Handler
	user [32]byte
	pass [32]byte
	auth bool
}

// New builds the UI at "/".
func New(o Options) *UI {
	mon := asynqmon.New(asynqmon.Options{
		RootPath:     "/",
		RedisConnOpt: o.Redis,
		ReadOnly:     o.ReadOnly,
		// A payload carries no password unless its producer put one in; the UI must not show it.
		PayloadFormatter: asynqmon.PayloadFormatterFunc(func(_ string, p []byte) string { return indent(redact.Passwords(p)) }),
		ResultFormatter:  asynqmon.ResultFormatterFunc(func(_ string, r []byte) string { return indent(redact.Passwords(r)) }),
	})
	u := &UI{mon: mon, h: mon, auth: o.User != "" || o.Password != ""}
	u.user, u.pass = sha256.Sum256([]byte(o.User)), sha256.Sum256([]byte(o.Password))
	return u
}

// ServeHTTP checks credentials (in constant time) and serves the UI.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u.auth {
		user, pass, ok := r.BasicAuth()
		uh, ph := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		if !ok || subtle.ConstantTimeCompare(uh[:], u.user[:])&subtle.ConstantTimeCompare(ph[:], u.pass[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="ovqueue", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	u.h.ServeHTTP(w, r)
}

// Close releases the UI's Redis connections.
func (u *UI) Close() error { return u.mon.Close() }

// indent shows JSON indented, and anything else (a poison payload) as it is.
func indent(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") == nil {
		return out.String()
	}
	return string(b)
}
