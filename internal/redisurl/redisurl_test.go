package redisurl

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://user:secret@127.0.0.1:6379/0", "redis://user:xxxxx@127.0.0.1:6379/0"},
		{"redis://user:se@c/r?e#t@127.0.0.1:6379/0", "redis://xxxxx"},
		{"redis://secret@127.0.0.1:6379/0", "redis://xxxxx@127.0.0.1:6379/0"},
		{"user:secret@127.0.0.1:6379", "user:xxxxx@127.0.0.1:6379"},
		{"redis-sentinel://:secret@a:26379,b:26379?master=m", "redis-sentinel://:xxxxx@a:26379,b:26379?master=m"},
		{"redis-sentinel://a:26379?master=cache@eu", "redis-sentinel://a:26379?master=cache@eu"},
		{"redis-sentinel://:secret@a:26379?master=cache@eu", "redis-sentinel://:xxxxx@a:26379?master=cache@eu"},
		{"redis-sentinel://ops:12?secret@a:26379?master=cache@eu", "redis-sentinel://xxxxx"},
		{"redis://:s@cret@home/0/x@redis:6379/0", "redis://:xxxxx@redis:6379/0"},
		{"redis-socket:///run/redis@6379/redis.sock", "redis-socket:///run/redis@6379/redis.sock"},
		{"redis://:12345/secret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://:12?secret@127.0.0.1:6379/0", "redis://xxxxx"},
		{"redis://h:6379/0?password=s3cr@t", "redis://xxxxx"},
		{"redis-sentinel://a:26379?sentinel_password=p@ss&master=m", "redis-sentinel://xxxxx"},
		{"redis://h:6379/0?password=pa&ss;x", "redis://h:6379/0?password=xxxxx&xxxxx;xxxxx"},
		{"redis://127.0.0.1:6379/0?password=secret&x=1", "redis://127.0.0.1:6379/0?password=xxxxx&x=xxxxx"},
		{"redis://h:6379/0?pa%73sword=secret;b=2&c", "redis://h:6379/0?pa%73sword=xxxxx;b=xxxxx&xxxxx"},
		{"redis://h:6379/0?password=50%off", "redis://h:6379/0?password=xxxxx"},
		{"redis-socket:///run/r.sock?db=2&password=secret", "redis-socket:///run/r.sock?db=2&password=xxxxx"},
		{"redis://127.0.0.1:6379/0?db=s3cr3t&master=mymaster", "redis://127.0.0.1:6379/0?db=xxxxx&master=mymaster"},
		{"redis://:secret@127.0.0.1:6379/0?authToken=secret", "redis://:xxxxx@127.0.0.1:6379/0?authToken=xxxxx"},
		{"redis-sentinel://a:26379?master=cache@eu&sentinel_password=secret", "redis-sentinel://a:26379?master=cache@eu&sentinel_password=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t"
	good := []struct {
		name, url string
		want      asynq.RedisConnOpt
		warning   string
	}{
		{"plain", "redis://127.0.0.1:6379/3", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", DB: 3}, ""},
		{"ACL user kept", "redis://ops:" + password + "@10.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "10.0.0.1:6379", Username: "ops", Password: password}, ""},
		{"password only, default port", "redis://:" + password + "@10.0.0.1", asynq.RedisClientOpt{Addr: "10.0.0.1:6379", Password: password}, ""},
		{"IPv6 without a port", "redis://[::1]/2", asynq.RedisClientOpt{Addr: "[::1]:6379", DB: 2}, ""},
		{"sentinels' default port", "redis-sentinel://a,b:26380?master=m", asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"a:26379", "b:26380"}}, ""},
		{"sentinel user kept", "redis-sentinel://ops:" + password + "@a:26379,b:26379?master=m",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"a:26379", "b:26379"}, SentinelUsername: "ops", SentinelPassword: password}, ""},
		{"socket path with '@'", "redis-socket:///run/redis@6379/redis.sock", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis@6379/redis.sock"}, ""},
		{"master name with '@'", "redis-sentinel://10.0.0.1:26379?master=cache@eu", asynq.RedisFailoverClientOpt{MasterName: "cache@eu", SentinelAddrs: []string{"10.0.0.1:26379"}}, ""},
		{"scheme in capitals", "REDIS-SOCKET:///run/redis@6379/redis.sock", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis@6379/redis.sock"}, ""},
		{"socket database", "redis-socket:///run/redis.sock?db=3", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis.sock", DB: 3}, ""},
		{"a parameter asynq ignores", "Redis-Sentinel://a:26379/2?x=1&master=cache@eu", asynq.RedisFailoverClientOpt{MasterName: "cache@eu", SentinelAddrs: []string{"a:26379"}},
			`a redis-sentinel URL cannot choose a database: asynq ignores /2, and so does ovqueue; using database 0; asynq ignores the query parameter "x" of a redis-sentinel URL`},
		{"a piece of a value is no name", "redis://127.0.0.1:6390/0?password=" + password + "&ss", asynq.RedisClientOpt{Addr: "127.0.0.1:6390"},
			`asynq ignores the query parameter "password", and text that is not name=value of a redis URL (a password goes before the host: redis://:PASSWORD@host:6379/0)`},
		{"a password where asynq does not look", "redis://127.0.0.1:6390/0?pa%73sword=" + password + "&dial_timeout=3s;x=" + password,
			asynq.RedisClientOpt{Addr: "127.0.0.1:6390"},
			`asynq ignores the query parameter "dial_timeout", "password", "x" of a redis URL (a password goes before the host: redis://:PASSWORD@host:6379/0)`},
		{"sentinel login and master with '@'", "redis-sentinel://:" + password + "@a:26379?master=cache@eu", asynq.RedisFailoverClientOpt{MasterName: "cache@eu", SentinelAddrs: []string{"a:26379"}, SentinelPassword: password}, ""},
		{"socket with a login", "redis-socket://:" + password + "@/run/redis.sock", asynq.RedisClientOpt{Network: "unix", Addr: "/run/redis.sock", Password: password}, ""},
		{"sentinel database", "redis-sentinel://a:26379/2?master=m", asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"a:26379"}},
			"a redis-sentinel URL cannot choose a database: asynq ignores /2, and so does ovqueue; using database 0"},
		// A name without a password logs in as the default user; the name is not quoted, as it
		// may be a password written without its colon.
		{"user name without a password", "redis://" + password + "@10.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "10.0.0.1:6379"}, nameWithoutPassword},
		{"sentinel user name without a password", "redis-sentinel://" + password + "@a:26379?master=m",
			asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"a:26379"}}, nameWithoutPassword},
		{"user name, empty password", "redis://ops:@10.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "10.0.0.1:6379", Username: "ops"}, ""},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opt, warning, err := Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", opt) != fmt.Sprintf("%#v", tt.want) || warning != tt.warning {
				t.Errorf("Parse(%q) =\n%#v, %q\nwant\n%#v, %q", tt.url, opt, warning, tt.want, tt.warning)
			}
		})
	}

	bad := []struct{ name, url, want string }{
		{"not a URL", "redis://:" + password + "@host:port/0", "must be a URL such as redis://127.0.0.1:6379/0: invalid port \":port\" after host"},
		{"a login without its host", "redis://:" + password, "must be a URL such as redis://127.0.0.1:6379/0: invalid port after host"},
		{"a login without its host, and a database", "rediss://admin:" + password + "/3", "must be a URL such as redis://127.0.0.1:6379/0: invalid port after host"},
		// A password of digits reads as a port: refused, not quoted, when it cannot be one.
		{"a numeric password without its host", "redis://:48291377", "must name a host, and a port of 1 to 65535 if any (the URL is not shown"},
		{"a short numeric password without its host", "redis://:4829", "must name a host, and a port of 1 to 65535 if any (the URL is not shown"},
		{"a user and numeric password without the host", "rediss://admin:48291377/3", "must name a host, and a port of 1 to 65535 if any (the URL is not shown"},
		{"a sentinel with a numeric password and no host", "redis-sentinel://:48291377?master=m", "must name a host, and a port of 1 to 65535 if any (the URL is not shown"},
		{"a password and a master with '@'", "redis-sentinel://:" + password + "?master=a@b", "must be a URL such as redis://127.0.0.1:6379/0: invalid port after host"},
		{"a port but no host, with a login", "redis://:" + password + "@:6379/0", `"redis://:xxxxx@:6379/0": must name a host before the port`},
		{"no '@' to find the password by", "%zz:" + password, "must be a URL such as redis://127.0.0.1:6379/0: first path segment in URL cannot contain colon"},
		{"password split by net/url", "redis://:12345/" + password + "@127.0.0.1:6379/0", `must be a URL such as redis://127.0.0.1:6379/0, got "redis://:xxxxx@127.0.0.1:6379/0": malformed login (percent-encode special characters of the password)`},
		{"password split at '?'", "redis://:12?" + password + "@127.0.0.1:6379/0", `must be a URL such as redis://127.0.0.1:6379/0, got "redis://xxxxx": malformed login`},
		{"sentinel password with '?'", "redis-sentinel://ops:12?" + password + "@a:26379?master=cache@eu", `must be a URL such as redis://127.0.0.1:6379/0, got "redis-sentinel://xxxxx": malformed login`},
		{"password with '@' and '/' moves the host", "redis://:" + password + "@home/0/x@redis:6379/0", `must be a URL such as redis://127.0.0.1:6379/0, got "redis://:xxxxx@redis:6379/0": malformed login`},
		{"digits before '/' in the password are no port", "redis://default:1234567/" + password + "@redis:6379/0", `must be a URL such as redis://127.0.0.1:6379/0, got "redis://default:xxxxx@redis:6379/0": malformed login`},
		{"port out of range", "redis://:" + password + "@127.0.0.1:99999/0", `"redis://:xxxxx@127.0.0.1:99999/0": port must be 1 to 65535, got "99999"`},
		{"a database net/url cannot read", "redis-socket:///r.sock?db=2;x=1", `"redis-socket:///r.sock?db=2;x=xxxxx": asynq cannot read the query parameter "db"`},
		{"an empty sentinel address", "redis-sentinel://a,?master=m", `"redis-sentinel://a,?master=m": an empty sentinel address (a comma too many?)`},
		{"two ports", "redis://:" + password + "@127.0.0.1:6390:1/0", `"redis://:xxxxx@127.0.0.1:6390:1/0": must be host:port, got "127.0.0.1:6390:1" (too many colons in address)`},
		{"port zero", "rediss://127.0.0.1:0", `"rediss://127.0.0.1:0": port must be 1 to 65535, got "0"`},
		{"negative database", "redis://:" + password + "@127.0.0.1:6379/-1", `"redis://:xxxxx@127.0.0.1:6379/-1": the database must be 0 or more, got -1`},
		{"negative socket database", "redis-socket:///run/redis.sock?db=-2", `"redis-socket:///run/redis.sock?db=-2": the database must be 0 or more, got -2`},
		{"sentinel port", "redis-sentinel://a:26379,b:70000?master=m", `"redis-sentinel://a:26379,b:70000?master=m": port must be 1 to 65535, got "70000"`},
		{"no host", "redis://", `must name a host, like redis://127.0.0.1:6379/0, got "redis://"`},
		{"scheme", "http://:" + password + "@h:6379", `scheme must be redis, rediss, redis-sentinel or redis-socket, got "http://:xxxxx@h:6379"`},
		{"database", "redis://h:6379/zero", `"redis://h:6379/zero": could not parse redis uri: database number should be the first segment of the path`},
		{"no master", "redis-sentinel://h:26379", "must name the sentinels and the master"},
		{"no socket", "redis-socket://", "must name the socket"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Parse(tt.url)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %v, want an error starting %q", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// serverError is an error as go-redis returns the server's answers.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

func TestRefusal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{serverError("ERR DB index is out of range"), "the server has no such database (see its `databases` setting): ERR DB index is out of range"},
		{fmt.Errorf("ping: %w", serverError("WRONGPASS invalid username-password pair or user is disabled.")), "the server refused the login: WRONGPASS invalid username-password pair or user is disabled."},
		{serverError("NOAUTH Authentication required."), "the server refused the login: NOAUTH Authentication required."},
		{serverError("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"), "the server refused the login: ERR AUTH"},
		{serverError("ERR invalid password"), "the server refused the login: ERR invalid password"},
		{serverError("LOADING Redis is loading the dataset in memory"), ""},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), ""},
		// go-redis's error for a master name that the sentinels do not know.
		{fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", errors.Join(redis.Nil)), "the sentinels answer, but know no master of the name the URL gives (?master=)"},
		{fmt.Errorf("redis: all sentinels specified in configuration are unreachable: %w", errors.Join(errors.New("dial tcp: connection refused"))), ""},
	}
	for _, tt := range tests {
		if got := Refusal(tt.err); !strings.HasPrefix(got, tt.want) || (tt.want == "") != (got == "") {
			t.Errorf("Refusal(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// FuzzPasswordNeverShown: whatever a password holds, neither Redact nor Parse's error shows it.
func FuzzPasswordNeverShown(f *testing.F) {
	for _, pw := range []string{"s3cr3t", "12345/abc", "12?abc", "a#b", "p@ss", "%zz", "x:y", "//a:b"} {
		f.Add(uint8(0), pw, "@127.0.0.1:6379/0")
		f.Add(uint8(2), pw, "@a:26379?master=m")
		f.Add(uint8(2), pw, "@a:26379?master=cache@eu")
		f.Add(uint8(0), pw, "@home/0/x@redis:6379/0")
	}
	schemes := []string{"redis://", "rediss://", "redis-sentinel://", "redis-socket://", "", "http://", "A:"}
	f.Fuzz(func(t *testing.T, scheme uint8, pw, rest string) {
		printable := func(s string) bool {
			return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == '"' || r == '\\' })
		}
		// A password short enough to be anywhere, or one the rest repeats, proves nothing;
		// quoted errors escape what is not printable, and quote, which could spell it by chance. A
		// sentinel password with "?master=" in it reads as a master's name: not worth guessing
		// at, and not tried here; nor is "@/" in a password, which makes redis-socket://:a@/b@
		// the login ":a" and the path "/b@", as net/url and asynq read it too.
		if len(pw) < 6 || strings.Contains(rest, pw) || strings.Contains(pw, "master=") || strings.Contains(pw, "@/") || !strings.HasPrefix(rest, "@") ||
			!printable(pw+rest) {
			return
		}
		raw := schemes[int(scheme)%len(schemes)] + ":" + pw + rest
		if got := Redact(raw); strings.Contains(got, pw) {
			t.Errorf("Redact(%q) = %q", raw, got)
		}
		if _, _, err := Parse(raw); err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("Parse(%q): %v", raw, err)
		}
	})
}

func TestWithPoolSize(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"redis://127.0.0.1:6379/2", "redis-sentinel://127.0.0.1:26379?master=m"} {
		opt, _, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		size := func(o asynq.RedisConnOpt) int {
			switch o := o.(type) {
			case asynq.RedisClientOpt:
				return o.PoolSize
			case asynq.RedisFailoverClientOpt:
				return o.PoolSize
			}
			t.Fatalf("%s: %T", raw, o)
			return 0
		}
		want := max(120, 10*runtime.GOMAXPROCS(0))
		if got := size(WithPoolSize(opt, 120)); got != want {
			t.Errorf("%s: pool %d, want %d", raw, got, want)
		}
		// Never below go-redis's own default of 10 a CPU, which an unset size stands for.
		if got := size(WithPoolSize(opt, 1)); got != 10*runtime.GOMAXPROCS(0) {
			t.Errorf("%s: pool %d for 1, want go-redis's default %d", raw, got, 10*runtime.GOMAXPROCS(0))
		}
		big := WithPoolSize(opt, 500)
		if got := size(WithPoolSize(big, 120)); got != 500 {
			t.Errorf("%s: a larger pool shrank to %d", raw, got)
		}
	}
}
