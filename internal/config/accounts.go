package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ovqueue/ovqueue/provider"
)

// defaultAlias is the alias of the account that PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD
// configure, and the one a payload names when it names none.
const defaultAlias = "default"

// aliasPattern is what an account alias may look like: it travels in payloads, logs and metrics.
var aliasPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Limits on files read at start; a bigger file is a mistake (a wrong path, /dev/zero).
const (
	maxSecretFileBytes   = 64 << 10
	maxAccountsFileBytes = 1 << 20
)

// errNoAccount is the error of a worker outside dev mode with no provider account.
var errNoAccount = plainf("PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD (or PROVIDER_ACCOUNTS_FILE): no provider account configured")

// errNoAccountDev: -dev lends its demo login to its own fake provider only.
var errNoAccountDev = plainf("PROVIDER_LOGIN_NAME and PROVIDER_LOGIN_PASSWORD (or PROVIDER_ACCOUNTS_FILE): no provider account configured; -dev lends its demo login only to its fake provider, and PROVIDER_URL is set")

// loadAccounts returns every configured account: "default" from PROVIDER_LOGIN_NAME and
// PROVIDER_LOGIN_PASSWORD (or their files), and those of PROVIDER_ACCOUNTS_FILE.
func loadAccounts(src *source) (map[string]provider.Credentials, error) {
	accounts := make(map[string]provider.Credentials)
	def, defFrom, err := defaultAccount(src)
	if err != nil {
		return nil, err
	}
	if defFrom != nil {
		accounts[defaultAlias] = def
	}
	path := src.raw(setAccountsFile)
	if path == "" {
		return accounts, nil
	}
	data, err := readFile(setAccountsFile, path, maxAccountsFileBytes)
	if err != nil {
		return nil, err
	}
	fromFile, err := parseAccounts(data)
	if err != nil {
		return nil, wrapf(setAccountsFile, err, "%s: %v", path, err)
	}
	for _, a := range fromFile {
		if a.alias == defaultAlias && defFrom != nil {
			return nil, plainf("%s and %s: both configure the account %q (%s); set only one",
				defFrom.name(), setAccountsFile.name(), defaultAlias, path)
		}
		accounts[a.alias] = a.creds
	}
	return accounts, nil
}

// defaultAccount reads the login of the account "default". from is the setting that configured
// it (nil when none did), for naming it in errors.
func defaultAccount(src *source) (creds provider.Credentials, from *setting, err error) {
	name, nameFrom, err := valueOrFile(src, setLoginName, setLoginNameFile)
	if err != nil {
		return provider.Credentials{}, nil, err
	}
	password, passwordFrom, err := valueOrFile(src, setLoginPassword, setLoginPasswordFile)
	if err != nil {
		return provider.Credentials{}, nil, err
	}
	switch {
	case name == "" && password == "":
		return provider.Credentials{}, nil, nil
	case name == "":
		return provider.Credentials{}, nil, failf(setLoginName, "required when %s is set (or use %s)", passwordFrom.env, setLoginNameFile.env)
	case password == "":
		return provider.Credentials{}, nil, failf(setLoginPassword, "required when %s is set (or use %s)", nameFrom.env, setLoginPasswordFile.env)
	}
	creds, err = provider.NewCredentials(name, password)
	if err != nil {
		// The rule is named, never the value: NewCredentials does not echo the password.
		if fes := provider.FieldErrors(err); len(fes) > 0 {
			if fes[0].Field == "loginPassword" {
				return provider.Credentials{}, nil, failf(passwordFrom, "%s", fes[0].Problem)
			}
			return provider.Credentials{}, nil, failf(nameFrom, "%s", fes[0].Problem)
		}
		return provider.Credentials{}, nil, failf(nameFrom, "invalid login")
	}
	return creds, nameFrom, nil
}

// valueOrFile resolves a setting that may also be read from a file (X and X_FILE): the value and
// the setting it came from. Setting both is an error naming both.
func valueOrFile(src *source, s, file *setting) (string, *setting, error) {
	v, path := src.raw(s), src.raw(file)
	switch {
	case v != "" && path != "":
		return "", nil, plainf("%s and %s: both are set; set only one", s.name(), file.name())
	case path == "":
		// A line break at the end is an artifact, as in a file: a secret made with
		// `echo pw | base64` puts one into the variable.
		return strings.TrimRight(v, "\r\n"), s, nil
	}
	data, err := readFile(file, path, maxSecretFileBytes)
	if err != nil {
		return "", nil, err
	}
	// A byte-order mark, which some editors write first ("UTF-8 with BOM"), is not part of
	// the value: sent, every call would be refused with -16.
	v = strings.TrimRight(string(bytes.TrimPrefix(data, utf8BOM)), "\r\n")
	if v == "" {
		return "", nil, failf(file, "%s is empty", shownPath(file, path))
	}
	return v, file, nil
}

var utf8BOM = []byte("\xef\xbb\xbf")

// readFile reads a file named by setting s, at most limit bytes.
func readFile(s *setting, path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, pathErr(s, path, err) // "open PATH: no such file or directory"
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathErr(s, path, err) // "read PATH: is a directory"
	}
	if int64(len(data)) > limit {
		return nil, failf(s, "%s is larger than %d bytes", shownPath(s, path), limit)
	}
	return data, nil
}

// secretFile reports whether s names a file that holds a password. Its errors never show the
// path: a password set there by mistake (PROVIDER_LOGIN_PASSWORD_FILE=S3cret) would be printed
// as the name of a missing file.
func secretFile(s *setting) bool { return s == setLoginPasswordFile || s == setUIPasswordFile }

// shownPath is how errors of setting s refer to the file it names.
func shownPath(s *setting, path string) string {
	if secretFile(s) {
		return "the file it names"
	}
	return path
}

// pathErr is an error opening or reading path, the file setting s names: *fs.PathError's text
// (operation, path, cause), without the path for a password's file.
func pathErr(s *setting, path string, err error) error {
	var pe *fs.PathError
	if !secretFile(s) || !errors.As(err, &pe) {
		return wrapf(s, err, "%v", err)
	}
	hint := ""
	if strings.TrimRight(path, "\r\n") != path {
		hint = "; it ends with a line break, as an env file may leave"
	}
	return wrapf(s, pe.Err, "cannot %s the file it names: %v (its path is not shown, in case the variable holds the password itself rather than a file's path%s)", pe.Op, pe.Err, hint)
}

// quotedChar is a character quoted in encoding/json's syntax errors, such as 'x' or '\n' (a
// backslash escapes a quote), with the space before it.
var quotedChar = regexp.MustCompile(` ?'(?:[^'\\]|\\.)*'`)

// namedAccount is one account of the accounts file.
type namedAccount struct {
	alias string
	creds provider.Credentials
}

// parseAccounts reads the accounts file strictly: a JSON object of aliases, each an object with
// exactly loginName and loginPassword. Errors name the alias and the key, never a password.
func parseAccounts(data []byte) ([]namedAccount, error) {
	// A byte-order mark, which some editors write first, is not part of the JSON.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		// encoding/json would turn the bytes into U+FFFD, and send the provider a password
		// that is not the one in the file.
		return nil, fmt.Errorf("not valid UTF-8: line %d (save the file as UTF-8)", lineOf(data, int64(invalidUTF8At(data))))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty; want " + accountsShape)
	}
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// Without the character it quotes, which may be one of a password.
			return nil, fmt.Errorf("not valid JSON: line %d: %s", lineOf(data, se.Offset), quotedChar.ReplaceAllString(se.Error(), ""))
		}
		return nil, fmt.Errorf("not valid JSON: %s", err.Error())
	}
	members, err := objectMembers(data)
	if err != nil {
		return nil, fmt.Errorf("want %s: %w", accountsShape, err)
	}
	if len(members) == 0 {
		return nil, errors.New("no accounts; want " + accountsShape)
	}
	out := make([]namedAccount, 0, len(members))
	for _, m := range members {
		if !aliasPattern.MatchString(m.key) {
			return nil, fmt.Errorf("account alias %q: must match %s", m.key, aliasPattern)
		}
		creds, err := parseAccount(m.value)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", m.key, err)
		}
		out = append(out, namedAccount{alias: m.key, creds: creds})
	}
	return out, nil
}

// invalidUTF8At is the offset of the first byte of data that is not valid UTF-8.
func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}

const accountsShape = `{"alias": {"loginName": "...", "loginPassword": "..."}}`

// parseAccount reads one account's object.
func parseAccount(raw json.RawMessage) (provider.Credentials, error) {
	members, err := objectMembers(raw)
	if err != nil {
		return provider.Credentials{}, fmt.Errorf("want {\"loginName\": \"...\", \"loginPassword\": \"...\"}: %w", err)
	}
	var name, password string
	for _, m := range members {
		var dst *string
		switch m.key {
		case "loginName":
			dst = &name
		case "loginPassword":
			dst = &password
		default:
			return provider.Credentials{}, fmt.Errorf("unknown key %q (want loginName and loginPassword)", m.key)
		}
		if len(m.value) == 0 || m.value[0] != '"' {
			return provider.Credentials{}, fmt.Errorf("%s: must be a string", m.key)
		}
		if err := json.Unmarshal(m.value, dst); err != nil {
			return provider.Credentials{}, fmt.Errorf("%s: must be a string", m.key)
		}
	}
	// As for a variable or a file: a line break at the end is an artifact of how it was made.
	creds, err := provider.NewCredentials(strings.TrimRight(name, "\r\n"), strings.TrimRight(password, "\r\n"))
	if err != nil {
		if fes := provider.FieldErrors(err); len(fes) > 0 {
			return provider.Credentials{}, fes[0]
		}
		return provider.Credentials{}, errors.New("invalid login")
	}
	return creds, nil
}

// member is one key of a JSON object, in the order of the document.
type member struct {
	key   string
	value json.RawMessage
}

// objectMembers splits a valid JSON document that must be one object into its members, refusing
// a key that appears twice (encoding/json would silently keep the last).
func objectMembers(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var members []member
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // inside an object, the decoder only yields string keys
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		members = append(members, member{key: key, value: value})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	return members, nil
}

// lineOf returns the 1-based line of a byte offset.
func lineOf(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte("\n")) + 1
}
