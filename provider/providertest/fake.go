package providertest

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Default credentials of a Fake built without WithAccount.
const (
	DefaultLoginName     = "demo"
	DefaultLoginPassword = "demo-password"
)

// MaxBodyBytes is the largest request body the fake reads; a larger one is
// answered with HTTP 413. The longest valid call is a few kilobytes.
const MaxBodyBytes = 1 << 20

// Fake is an http.Handler that behaves like the provider's two endpoints. It
// is safe for concurrent use; build it with NewFake.
type Fake struct {
	// Set by options at construction, read-only afterwards.
	accounts    map[string]string
	callLimit   int
	limitWindow time.Duration
	requireTLS  bool
	latency     time.Duration
	now         func() time.Time

	stopOnce sync.Once
	stopped  chan struct{} // closed by stop: waiting answers give up

	mu        sync.Mutex
	calls     []*Call
	scripts   map[scriptKey][]Answer
	hook      func(Call) *Answer
	windows   map[string]*limitWindow     // by loginName
	cancelled map[int64]map[int]time.Time // order number -> product -> when
}

// scriptKey names a script queue; endpoint "" matches every endpoint.
type scriptKey struct {
	endpoint, orderNumber string
}

// limitWindow is one loginName's fixed call-limit window.
type limitWindow struct {
	start time.Time
	calls int
}

// Option configures a Fake.
type Option func(*Fake)

// WithAccount adds credentials the fake accepts; give it once per account.
// Without it the fake accepts DefaultLoginName with DefaultLoginPassword.
func WithAccount(loginName, loginPassword string) Option {
	return func(f *Fake) {
		if f.accounts == nil {
			f.accounts = map[string]string{}
		}
		f.accounts[loginName] = loginPassword
	}
}

// WithCallLimit makes the fake answer -42 "Call limit reached! Please try
// again later." to every call beyond n per loginName within a fixed window,
// as the provider does with its unpublished limit. n <= 0 or window <= 0
// means no limit (the default).
func WithCallLimit(n int, window time.Duration) Option {
	return func(f *Fake) {
		f.callLimit, f.limitWindow = n, window
	}
}

// WithRequireTLS makes the fake answer -1 "Request was not made over https!"
// to requests that did not arrive over TLS, as the real provider does.
func WithRequireTLS() Option {
	return func(f *Fake) { f.requireTLS = true }
}

// WithLatency makes every answer wait d first, as a distant provider would;
// the wait ends, unanswered, when the request's context ends.
func WithLatency(d time.Duration) Option {
	return func(f *Fake) { f.latency = d }
}

// WithClock replaces time.Now for call times and call-limit windows, so
// tests can step through windows without sleeping.
func WithClock(now func() time.Time) Option {
	return func(f *Fake) { f.now = now }
}

// NewFake returns a fake provider configured by opts.
func NewFake(opts ...Option) *Fake {
	f := &Fake{
		now:       time.Now,
		stopped:   make(chan struct{}),
		scripts:   map[scriptKey][]Answer{},
		windows:   map[string]*limitWindow{},
		cancelled: map[int64]map[int]time.Time{},
	}
	for _, o := range opts {
		o(f)
	}
	if f.accounts == nil {
		f.accounts = map[string]string{DefaultLoginName: DefaultLoginPassword}
	}
	return f
}

// Script queues answers for calls whose form carries orderNumber (compared
// as a string, exactly). Each such call, on any endpoint, takes the next
// answer instead of being processed, whatever its method, credentials or
// parameters; it is still recorded. When the queue is empty, normal
// behaviour resumes. Calls to Script append to the queue.
func (f *Fake) Script(orderNumber string, answers ...Answer) {
	f.ScriptEndpoint("", orderNumber, answers...)
}

// ScriptEndpoint is Script limited to one endpoint (e.g. EndpointLicence),
// for when both endpoints see the same order number. A call takes from its
// endpoint's queue first, then from the queue Script fills.
func (f *Fake) ScriptEndpoint(endpoint, orderNumber string, answers ...Answer) {
	if len(answers) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := scriptKey{endpoint, orderNumber}
	f.scripts[k] = append(f.scripts[k], answers...)
}

// PendingScripts returns how many scripted answers are still queued, so a
// test can check that every one it scripted was used.
func (f *Fake) PendingScripts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, q := range f.scripts {
		n += len(q)
	}
	return n
}

// SetHook installs h, which sees every call that no script answered; a
// non-nil answer from h replaces normal behaviour. The Call h gets has no
// Code or Status yet. h runs without the fake's lock held, possibly
// concurrently, and may call the fake's methods. A nil h removes the hook.
func (f *Fake) SetHook(h func(Call) *Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// Calls returns a copy of every call recorded since the fake was built or
// Reset, in order of arrival.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.clone()
	}
	return out
}

// CallCount returns how many calls were recorded.
func (f *Fake) CallCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// CallsFor returns a copy of the recorded calls whose form's orderNumber is
// orderNumber, in order of arrival.
func (f *Fake) CallsFor(orderNumber string) []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if c.Form != nil && c.Form.Get("orderNumber") == orderNumber {
			out = append(out, c.clone())
		}
	}
	return out
}

// Cancelled reports whether a CANCELLICENCE for that order and product
// succeeded (for a SiteLock add-on, also when the order's main SiteLock
// licence was cancelled).
func (f *Fake) Cancelled(orderNumber int64, product int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isCancelledLocked(orderNumber, product)
}

// Reset forgets calls, scripts, call-limit windows and cancelled licences.
// Options and the hook stay.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.scripts = map[scriptKey][]Answer{}
	f.windows = map[string]*limitWindow{}
	f.cancelled = map[int64]map[int]time.Time{}
}

// stop ends every wait in progress and to come, so a server can close
// without waiting out long delays.
func (f *Fake) stop() {
	f.stopOnce.Do(func() { close(f.stopped) })
}

// request is what ServeHTTP learnt from reading a request.
type request struct {
	call     *Call
	keys     []string // parameter names in order of first appearance
	tooLarge bool
	formCT   bool  // Content-Type was application/x-www-form-urlencoded
	parseErr error // the body was not valid form encoding
}

// ServeHTTP answers one call as the provider would, unless a script or the
// hook says otherwise. The call is recorded before it is answered.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := f.read(w, r)
	script := f.record(req.call)
	if !ok { // the client went away while sending
		f.finish(req.call, Answer{Drop: true})
		return
	}
	var ans Answer
	switch {
	case script != nil:
		ans = *script
	default:
		f.mu.Lock()
		hook := f.hook
		f.mu.Unlock()
		var hooked *Answer
		if hook != nil {
			hooked = hook(req.call.cloneLocked(f))
		}
		if hooked != nil {
			ans = *hooked
		} else {
			ans = f.process(req)
		}
	}
	f.finish(req.call, ans)
	if !f.wait(r.Context(), f.latency+ans.Delay) {
		abort(w)
		return
	}
	if ans.Drop {
		drop(w)
		return
	}
	ans.write(w)
}

// cloneLocked copies c under f's lock (its Code and Status may change).
func (c *Call) cloneLocked(f *Fake) Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return c.clone()
}

// read reads and parses the request; ok is false when the body could not be
// read for another reason than its size.
func (f *Fake) read(w http.ResponseWriter, r *http.Request) (req request, ok bool) {
	c := &Call{
		Time:     f.now(),
		Method:   r.Method,
		Path:     r.URL.Path,
		Endpoint: r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:],
		Header:   r.Header.Clone(),
		TLS:      r.TLS != nil,
	}
	req.call = c
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		c.Body = string(body)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			req.tooLarge = true
			return req, true
		case err != nil:
			return req, false
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	req.formCT = mt == "application/x-www-form-urlencoded"
	if req.formCT {
		form, err := url.ParseQuery(c.Body)
		if err != nil {
			req.parseErr = err
		} else {
			c.Form = form
			req.keys = keyOrder(c.Body)
		}
	}
	return req, true
}

// keyOrder returns the parameter names of a well-formed body in order of
// first appearance (url.ParseQuery forgets the order).
func keyOrder(body string) []string {
	var keys []string
	seen := map[string]bool{}
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		if pair == "" {
			continue
		}
		k, _, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
	}
	return keys
}

// record appends c to the calls and pops the scripted answer for it, if any.
func (f *Fake) record(c *Call) *Answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if c.Form == nil {
		return nil
	}
	order, ok := c.Form["orderNumber"]
	if !ok || len(order) == 0 {
		return nil
	}
	for _, k := range []scriptKey{{c.Endpoint, order[0]}, {"", order[0]}} {
		if q := f.scripts[k]; len(q) > 0 {
			a := q[0]
			if len(q) == 1 {
				delete(f.scripts, k)
			} else {
				f.scripts[k] = q[1:]
			}
			return &a
		}
	}
	return nil
}

// finish records what c is answered with.
func (f *Fake) finish(c *Call, a Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Code = a.recordedCode()
	c.Status = a.status()
}

// wait waits d; false means the request's context ended or the fake stopped.
func (f *Fake) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-f.stopped:
		return false
	}
}

// abort closes the connection of an answer that will not be given, when the
// ResponseWriter allows it (so a stopping server does not send an empty 200).
func abort(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
		}
	}
}

// drop closes the connection without answering. Without a Hijacker (HTTP/2,
// httptest.ResponseRecorder) it panics with http.ErrAbortHandler, which
// net/http servers treat as "abort this response".
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

const notFoundHTML = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"

const tooLargeHTML = "<html><head><title>413 Request Entity Too Large</title></head><body><h1>Request Entity Too Large</h1></body></html>\n"

// process is the provider's normal behaviour; see the package comment for
// the order of the checks.
func (f *Fake) process(req request) Answer {
	c := req.call
	ep, ok := endpoints[c.Endpoint]
	if !strings.HasSuffix(c.Path[:len(c.Path)-len(c.Endpoint)], "/products/") {
		ok = false // the endpoints live under .../products/ only
	}
	if !ok {
		a := Raw(http.StatusNotFound, notFoundHTML)
		a.ContentType = "text/html; charset=utf-8"
		return a
	}
	if req.tooLarge {
		a := Raw(http.StatusRequestEntityTooLarge, tooLargeHTML)
		a.ContentType = "text/html; charset=utf-8"
		return a
	}
	if c.Method != http.MethodPost {
		return Err(CodeNotPOST, "")
	}
	if f.requireTLS && !c.TLS {
		return Err(CodeNotHTTPS, "")
	}
	if req.parseErr != nil {
		a := Err(CodeUnrecognisedArgument, "")
		a.Detail = "malformed form body: " + req.parseErr.Error()
		return a
	}
	form := c.Form // nil when the Content-Type was wrong: no parameters
	for _, k := range req.keys {
		if !ep.lists(k) {
			return Err(CodeUnrecognisedArgument, k)
		}
	}
	for _, k := range req.keys {
		if len(form[k]) > 1 {
			return Err(CodeInvalidArgument, k)
		}
	}
	for _, p := range ep.params {
		if p.required && form.Get(p.name) == "" {
			a := Err(CodeMissingArgument, p.name)
			if !req.formCT {
				a.Detail = "Content-Type is not application/x-www-form-urlencoded"
			}
			return a
		}
	}
	login := form.Get("loginName")
	limited := f.countCall(login, c.Time)
	if pw, ok := f.accounts[login]; !ok || pw != form.Get("loginPassword") {
		return Err(CodePermissionDenied, "")
	}
	if limited {
		return Err(CodeCallLimit, "")
	}
	if a := ep.validate(form); a != nil {
		return *a
	}
	if c.Endpoint == EndpointLicence && form.Get("action") == ActionCancelLicence {
		order, _ := parsePositive(form.Get("orderNumber"))
		product, _ := productOf(form)
		if !f.cancel(order, product, c.Time) {
			return Err(CodeAlreadyCancelled, "")
		}
	}
	return Answer{}
}

// countCall counts a call against login's window and reports whether it is
// over the limit.
func (f *Fake) countCall(login string, now time.Time) bool {
	if f.callLimit <= 0 || f.limitWindow <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.windows[login]
	if w == nil || !now.Before(w.start.Add(f.limitWindow)) {
		w = &limitWindow{start: now}
		f.windows[login] = w
	}
	w.calls++
	return w.calls > f.callLimit
}

// cancel records a cancellation; false means a SiteLock licence that was
// already cancelled (-20). Other products cancel again without complaint.
func (f *Fake) cancel(order int64, product int, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if isSiteLock(product) && f.isCancelledLocked(order, product) {
		return false
	}
	if f.cancelled[order] == nil {
		f.cancelled[order] = map[int]time.Time{}
	}
	f.cancelled[order][product] = now
	return true
}

func (f *Fake) isCancelledLocked(order int64, product int) bool {
	products := f.cancelled[order]
	if _, ok := products[product]; ok {
		return true
	}
	if siteLockAddOnProducts[product] {
		for p := range products {
			if siteLockMainProducts[p] {
				return true
			}
		}
	}
	return false
}
