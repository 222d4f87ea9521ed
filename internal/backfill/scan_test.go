package backfill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

type member struct{ key, value string }

func scan(data string) ([]member, bool) {
	var got []member
	ok := scanObject([]byte(data), func(k, v []byte) { got = append(got, member{string(k), string(v)}) })
	return got, ok
}

func TestScanObject(t *testing.T) {
	t.Parallel()
	many32, many32Members := manyMembers(32)
	many33, _ := manyMembers(33)
	tests := []struct {
		name string
		in   string
		want []member // nil with ok false
		ok   bool
	}{
		{"empty", `{}`, nil, true},
		{"spaces", " { \"a\" : 1 , \"b\":\"x\" } ", []member{{"a", "1"}, {"b", `"x"`}}, true},
		{"all kinds", `{"s":"a\"b","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"k":[1,"]"]},"a":[]}`,
			[]member{{"s", `"a\"b"`}, {"n", "-1.5e3"}, {"t", "true"}, {"f", "false"}, {"z", "null"}, {"o", `{"k":[1,"]"]}`}, {"a", "[]"}}, true},
		{"a key given twice goes slow", `{"a":1,"b":2,"a":3}`, nil, false},
		{"32 members", many32, many32Members, true},
		{"33 members go slow", many33, nil, false},
		{"escaped key goes slow", `{"a\u0062":1}`, nil, false},
		{"not an object", `[1]`, nil, false},
		{"trailing data", `{} {}`, nil, false},
		{"trailing comma", `{"a":1,}`, nil, false},
		{"missing colon", `{"a" 1}`, nil, false},
		{"bad number", `{"a":01}`, nil, false},
		{"bad literal", `{"a":tru}`, nil, false},
		{"bad escape", `{"a":"\q"}`, nil, false},
		{"control character", "{\"a\":\"x\ty\"}", nil, false},
		{"unterminated string", `{"a":"x}`, nil, false},
		{"bad nested", `{"a":{"b":}}`, nil, false},
		{"unterminated", `{"a":1`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := scan(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && !equalMembers(got, tt.want) {
				t.Errorf("members = %q, want %q", got, tt.want)
			}
		})
	}
}

func equalMembers(a, b []member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzScanObject checks the fast scanner against encoding/json: whatever it accepts is a valid
// JSON object with exactly those members, in that order.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"type":"licence:modify","orderNumber":1,"product":"700"}`,
		`{"a":{"b":[1,2,{"c":"d"}]},"e":"\u00e9\n"}`, `{"a":1e5,"b":-0.5,"c":null}`, ` {"a" : [ ] } `, `{"a":"}"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := scan(in)
		if !ok {
			return
		}
		if !json.Valid([]byte(in)) {
			t.Fatalf("scanObject accepted invalid JSON %q", in)
		}
		dec := json.NewDecoder(strings.NewReader(in))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("scanObject accepted a non-object %q", in)
		}
		var want []member
		for dec.More() {
			k, _ := dec.Token()
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			want = append(want, member{k.(string), string(v)})
		}
		if len(got) != len(want) {
			t.Fatalf("%q: members %q, want %q", in, got, want)
		}
		for i := range got {
			var g, w bytes.Buffer
			_ = json.Compact(&g, []byte(got[i].value))
			_ = json.Compact(&w, []byte(want[i].value))
			if got[i].key != want[i].key || g.String() != w.String() {
				t.Fatalf("%q: member %d = %q, want %q", in, i, got[i], want[i])
			}
		}
	})
}

// manyMembers is an object of n members, {"k0":0,"k1":1,…}, and its members.
func manyMembers(n int) (string, []member) {
	parts, members := make([]string, n), make([]member, n)
	for i := range parts {
		members[i] = member{fmt.Sprintf("k%d", i), fmt.Sprint(i)}
		parts[i] = fmt.Sprintf("%q:%s", members[i].key, members[i].value)
	}
	return "{" + strings.Join(parts, ",") + "}", members
}
