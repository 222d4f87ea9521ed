package provider

import (
	"bytes"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// Response is a successful answer (errorCode >= 0).
type Response struct {
	Code       int    // errorCode: 0, or a positive code such as 1 ("success, payment required")
	Message    string // errorMessage, if any
	Result     string // result, when the endpoint returns one
	HTTPStatus int
}

// answer is every field the provider may put in a form-encoded answer.
type answer struct {
	Code    int
	HasCode bool
	Message string
	Item    string
	Detail  string
	Result  string
}

// minMasked is the shortest password masked in answers: a shorter one would also blank the
// same letters in ordinary words.
const minMasked = 4

// passwordForms returns the forms in which an answer may quote password, longest first: as it
// is, form-encoded or path-encoded as a request carries it, each of those as this client
// reads them after decoding (an unencoded "+" or "%41" in a quoted password is decoded too),
// and escaped for HTML or in a JSON string, as a gateway's page or message may show it.
// Forms shorter than minMasked are left out; none at all for a short password.
func passwordForms(password string) []string {
	if len(password) < minMasked {
		return nil
	}
	var forms []string
	for _, f := range []string{password, url.QueryEscape(password), url.PathEscape(password),
		formText(password), formText(url.PathEscape(password)),
		html.EscapeString(password), jsonText(password, true), jsonText(password, false)} {
		if len(f) >= minMasked && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

// redact replaces every copy of the forms in s by [redacted].
func redact(s string, forms []string) string {
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, redacted)
	}
	return s
}

// withoutPassword returns a with every copy of password in its texts replaced by [redacted]:
// an answer that quotes the request (a provider's error page may) must not carry the password
// on into logs, the task's last error and the dead-letter record.
func (a answer) withoutPassword(forms []string) answer {
	for _, s := range []*string{&a.Message, &a.Item, &a.Detail, &a.Result} {
		*s = redact(*s, forms)
		if quotesEscaped(*s, forms) {
			*s = redacted + " (the text quoted the password)"
		}
	}
	return a
}

// quotesEscaped reports whether s quotes one of forms escaped in a way passwordForms does not
// list, for HTML (&quot; or &#039;, &auml;), in a JSON or JavaScript string (\/, \u00e4,
// \u003C) or percent-encoded (%20 for a space, %2b): escapings are many, so the text is
// unescaped instead, and a text that then holds the password is withheld whole.
func quotesEscaped(s string, forms []string) bool {
	if !strings.ContainsAny(s, "&\\%") {
		return false
	}
	// Percent-decoded twice too: a quote of an encoded request may be encoded again.
	for _, plain := range []string{html.UnescapeString(s), unescapeJS(s),
		unescapePercent(s, false), unescapePercent(s, true), unescapePercent(unescapePercent(s, false), false)} {
		if plain != s && slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(plain, f) }) {
			return true
		}
	}
	return false
}

// unescapePercent decodes every %XX in s (either case), leaving anything else as it is, and
// with plusIsSpace a "+" as a space: a text that quotes a request percent-encoded otherwise
// than Go encodes it (every reserved character, as JavaScript's encodeURIComponent and PHP's
// rawurlencode do; hex in lower case) reads as the request did.
func unescapePercent(s string, plusIsSpace bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		case c == '+' && plusIsSpace:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// unescapeJS undoes the backslash escapes of a JSON or JavaScript string in s: \uXXXX (either
// case, surrogate pairs joined), \xXX, and a backslash before any other character, which
// stands for itself (\/ is /, \" is ") but for n, r, t, b and f.
func unescapeJS(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'u', 'x':
			n := 4
			if e == 'x' {
				n = 2
			}
			r, err := strconv.ParseUint(s[i+1:min(i+1+n, len(s))], 16, 32)
			if err != nil || i+n >= len(s) {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			i += n
			if utf16.IsSurrogate(rune(r)) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, err := strconv.ParseUint(s[i+3:i+7], 16, 32); err == nil {
					if d := utf16.DecodeRune(rune(r), rune(r2)); d != unicode.ReplacementChar {
						b.WriteRune(d)
						i += 6
						continue
					}
				}
			}
			b.WriteRune(rune(r))
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		default:
			b.WriteByte(e)
		}
	}
	return b.String()
}

// parseAnswer reads a form-encoded answer. It is lenient, as a reader of another party's
// answers must be, because misreading a success as "no errorCode" repeats a call that already
// happened, but never so lenient that a page about the API reads as an answer of it:
//   - a UTF-8 byte-order mark and surrounding white space are ignored;
//   - the body must begin with a pair (name=value, the name made of letters, digits and
//     "_-."): an HTML page, or text with a sample answer on a line of its own, is no answer;
//   - pairs are separated by '&' or by line breaks (some gateways answer one pair a line);
//     a piece that does not begin with a name and '=' belongs to the value before it, so
//     that an unencoded value keeps its '&' and its line breaks;
//   - a value that is not valid form encoding (a bare '%') is taken as it is, and ';' is part of
//     a value (url.ParseQuery drops such pairs, and the provider sends messages unencoded);
//   - errorCode is read from the first line of its value;
//   - the first of a repeated name wins, except errorCode: two different errorCodes are no
//     answer at all (an ambiguous answer must not be taken for a success).
//
// HasCode is false when there is no integer errorCode, or two different ones.
func parseAnswer(body []byte) answer {
	text := strings.TrimSpace(strings.TrimPrefix(string(body), "\uFEFF"))
	if _, ok := pairName(text); !ok {
		return answer{}
	}
	type pair struct{ name, value string }
	var pairs []pair
	for text != "" {
		i := strings.IndexAny(text, "&\n")
		piece, sep := text, ""
		if i >= 0 {
			piece, sep, text = text[:i], text[i:i+1], text[i+1:]
		} else {
			text = ""
		}
		if name, ok := pairName(piece); ok {
			pairs = append(pairs, pair{name, piece[len(name)+1:] + sep})
		} else {
			pairs[len(pairs)-1].value += piece + sep // the body begins with a pair
		}
	}
	vals := map[string]string{}
	conflict := false // two different errorCodes
	for _, p := range pairs {
		value := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(p.value, "&"), "\n"), "\r")
		value = formText(value)
		if p.name == "errorCode" {
			value, _, _ = strings.Cut(value, "\n")
			value = strings.TrimSpace(value)
		}
		if first, seen := vals[p.name]; !seen {
			vals[p.name] = value
		} else if p.name == "errorCode" && first != value {
			conflict = true
		}
	}
	var a answer
	if raw, ok := vals["errorCode"]; ok && !conflict {
		if n, err := strconv.Atoi(raw); err == nil {
			a.Code, a.HasCode = n, true
		}
	}
	a.Message = vals["errorMessage"]
	a.Item = vals["errorItem"]
	a.Detail = vals["errorDetail"]
	a.Result = vals["result"]
	return a
}

// pairName returns the name of the pair that s begins with: letters, digits and "_-." up to
// an '=', beginning with a letter.
func pairName(s string) (string, bool) {
	for i, r := range s {
		switch {
		case r == '=':
			return s[:i], i > 0
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'):
		default:
			return "", false
		}
	}
	return "", false
}

// formText decodes one form-encoded name or value; text that is not valid form encoding was
// not encoded, and is returned as it is.
func formText(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// jsonText is s as it stands inside a JSON string, with or without HTML's characters escaped
// (Go's encoder writes "&" as \u0026 by default).
func jsonText(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		return s
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return string(out[1 : len(out)-1])
}
