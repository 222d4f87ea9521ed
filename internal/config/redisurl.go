package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
)

// parseRedisURL checks REDIS_URL and turns it into asynq's connection options. Errors show the URL
// with its password replaced by "xxxxx".
func parseRedisURL(raw string) (opt asynq.RedisConnOpt, warning string, err error) {
	shown := RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", failf(setRedisURL, "must be a URL such as %s, got %q: %s", setRedisURL.def, shown, urlProblem(shown))
	}
	switch u.Scheme {
	case "redis", "rediss":
		if u.Host == "" {
			return nil, "", failf(setRedisURL, "must name a host, like %s, got %q", setRedisURL.def, shown)
		}
	case "redis-sentinel":
		if u.Host == "" || u.Query().Get("master") == "" {
			return nil, "", failf(setRedisURL, "must name the sentinels and the master, like redis-sentinel://127.0.0.1:26379?master=mymaster, got %q", shown)
		}
	case "redis-socket":
		if u.Path == "" {
			return nil, "", failf(setRedisURL, "must name the socket, like redis-socket:///run/redis.sock, got %q", shown)
		}
	default:
		return nil, "", failf(setRedisURL, "scheme must be redis, rediss, redis-sentinel or redis-socket, got %q", shown)
	}
	opt, err = asynq.ParseRedisURI(raw)
	if err != nil {
		// For a URL that parsed, asynq's reasons (the scheme, the database number) hold no password.
		return nil, "", failf(setRedisURL, "%q: %s", shown, strings.TrimPrefix(err.Error(), "asynq: "))
	}
	// asynq reads the password of redis://user:pass@host but drops the user name, which Redis
	// ACLs need; carry it over.
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		if _, hasPass := u.User.Password(); hasPass && u.User.Username() != "" {
			o.Username = u.User.Username()
		}
		opt = o
	case asynq.RedisFailoverClientOpt:
		opt, warning = Sentinel(u, o)
		if warning != "" {
			warning = setRedisURL.name() + ": " + warning
		}
	}
	return opt, warning, nil
}

// Sentinel completes asynq's reading of a redis-sentinel URL u. Its login is the sentinels'
// (asynq sends the password to them only), so the user name goes with the password. asynq
// ignores a database in that form and uses 0, and so does ovqueue, so that it agrees with
// every program that enqueues through asynq's parser; warning says so when u names another.
func Sentinel(u *url.URL, o asynq.RedisFailoverClientOpt) (opt asynq.RedisFailoverClientOpt, warning string) {
	if _, hasPass := u.User.Password(); hasPass && u.User.Username() != "" {
		o.SentinelUsername = u.User.Username()
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		warning = fmt.Sprintf("a redis-sentinel URL cannot choose a database: asynq ignores /%s, and so does ovqueue; using database 0", db)
	}
	return o, warning
}

// urlProblem says why net/url refuses a URL, judging the redacted text so that the reason cannot
// quote the password. If only the original fails, the login part is what is malformed.
func urlProblem(shown string) string {
	_, err := url.Parse(shown)
	if err == nil {
		return "malformed login (percent-encode special characters of the password)"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// RedactURL returns raw with the password of its login replaced by "xxxxx", as url.URL.Redacted
// does (and a login without a password hidden whole). It works on the text, so that it also hides the password of a URL that net/url cannot parse
// or splits elsewhere (a password with '/', '?', '#' or '@' in it): the login is everything between
// "://" and the last '@', and the password is what follows its first ':'.
func RedactURL(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + len("://")
	}
	at := strings.LastIndex(raw[start:], "@")
	if at < 0 {
		return raw
	}
	login := raw[start : start+at]
	colon := strings.Index(login, ":")
	if colon < 0 {
		// A login without ':' is often a password written where the user name goes
		// (redis://secret@host); url.URL.Redacted would show it, this does not.
		return raw[:start] + "xxxxx" + raw[start+at:]
	}
	return raw[:start] + login[:colon+1] + "xxxxx" + raw[start+at:]
}
