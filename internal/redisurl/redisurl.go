// Package redisurl reads a Redis URL the one way every part of ovqueue takes it: the worker's
// REDIS_URL, the enqueue CLI's --redis-url and tasks.OpenEnqueuer. That is asynq's
// ParseRedisURI, the form the whole fleet agrees on, with checks and repairs around it, and
// errors that never quote the URL's password.
package redisurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Example is the URL that errors hold up as the usual form.
const Example = "redis://127.0.0.1:6379/0"

// Parse turns raw into asynq's connection options. An error is one phrase that reads after
// the setting's name ("REDIS_URL: must ..."), with the URL's password replaced by "xxxxx". A
// URL that works but may not do what was meant comes back with a warning.
func Parse(raw string) (opt asynq.RedisConnOpt, warning string, err error) {
	shown := Redact(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// Not quoted: in text that is not a URL, nothing says where a password would be.
		return nil, "", fmt.Errorf("must be a URL such as %s: %s", Example, Problem(raw))
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-sentinel", "redis-socket":
	default:
		return nil, "", fmt.Errorf("scheme must be redis, rediss, redis-sentinel or redis-socket, got %q", shown)
	}
	if !loginIntact(raw, u) {
		// There is a login, but net/url split the URL inside it: a password with '/', '?',
		// '#' or '@' (redis://:12345/abc@host reads as port 12345 and a path). Said before
		// anything else, whose words could quote a piece of the password.
		return nil, "", fmt.Errorf("must be a URL such as %s, got %q: %s", Example, shown, malformedLogin)
	}
	// Without a login, a password written without its "@host" (redis://:secret,
	// redis://user:123456/0) stands where the host and port do: an address that cannot be one
	// is refused without quoting it.
	addrErr := func(addr string) error {
		err := checkAddr(addr)
		host, port, serr := net.SplitHostPort(addr)
		noHost := serr == nil && host == ""
		switch {
		case err == nil && !noHost:
			return nil
		case loginEnd(raw) < 0 && (noHost || len(port) > 5): // no port: a password?
			return errors.New("must name a host, and a port of 1 to 65535 if any (the URL is not shown: with no '@' in it, a password written without its host would read as the port)")
		case err == nil:
			err = errors.New("must name a host before the port")
		}
		return fmt.Errorf("%q: %w", shown, err)
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return nil, "", fmt.Errorf("must name a host, like %s, got %q", Example, shown)
		}
		if err := addrErr(u.Host); err != nil {
			return nil, "", err
		}
	case "redis-sentinel":
		if u.Host == "" || u.Query().Get("master") == "" {
			return nil, "", fmt.Errorf("must name the sentinels and the master, like redis-sentinel://127.0.0.1:26379?master=mymaster, got %q", shown)
		}
		for _, addr := range strings.Split(u.Host, ",") {
			if addr == "" {
				// go-redis would take it for a sentinel on this host, and may follow its master.
				return nil, "", fmt.Errorf("%q: an empty sentinel address (a comma too many?)", shown)
			}
			if err := addrErr(addr); err != nil {
				return nil, "", err
			}
		}
	case "redis-socket":
		if u.Path == "" {
			return nil, "", fmt.Errorf("must name the socket, like redis-socket:///run/redis.sock, got %q", shown)
		}
	}
	opt, err = asynq.ParseRedisURI(raw)
	if err != nil {
		// For a URL that parsed, asynq's reasons (the scheme, the database number) hold no password.
		return nil, "", fmt.Errorf("%q: %s", shown, strings.TrimPrefix(err.Error(), "asynq: "))
	}
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		if o.Network != "unix" {
			o.Addr = withPort(o.Addr, "6379")
		}
		if o.DB < 0 {
			// asynq takes /-1, and go-redis then quietly uses database 0.
			return nil, "", fmt.Errorf("%q: the database must be 0 or more, got %d", shown, o.DB)
		}
		// asynq reads the password of redis://user:pass@host but drops the user name, which
		// Redis ACLs need; carry it over.
		if _, hasPass := u.User.Password(); hasPass && u.User.Username() != "" {
			o.Username = u.User.Username()
		}
		opt = o
	case asynq.RedisFailoverClientOpt:
		for i, addr := range o.SentinelAddrs {
			o.SentinelAddrs[i] = withPort(addr, "26379")
		}
		opt, warning = sentinel(u, o)
	}
	if _, hasPass := u.User.Password(); u.User != nil && u.User.Username() != "" && !hasPass {
		// Not quoted: redis://SECRET@host is how some tools write a password alone.
		warning = strings.TrimPrefix(warning+"; "+nameWithoutPassword, "; ")
	}
	unread, err := unreadParams(u)
	if err != nil {
		return nil, "", fmt.Errorf("%q: %w", shown, err)
	}
	if len(unread) > 0 {
		w := fmt.Sprintf("asynq ignores the query parameter %s of a %s URL", strings.Join(unread, ", "), u.Scheme)
		if l := strings.ToLower(strings.Join(unread, "")); strings.Contains(l, "pass") || strings.Contains(l, "auth") {
			w += " (a password goes before the host: redis://:PASSWORD@host:6379/0)"
		}
		warning = strings.TrimPrefix(warning+"; "+w, "; ")
	}
	return opt, warning, nil
}

const nameWithoutPassword = "the URL has a user name but no password, which asynq ignores: Redis is logged into as its default user (for a password alone write redis://:PASSWORD@host, for an ACL user redis://USER:PASSWORD@host)"

// sentinel completes asynq's reading of a redis-sentinel URL u. Its login is the sentinels'
// (asynq keeps only the password; the user name is carried over here), and there is no place
// for the master's own. asynq ignores a database in that form and uses 0, and so does ovqueue,
// so that it agrees with every program that enqueues through asynq's parser; the warning says
// so when u names another.
func sentinel(u *url.URL, o asynq.RedisFailoverClientOpt) (asynq.RedisFailoverClientOpt, string) {
	if _, hasPass := u.User.Password(); hasPass && u.User.Username() != "" {
		o.SentinelUsername = u.User.Username()
	}
	var warning string
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		warning = fmt.Sprintf("a redis-sentinel URL cannot choose a database: asynq ignores /%s, and so does ovqueue; using database 0", db)
	}
	return o, warning
}

// readParams are the query parameters asynq reads, by scheme.
var readParams = map[string][]string{"redis-socket": {"db"}, "redis-sentinel": {"master"}}

// unreadParams lists, quoted, the names of the query parameters of u that asynq ignores, a
// setting that does nothing (?password=..., ?dial_timeout=...); never their values, nor what
// is not plainly a name=value pair. It reads the raw query: url.Values drops a pair with ';' or
// a bad escape. A parameter asynq reads that url.Values dropped is an error.
func unreadParams(u *url.URL) (unread []string, err error) {
	other := false
	for _, pair := range strings.FieldsFunc(u.RawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, isPair := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		switch {
		case slices.Contains(readParams[u.Scheme], name):
			if !u.Query().Has(name) {
				// net/url drops a pair with ';' or a bad escape, and asynq would quietly use its
				// default (database 0).
				return nil, fmt.Errorf("asynq cannot read the query parameter %q (a ';' or a bad %%-escape in it?)", name)
			}
		case !isPair || !paramName.MatchString(name):
			other = true // not named: it may be a piece of a value (?password=pa&ss)
		case !slices.Contains(unread, strconv.Quote(name)):
			unread = append(unread, strconv.Quote(name))
		}
	}
	slices.Sort(unread)
	if other {
		unread = append(unread, "and text that is not name=value")
	}
	return unread, nil
}

// paramName is a query parameter's name as the warnings show it.
var paramName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// checkAddr refuses an address that net/url lets through but no connection can use (port
// 99999, host:port:port), so that it is a configuration error at start rather than a dial
// error on every command. An address without a port is fine: withPort adds the default.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	var aerr *net.AddrError
	switch {
	case errors.As(err, &aerr) && aerr.Err == "missing port in address":
		return nil
	case aerr != nil:
		return fmt.Errorf("must be host:port, got %q (%s)", addr, aerr.Err)
	case err != nil:
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be 1 to 65535, got %q", port)
	}
	return nil
}

// withPort adds port to an address that has none (redis://host/0 means port 6379, to redis-cli
// and go-redis; asynq would dial "host" and fail on every command).
func withPort(addr, port string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), port)
}

// Refusal says why a Redis server refused what the URL asked of it (the login, the database,
// the sentinels' master), given the error of a first command on a new connection; "" for any
// other error, such as one that could not reach the server and may pass. The words are the
// server's, which never repeat a password.
func Refusal(err error) string {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return ""
	}
	msg := rerr.Error()
	switch {
	case strings.Contains(msg, "DB index is out of range"):
		return "the server has no such database (see its `databases` setting): " + msg
	case strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "NOPERM"),
		strings.Contains(msg, "AUTH") && strings.HasPrefix(msg, "ERR"),
		strings.Contains(strings.ToLower(msg), "invalid password"): // Redis 5 and older
		return "the server refused the login: " + msg
	case errors.Is(err, redis.Nil):
		// Only the sentinels' look-up of the master answers nil to a first contact.
		// (go-redis words it "all sentinels ... are unreachable", which misleads.)
		return "the sentinels answer, but know no master of the name the URL gives (?master=)"
	}
	return ""
}

const malformedLogin = "malformed login (percent-encode special characters of the password)"

// splitScheme splits "scheme://rest"; without a scheme of the letters a scheme may have before
// the first "://", scheme is "" and rest is raw.
func splitScheme(raw string) (scheme, rest string) {
	i := strings.Index(raw, "://")
	if i <= 0 {
		return "", raw
	}
	for j, c := range raw[:i] {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", raw
		}
	}
	return raw[:i], raw[i+len("://"):]
}

// hostList is the authority of a URL without its login: hosts and ports, IPv6 in brackets, a
// zone; never an '@'.
const hostList = `[A-Za-z0-9._~%!$'()*+;=:,\[\]-]*`

// tails are, by scheme, what may follow a login's '@': the rest of a URL of that scheme. A
// plain Redis URL has no query, so a '?' before the '@' is the password's; a sentinel URL's
// query starts with, or has after an '&', its master, and only its value or what follows it
// may hold an '@' (a master named cache@eu).
var tails = map[string]*regexp.Regexp{
	"redis":          regexp.MustCompile(`^` + hostList + `(/[0-9]*/?)?$`),
	"rediss":         regexp.MustCompile(`^` + hostList + `(/[0-9]*/?)?$`),
	"redis-sentinel": regexp.MustCompile(`^` + hostList + `(/[0-9]*/?)?\?([^&#@]*&)*master=[^&#]*(&[^#]*)?$`),
	"redis-socket":   regexp.MustCompile(`^/`),
}

// loginEnd returns where the login of raw ends (the index in raw of its '@'), or -1 when raw
// has none: judged on the text, for URLs net/url cannot parse or splits inside the login. For
// a scheme of its own: none if all after "://" is a URL of that scheme without a login, else
// the last '@' that such a rest follows. Otherwise, and when no rest fits, the last '@' after
// the scheme (or anywhere, without one): hiding too much beats showing a password.
func loginEnd(raw string) int {
	scheme, rest := splitScheme(raw)
	start := len(raw) - len(rest)
	scheme = strings.ToLower(scheme)
	if scheme == "redis-socket" && strings.HasPrefix(rest, "/") {
		return -1 // redis-socket:///path: no authority, and the path may hold an '@'
	}
	if tail := tails[scheme]; tail != nil {
		if tail.MatchString(rest) {
			return -1 // an '@', if any, in a sentinel master's name
		}
		for i := len(rest) - 1; i >= 0; i-- { // the last: a password may hold an '@', a host may not
			if rest[i] == '@' && tail.MatchString(rest[i+1:]) {
				return start + i
			}
		}
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return start + at
	}
	return -1
}

// loginIntact reports whether net/url, which parsed raw as u, found the login where the text
// has it: then u.Host is what follows the login's '@'. A password with '/', '?', '#' or '@'
// that is not percent-encoded moves it, and the host (or the path) would be a piece of the
// password.
func loginIntact(raw string, u *url.URL) bool {
	at := loginEnd(raw)
	if at < 0 {
		return u.User == nil
	}
	return u.User != nil && strings.HasPrefix(raw[at+1:], u.Host)
}

// Problem says why net/url refuses a URL, judging the redacted text so that the reason cannot
// quote the password. If only the original fails, the login part is what is malformed. In a
// URL without a login (no '@' ending one), the pieces net/url's reasons quote are left out: a
// password without its host (redis://:secret) is no login to the redactor, and its reason
// would be `invalid port ":secret" after host`.
func Problem(raw string) string {
	_, err := url.Parse(Redact(raw))
	if err == nil {
		return malformedLogin
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if loginEnd(raw) >= 0 { // redacted: what it quotes is safe to show
		return err.Error()
	}
	return quotedPiece.ReplaceAllString(err.Error(), "")
}

// quotedPiece is a piece of the URL quoted in a reason of net/url's, with the space before it.
var quotedPiece = regexp.MustCompile(` ?"(?:[^"\\]|\\.)*"`)

// Redact returns raw, any URL, with the password of its login replaced by "xxxxx", as
// url.URL.Redacted does (and a login without a password hidden whole). It works on the text,
// so that it also hides the password of a URL that net/url cannot parse or splits elsewhere (a
// password with '/', '?', '#' or '@' in it): the login is everything between "://" and its
// '@' (loginEnd), and the password is what follows its first ':'.
func Redact(raw string) string {
	at := loginEnd(raw)
	if at < 0 {
		return redactQuery(raw)
	}
	_, rest := splitScheme(raw)
	start := len(raw) - len(rest)
	login := raw[start:at]
	if strings.ContainsAny(login, "?#") {
		// Is the '?' in a password, or does a query start there with an '@' in a value
		// (redis://h:6379/0?password=s3cr@t)? Either reading could show a piece of a
		// password: show none of it.
		return raw[:start] + "xxxxx"
	}
	colon := strings.Index(login, ":")
	if colon < 0 {
		// A login without ':' is often a password written where the user name goes
		// (redis://secret@host); url.URL.Redacted would show it, this does not.
		return raw[:start] + "xxxxx" + redactQuery(raw[at:])
	}
	return raw[:start] + login[:colon+1] + "xxxxx" + redactQuery(raw[at:])
}

// redactQuery hides the values of the query parameters in s, a URL after its login, but those
// asynq reads (db, master): asynq ignores the others, and a person may have put a password in
// one (?password=...).
func redactQuery(s string) string {
	q := strings.Index(s, "?")
	if q < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:q+1])
	rest := s[q+1:]
	for rest != "" {
		i := strings.IndexAny(rest, "&;")
		pair, sep := rest, ""
		if i >= 0 {
			pair, sep, rest = rest[:i], rest[i:i+1], rest[i+1:]
		} else {
			rest = ""
		}
		name, value, hasValue := strings.Cut(pair, "=")
		unescaped, err := url.QueryUnescape(name)
		switch {
		case !hasValue && pair != "":
			pair = "xxxxx" // a piece of a value, maybe (?password=pa&ss)
		case hasValue && value != "" && (err != nil || !(unescaped == "db" && digits(value) || unescaped == "master")):
			// A db that is no number is no database: it may be anything, a password too.
			pair = name + "=xxxxx"
		}
		b.WriteString(pair + sep)
	}
	return b.String()
}

// digits reports whether s is a whole number: ASCII digits, maybe after a minus sign.
func digits(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// WithPoolSize makes room in opt's connection pool for at least n connections at once (go-redis
// keeps 10 a CPU by default), for a program that uses more than that at the same moment.
func WithPoolSize(opt asynq.RedisConnOpt, n int) asynq.RedisConnOpt {
	size := func(set int) int {
		if set == 0 {
			set = 10 * runtime.GOMAXPROCS(0) // go-redis's default, which 0 stands for
		}
		return max(set, n)
	}
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		o.PoolSize = size(o.PoolSize)
		return o
	case asynq.RedisFailoverClientOpt:
		o.PoolSize = size(o.PoolSize)
		return o
	}
	return opt
}

// NewClient makes the go-redis client of opt, as asynq's MakeRedisClient does, but for one
// thing: a command gives up when its context ends (go-redis's ContextTimeoutEnabled), rather
// than after its read timeout and retries, so that a caller's deadline bounds it.
func NewClient(opt asynq.RedisConnOpt) (redis.UniversalClient, error) {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return redis.NewClient(&redis.Options{
			Network: o.Network, Addr: o.Addr, Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: o.TLSConfig, ContextTimeoutEnabled: true,
		}), nil
	case asynq.RedisFailoverClientOpt:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: o.MasterName, SentinelAddrs: o.SentinelAddrs, SentinelUsername: o.SentinelUsername,
			SentinelPassword: o.SentinelPassword, Username: o.Username, Password: o.Password, DB: o.DB,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
			PoolSize: o.PoolSize, TLSConfig: o.TLSConfig, ContextTimeoutEnabled: true,
		}), nil
	}
	return nil, fmt.Errorf("this kind of Redis connection (%T) is not supported", opt)
}
