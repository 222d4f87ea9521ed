package backfill

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// maxScanKeys is the most members scanObject takes: a row has at most its type, a payload's
// fields and what dead export adds.
const maxScanKeys = 32

// scanObject calls fn with each member of the JSON object in data, in order: the key (without
// its quotes) and the value's bytes. It is the fast path of row decoding and checks only what
// it must to find the members; it returns false, without calling fn for the rest, on anything
// it does not handle (a key with escapes or invalid UTF-8, a key given twice, more than
// maxScanKeys members) or that is not well-formed, and the caller then takes the slow path,
// which gives the precise message.
func scanObject(data []byte, fn func(key, value []byte)) bool {
	var seen [maxScanKeys][]byte
	n := 0
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		if i == len(data) || data[i] != '"' {
			return false
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' || data[end] < 0x20 {
				return false
			}
			end++
		}
		if end == len(data) {
			return false
		}
		key := data[i+1 : end]
		if !utf8.Valid(key) {
			return false // encoding/json would replace the bad bytes
		}
		if n == maxScanKeys {
			return false
		}
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return false // which one was meant? The slow path says so
			}
		}
		seen[n], n = key, n+1
		i = skipSpace(data, end+1)
		if i == len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		end = skipValue(data, i)
		if end < 0 {
			return false
		}
		fn(key, data[i:end])
		i = skipSpace(data, end)
		if i == len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// skipValue returns the end of the JSON value that starts at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; {
	case c == '"':
		escaped := false
		for j := i + 1; j < len(data); j++ {
			switch {
			case data[j] == '"':
				if escaped && !json.Valid(data[i:j+1]) {
					return -1
				}
				return j + 1
			case data[j] == '\\':
				escaped = true
				j++ // the escaped byte: json.Valid checks the escapes at the end
			case data[j] < 0x20:
				return -1
			}
		}
		return -1
	case c == '{' || c == '[':
		// Payload fields are scalars: an object or array is a bad row, so it only has to be
		// found and checked, not fast.
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				if j = skipValue(data, j) - 1; j < 0 {
					return -1
				}
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					if !json.Valid(data[i : j+1]) {
						return -1
					}
					return j + 1
				}
			}
		}
		return -1
	case c == 't':
		return literal(data, i, "true")
	case c == 'f':
		return literal(data, i, "false")
	case c == 'n':
		return literal(data, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(data) && (data[j] >= '0' && data[j] <= '9' || data[j] == '.' || data[j] == 'e' || data[j] == 'E' || data[j] == '+' || data[j] == '-') {
			j++
		}
		if !isNumber(data[i:j]) {
			return -1
		}
		return j
	}
	return -1
}

func literal(data []byte, i int, word string) int {
	if bytes.HasPrefix(data[i:], []byte(word)) {
		return i + len(word)
	}
	return -1
}

// isNumber checks JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(b)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
