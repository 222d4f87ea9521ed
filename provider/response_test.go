package provider

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestParseAnswerReadsWhatGatewaysSend(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       answer
	}{
		{"form", "errorCode=-4&errorMessage=The+value%21&errorItem=product",
			answer{Code: -4, HasCode: true, Message: "The value!", Item: "product"}},
		{"byte-order mark", "\uFEFFerrorCode=0", answer{HasCode: true}},
		{"byte-order mark and CRLF pairs", "\uFEFFerrorCode=-4\r\nerrorMessage=bad\r\nerrorItem=action\r\n",
			answer{Code: -4, HasCode: true, Message: "bad", Item: "action"}},
		{"LF pairs", "errorCode=1\nresult=queued", answer{Code: 1, HasCode: true, Result: "queued"}},
		{"semicolon in a value", "errorCode=-4&errorMessage=value; invalid&errorItem=product",
			answer{Code: -4, HasCode: true, Message: "value; invalid", Item: "product"}},
		{"bare percent", "errorCode=-4&errorMessage=100% bad", answer{Code: -4, HasCode: true, Message: "100% bad"}},
		{"unencoded text as the sample shows", "errorCode=-17&errorMessage=Request used GET rather than POST!",
			answer{Code: -17, HasCode: true, Message: "Request used GET rather than POST!"}},
		{"first of a repeated name", "errorCode=-3&errorMessage=a&errorMessage=b", answer{Code: -3, HasCode: true, Message: "a"}},
		{"errorCode twice, the same", "errorCode=-3&errorCode= -3", answer{Code: -3, HasCode: true}},
		{"errorCode twice, success first", "errorCode=0&errorCode=-4", answer{}},
		{"errorCode twice, failure first", "errorCode=-4&errorCode=0", answer{}},
		{"spaces around the code", "  errorCode= 2 \n", answer{Code: 2, HasCode: true}},
		{"HTML page", "<html><body>502 Bad Gateway</body></html>", answer{}},
		{"HTML page showing a sample answer", "<html><body><h1>Maintenance</h1><pre>\nerrorCode=0\n</pre></body></html>", answer{}},
		{"HTML lines around pairs", "<html>\nerrorCode=0\nerrorMessage=ok</html>", answer{}},
		{"text with a pair on a line of its own", "Maintenance until 14:00\nerrorCode=0\n", answer{}},
		{"a message of two lines, unencoded", "errorCode=-4&errorMessage=line one\nline two&errorItem=action",
			answer{Code: -4, HasCode: true, Message: "line one\nline two", Item: "action"}},
		{"pairs on lines, a bare '&' in a message", "errorCode=0\nerrorMessage=Terms & conditions accepted\n",
			answer{HasCode: true, Message: "Terms & conditions accepted"}},
		{"pairs on CRLF lines, a value over two lines", "errorCode=0\r\nerrorMessage=OK\r\nresult=line1\r\nline2\r\n",
			answer{HasCode: true, Message: "OK", Result: "line1\r\nline2"}},
		{"a gateway's field", "errorCode=0\nx-request-id=abc\n", answer{HasCode: true}},
		{"junk after the code's line", "errorCode=1\nsee you", answer{Code: 1, HasCode: true}},
		{"text before the answer", "PHP Notice: undefined index on line 3\nerrorCode=-4&errorMessage=bad", answer{}},
		{"two codes on two lines", "errorCode=-4&errorMessage=bad\nerrorCode=0", answer{Message: "bad"}},
		{"pairs on lines and joined", "errorCode=-4&errorItem=action\nerrorMessage=bad",
			answer{Code: -4, HasCode: true, Message: "bad", Item: "action"}},
		{"code not a number", "errorCode=zero&errorMessage=x", answer{Message: "x"}},
		{"empty", "", answer{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseAnswer([]byte(tc.body)); got != tc.want {
				t.Fatalf("parseAnswer(%q)\n got %+v\nwant %+v", tc.body, got, tc.want)
			}
		})
	}
}

// A transport error that quotes the password is replaced by one that keeps only what
// classifies it: the end of a context (the worker tells a stop from a failure by it) and
// whether it timed out. Nothing of the chain may print the password.
func TestRedactErrKeepsOnlyTheClassification(t *testing.T) {
	t.Parallel()
	forms := passwordForms("s3cret-pass")
	quoting := func(cause error) error {
		return &url.Error{Op: "Post", URL: "https://p.example/?x=s3cret-pass", Err: cause}
	}
	for _, tc := range []struct {
		name    string
		err     error
		is      error
		timeout bool
	}{
		{"cancelled", quoting(context.Canceled), context.Canceled, false},
		{"deadline", quoting(context.DeadlineExceeded), context.DeadlineExceeded, true},
		{"i/o timeout", quoting(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}), os.ErrDeadlineExceeded, true},
		{"parse error", quoting(errors.New(`invalid URL escape "%zz"`)), nil, false},
	} {
		got := redactErr(tc.err, forms)
		var texts []string
		for e := got; e != nil; {
			texts = append(texts, e.Error())
			if u, ok := e.(interface{ Unwrap() []error }); ok {
				for _, c := range u.Unwrap() {
					texts = append(texts, c.Error())
				}
			}
			e = errors.Unwrap(e)
		}
		if strings.Contains(strings.Join(texts, "\n"), "s3cret") {
			t.Errorf("%s: the chain holds the password: %q", tc.name, texts)
		}
		if tc.is != nil && !errors.Is(got, tc.is) {
			t.Errorf("%s: errors.Is(%v) is false", tc.name, tc.is)
		}
		var ne net.Error // what a caller asks, as of a transport error
		if gotTimeout := errors.As(got, &ne) && ne.Timeout(); gotTimeout != tc.timeout {
			t.Errorf("%s: timeout %v, want %v", tc.name, gotTimeout, tc.timeout)
		}
	}
	plain := errors.New("connection refused")
	if redactErr(plain, forms) != plain {
		t.Error("an error without the password is not kept as it is")
	}
}

func TestUnescapeJS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"slash and quote", `p\/ss\"w`, `p/ss"w`},
		{"lower and upper hex", `p\u00e4\u00C4`, "pää"[:1] + "\u00e4\u00c4"},
		{"surrogate pair", `\ud83d\ude00!`, "\U0001F600!"},
		{"hex byte", `a\x41`, "aA"},
		{"controls", `a\nb\tc`, "a\nb\tc"},
		{"short escape kept", `a\u00`, `a\u00`},
		{"trailing backslash", `a\`, `a\`},
	} {
		if got := unescapeJS(tc.in); got != tc.want {
			t.Errorf("%s: unescapeJS(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}
