package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults of a Client.
const (
	DefaultBaseURL          = "https://secure.trust-provider.com/products/"
	DefaultTimeout          = 30 * time.Second
	DefaultUserAgent        = "ovqueue-provider-client/1"
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxIdleConns     = 20
)

// Client calls the provider. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	userAgent string
	maxBody   int64
	// idleConns is how many idle connections the client's own transport keeps.
	idleConns    int
	ownTransport bool
}

// Option configures a Client.
type Option func(*Client) error

// WithHTTPClient uses hc for every call (e.g. one that trusts a test server's certificate).
// Redirects are still never followed.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("provider: WithHTTPClient: nil client")
		}
		cp := *hc
		c.http = &cp
		c.ownTransport = false
		return nil
	}
}

// WithTimeout bounds one call, from connecting to reading the whole answer.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error {
		if d <= 0 {
			return fmt.Errorf("provider: timeout must be positive, got %s", d)
		}
		c.timeout = d
		return nil
	}
}

// WithUserAgent sets the User-Agent header of every call.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// WithMaxIdleConns keeps up to n idle connections to the provider, so that n concurrent
// callers reuse their connections instead of opening (and TLS-handshaking) a new one for most
// calls, as Go's default of 2 per host would. Ignored with WithHTTPClient.
func WithMaxIdleConns(n int) Option {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("provider: max idle connections must be positive, got %d", n)
		}
		c.idleConns = n
		return nil
	}
}

// WithMaxResponseBytes bounds how much of an answer is read; a longer answer is an error.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return fmt.Errorf("provider: max response bytes must be positive, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// New returns a client for the provider at baseURL (DefaultBaseURL in production). The URL
// must be https, or http on a loopback host (the fake provider), and must not carry a login.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:         u,
		http:         &http.Client{},
		timeout:      DefaultTimeout,
		userAgent:    DefaultUserAgent,
		maxBody:      DefaultMaxResponseBytes,
		idleConns:    DefaultMaxIdleConns,
		ownTransport: true,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	if c.ownTransport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = c.idleConns
		t.MaxIdleConnsPerHost = c.idleConns
		c.http.Transport = t
	}
	// A redirected POST becomes a GET (answered -17) and may leak the form to another host.
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// ParseBaseURL checks a provider base URL: absolute, https (or http on a loopback host), no
// '@' (so no login, even one net/url would not see), no query or fragment. A missing trailing
// slash is added. Its errors never show the URL's query or fragment, nor a URL with '@'.
func ParseBaseURL(raw string) (*url.URL, error) {
	if strings.Contains(raw, "@") {
		// A login, which net/url may not see as one: "https://user:12/pw@host/" reads as host
		// "user", port 12 and a path. Not quoted: where the password ends is anyone's guess.
		return nil, errors.New("provider URL: must not contain a login, or any '@'; accounts are configured separately")
	}
	// Errors show the URL without its query and fragment, where a token may be.
	shown, _, cut := strings.Cut(raw, "?")
	shown, _, cutFragment := strings.Cut(shown, "#")
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		reason := err.Error()
		if cut || cutFragment { // net/url may quote a piece of it ("invalid URL escape")
			reason = quotedPiece.ReplaceAllString(reason, "")
		}
		return nil, fmt.Errorf("provider URL %q: %s", shown, reason)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("provider URL %q: must be absolute, like %s", shown, DefaultBaseURL)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("provider URL %q: must not have a query or fragment", shown)
	case u.Scheme == "https":
	case u.Scheme == "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("provider URL %q: http is only allowed for a loopback host; use https", shown)
		}
	default:
		return nil, fmt.Errorf("provider URL %q: scheme must be https", shown)
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("provider URL %q: port must be 1 to 65535, got %q", shown, port)
		}
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") { // host names know no case
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// BaseURL returns the base URL calls go to.
func (c *Client) BaseURL() string { return c.base.String() }

// UpdateUserOvCallback schedules or changes an OV order's verification callback.
func (c *Client) UpdateUserOvCallback(ctx context.Context, creds Credentials, req OVCallbackRequest) (*Response, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return c.do(ctx, EndpointUpdateUserOvCallback, req.Action, creds, req.values(creds))
}

// ModifyThirdPartyDetails changes or cancels a third-party licence. A -20 answer to
// CANCELLICENCE is returned as an *Error for which IsAlreadyCancelled is true and Classify
// says Success.
func (c *Client) ModifyThirdPartyDetails(ctx context.Context, creds Credentials, req LicenceRequest) (*Response, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return c.do(ctx, EndpointModifyThirdPartyDetails, req.Action, creds, req.values(creds))
}

// do is the one path every call takes: POST the form, read a bounded answer, map it to a
// *Response or an *Error.
func (c *Client) do(ctx context.Context, endpoint, action string, creds Credentials, form url.Values) (*Response, error) {
	if creds.IsZero() {
		return nil, &FieldError{Field: "loginName", Problem: "no credentials for this account"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	target := c.base.JoinPath(endpoint).String()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, errorf(endpoint, action, 0, err, "build request")
	}
	httpReq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	httpReq.Header.Set("Accept", "application/x-www-form-urlencoded")
	if c.userAgent != "" {
		httpReq.Header.Set("User-Agent", c.userAgent)
	}

	forms := creds.passwordForms()
	resp, err := c.http.Do(httpReq)
	if err != nil {
		// *url.Error carries the URL (never the body, where the password is), but also a
		// redirect's Location when net/http cannot parse it, which may quote the form.
		return nil, errorf(endpoint, action, 0, redactErr(err, forms), "call failed")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, errorf(endpoint, action, resp.StatusCode, err, "read answer")
	}
	if int64(len(body)) > c.maxBody {
		return nil, errorf(endpoint, action, resp.StatusCode, nil, "answer larger than %d bytes", c.maxBody)
	}

	// The texts are read from the body with the password blanked as it came, and blanked
	// again as read: an answer may quote the request encoded, or not, and reading decodes
	// what it quotes. The errorCode is read from the blanked body too; when blanking
	// destroyed it, from the body as it came, unless the password holds "errorCode=" itself:
	// a password that happens to match part of the answer ("Code", "1234") must not turn a
	// success into an answer without one, which would repeat the call.
	a := parseAnswer(body)
	if len(forms) > 0 {
		texts := a
		if raw, blanked := string(body), redact(string(body), forms); blanked != raw { // it quotes the password
			texts = parseAnswer([]byte(blanked))
			switch {
			case texts.HasCode:
				a.Code, a.HasCode = texts.Code, true
			case slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(f, "errorCode=") }):
				// The code read before blanking may have been the password's own
				// ("pw&errorCode=0"): it must not lend the answer a code, least of all a success.
				a.Code, a.HasCode = 0, false
			}
		}
		texts = texts.withoutPassword(forms)
		a.Message, a.Item, a.Detail, a.Result = texts.Message, texts.Item, texts.Detail, texts.Result
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok2xx || !a.HasCode {
		e := &Error{Endpoint: endpoint, Action: action, HTTPStatus: resp.StatusCode,
			Code: a.Code, HasCode: a.HasCode, Message: a.Message, Item: a.Item, Detail: a.Detail}
		switch {
		case !a.HasCode && ok2xx:
			e.Message = fmt.Sprintf("answer without errorCode (%s, %d bytes)", contentType(resp), len(body))
		case !a.HasCode, e.Message == "":
			e.Message = fmt.Sprintf("HTTP %d (%s, %d bytes)", resp.StatusCode, contentType(resp), len(body))
			e.statusInMessage = true
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			shown := redact(shownLocation(loc), forms)
			if quotesEscaped(shown, forms) {
				shown = redacted + " (the location quoted the password)"
			}
			e.Message = "redirected to " + shown + "; check the provider URL"
			e.statusInMessage = false
		}
		return nil, e
	}
	if a.Code < 0 {
		return nil, &Error{Endpoint: endpoint, Action: action, HTTPStatus: resp.StatusCode,
			Code: a.Code, HasCode: true, Message: a.Message, Item: a.Item, Detail: a.Detail}
	}
	return &Response{Code: a.Code, Message: a.Message, Result: a.Result, HTTPStatus: resp.StatusCode}, nil
}

// redactedError stands for an error whose text had the password in it: its text blanked, and
// of the error itself only what classifies it, since every error of its chain may print the
// password (a *url.Error quotes the Location it failed to parse): the end of a context, for
// errors.Is, and whether it was a timeout. It is a net.Error, as the error it stands for may
// have been.
type redactedError struct {
	text               string
	causes             []error
	timeout, temporary bool
}

func (e *redactedError) Error() string   { return e.text }
func (e *redactedError) Unwrap() []error { return e.causes }
func (e *redactedError) Timeout() bool   { return e.timeout }
func (e *redactedError) Temporary() bool { return e.temporary }

// redactErr returns err with the forms blanked in its text, or err itself when it has none.
func redactErr(err error, forms []string) error {
	text := redact(err.Error(), forms)
	if text == err.Error() {
		return err
	}
	r := &redactedError{text: text}
	for _, cause := range []error{context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded} {
		if errors.Is(err, cause) {
			r.causes = append(r.causes, cause)
		}
	}
	var t interface{ Timeout() bool }
	r.timeout = errors.As(err, &t) && t.Timeout()
	var tmp interface{ Temporary() bool }
	r.temporary = errors.As(err, &tmp) && tmp.Temporary()
	return r
}

// shownLocation is a redirect's target as an error may show it: without a login, query or
// fragment, where a login page may put the form it was sent, password included.
func shownLocation(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return "an unreadable Location"
	}
	dropped := u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != ""
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	if dropped {
		return u.String() + " (query and login left out)"
	}
	return u.String()
}

func contentType(resp *http.Response) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return "no content type"
}

// quotedPiece is a piece of a URL quoted in a reason of net/url's, with the space before it.
var quotedPiece = regexp.MustCompile(` ?"(?:[^"\\]|\\.)*"`)
