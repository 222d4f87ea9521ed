// Package ui serves the asynq web UI (asynqmon, embedded in the binary) behind optional basic
// auth, with payloads and results shown as indented JSON, without passwords.
//
// A browser that has the UI open, or has its credentials cached, must not be usable by another
// site: a request that changes something (any method but GET, HEAD and OPTIONS) from another
// origin is refused, and a UI without credentials answers only to loopback host names, so
// that a page whose own name was rebound to 127.0.0.1 (DNS rebinding) cannot read it either.
package ui

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"

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
	cop  *http.CrossOriginProtection
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
	u := &UI{mon: mon, h: mon, cop: http.NewCrossOriginProtection(), auth: o.User != "" || o.Password != ""}
	u.user, u.pass = sha256.Sum256([]byte(o.User)), sha256.Sum256([]byte(o.Password))
	return u
}

// ServeHTTP checks the host name, the request's origin and the credentials (in constant time),
// and serves the UI.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !u.auth && !loopbackHost(r.Host) {
		// Without credentials the UI listens on loopback only (the configuration sees to that),
		// and a browser names it by a loopback address or localhost. Another name is a page
		// whose name was rebound to this machine, or a proxy that passes its own Host on.
		http.Error(w, "this UI has no UI_USER/UI_PASSWORD, so it answers only to a loopback host "+
			"name (127.0.0.1, [::1], localhost), not "+r.Host+"; behind a proxy, pass the UI's own "+
			"address as Host, or set UI_USER and UI_PASSWORD", http.StatusForbidden)
		return
	}
	if err := u.cop.Check(r); err != nil {
		// A form or a script of another site, riding on this browser's session: the UI's own
		// pages send their actions from its own origin.
		http.Error(w, "cross-origin request refused: the UI's actions are taken from its own pages", http.StatusForbidden)
		return
	}
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

// loopbackHost reports whether a Host header names this machine by a loopback address, or by
// localhost (which browsers resolve to loopback themselves, never through DNS). An empty Host
// (HTTP/1.0, not a browser) passes.
func loopbackHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
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
