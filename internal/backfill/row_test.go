package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ovqueue/ovqueue/provider"
)

// readAll reads every row, decoded: "LINE type payload" or "LINE error".
func readAll(t *testing.T, format Format, in, account string) ([]string, error) {
	t.Helper()
	rows, header, err := newRowReader("in", format, strings.NewReader(in))
	if err != nil {
		return nil, err
	}
	d := newDecoder(format, header, account)
	var out []string
	for {
		r, err := rows.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		typ, payload, err := d.decode(r)
		if err != nil {
			out = append(out, fmt.Sprintf("%d %v", r.line, strings.ReplaceAll(err.Error(), "\n", "; ")))
			continue
		}
		out = append(out, fmt.Sprintf("%d %s %s", r.line, typ, canonicalJSON(t, payload)))
	}
}

// canonicalJSON sorts an object's keys, so that payloads compare whatever their order.
func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
	out, _ := json.Marshal(m)
	return string(out)
}

func TestReadJSONL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		account string
		want    []string
	}{
		{"rows, blank lines, CRLF and a BOM",
			"\ufeff{\"type\":\"licence:modify\",\"orderNumber\":1}\r\n\n   \n{\"type\":\"x\",\"a\":\"b\"}",
			"", []string{`1 licence:modify {"orderNumber":1}`, `4 x {"a":"b"}`}},
		{"export fields are dropped",
			`{"type":"t","orderNumber":1,"errorCode":-4,"errorMessage":"m","errorItem":"i","httpStatus":500,"reason":"r","attempts":3,"failedAt":"2024-01-01T00:00:00Z","taskId":"t:1:x","replayedAt":"2024-01-02T00:00:00Z"}`,
			"", []string{`1 t {"orderNumber":1}`}},
		{"default account fills rows without one",
			`{"type":"t","a":1}` + "\n" + `{"type":"t","account":""}` + "\n" + `{"type":"t","account":null}` + "\n" + `{"type":"t","account":"us"}`,
			"eu", []string{`1 t {"a":1,"account":"eu"}`, `2 t {"account":"eu"}`, `3 t {"account":"eu"}`, `4 t {"account":"us"}`}},
		{"no default keeps what the row has",
			`{"type":"t","account":""}`, "", []string{`1 t {"account":""}`}},
		{"slow path: escaped key", `{"type":"t","orderN\u0075mber":5,"account":"x"}`, "eu", []string{`1 t {"account":"x","orderNumber":5}`}},
		{"slow path: escaped type", `{"type":"licence\u003amodify"}`, "", []string{`1 licence:modify {}`}},
		{"no type", `{"orderNumber":1}`, "", []string{`1  {"orderNumber":1}`}},
		// A member given twice is ambiguous: never silently its last value.
		{"a field twice", `{"type":"t","a":1,"b":0,"a":2}`, "", []string{`1 a: given more than once (which one was meant?)`}},
		{"type twice", `{"type":"t","type":"u"}`, "", []string{`1 type: given more than once (which one was meant?)`}},
		{"twice, once escaped", `{"type":"t","\u0061":1,"a":2,"b":1,"b":2}`, "",
			[]string{"1 a: given more than once (which one was meant?); b: given more than once (which one was meant?)"}},
		// An export field the backfill ignores may come twice (a hand-edited export), but not
		// taskId, which it reads.
		{"an ignored export field twice", `{"type":"t","a":1,"errorCode":-4,"errorCode":-5}`, "", []string{`1 t {"a":1}`}},
		{"taskId twice", `{"type":"t","taskId":"t:1:x","taskId":"t:2:y"}`, "", []string{`1 taskId: given more than once (which one was meant?)`}},
		{"type not a string", `{"type":5}`, "", []string{`1 type: must be a string, got a number`}},
		{"not JSON", `{"type":`, "", []string{`1 row: not valid JSON: unexpected end of JSON input`}},
		{"an array", `[{"type":"t"}]`, "", []string{`1 row: a JSON array, but a backfill reads JSON Lines: one object {"type": ..., <payload fields>} a line`}},
		{"not an object", `"x"`, "", []string{`1 row: must be a JSON object {"type": ..., <payload fields>}`}},
		{"CSV read as JSON Lines", "type,orderNumber\nlicence:modify,1", "", []string{
			`1 row: must be a JSON object {"type": ..., <payload fields>}; this looks like a CSV header: for CSV, pass --format csv`,
			`2 row: must be a JSON object {"type": ..., <payload fields>}`}},
		{"a quoted CSV header", `"orderNumber","type"`, "", []string{
			`1 row: must be a JSON object {"type": ..., <payload fields>}; this looks like a CSV header: for CSV, pass --format csv`}},
		{"commas, no type", "orderNumber,product", "", []string{`1 row: must be a JSON object {"type": ..., <payload fields>}`}},
		{"invalid UTF-8", "{\"type\":\"t\",\"a\":\"\xff\"}", "", []string{`1 row: not valid UTF-8 (save the file as UTF-8)`}},
		{"too long", `{"type":"t","a":"` + strings.Repeat("x", MaxLineBytes) + `"}` + "\n" + `{"type":"t"}`,
			"", []string{fmt.Sprintf("1 row: longer than %d bytes", MaxLineBytes), `2 t {}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, JSONL, tt.in, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReadCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		account string
		want    []string
		err     string // an InputError
	}{
		{"rows with empty cells, CRLF and a BOM",
			"\ufefftype, orderNumber ,product,comments\r\nlicence:modify,1,700,\r\novcallback:update,2,,\"a, \"\"quoted\"\"\nline\"\r\nlicence:modify,3,701,x\r\n",
			"", []string{`2 licence:modify {"orderNumber":"1","product":"700"}`,
				`3 ovcallback:update {"comments":"a, \"quoted\"\nline","orderNumber":"2"}`,
				`5 licence:modify {"comments":"x","orderNumber":"3","product":"701"}`}, ""},
		{"export columns are ignored, account filled",
			"type,orderNumber,errorCode,errorMessage,account\nt,1,-4,bad,\nt,2,-4,bad,us\n",
			"eu", []string{`2 t {"account":"eu","orderNumber":"1"}`, `3 t {"account":"us","orderNumber":"2"}`}, ""},
		{"cell count", "type,a,b\nt,1\nt,1,2,3\nt,1,2\n", "",
			[]string{"2 row: has 2 cells, the header has 3", "3 row: has 4 cells, the header has 3", `4 t {"a":"1","b":"2"}`}, ""},
		{"lines of only spaces or tabs are blank, as in JSON Lines", "type,a\nt,1\n   \n\t\r\n\" \"\nt,2\n", "",
			[]string{`2 t {"a":"1"}`, `6 t {"a":"2"}`}, ""},
		{"one column: a blank cell is a blank line too", "type\nt\n \nt\n", "", []string{`2 t {}`, `4 t {}`}, ""},
		{"invalid UTF-8", "type,a\nt,caf\xe9\n", "", []string{"2 a: not valid UTF-8 (save the file as UTF-8)"}, ""},
		{"control characters survive", "type,a\nt,\"tab\there\"\n", "", []string{`2 t {"a":"tab\there"}`}, ""},
		{"empty file", "", "", nil, ""},
		{"header only", "type,a\n", "", nil, ""},
		{"no type column", "Type,a\nt,1\n", "", nil, `in:1: header: no "type" column`},
		{"duplicate column", "type,a,a\n", "", nil, `in:1: header: column "a" appears twice (columns 2 and 3)`},
		{"empty column name", "type,,a\n", "", nil, "in:1: header: column 2 has no name"},
		{"quote left open: rows after it may be swallowed; the error names the row's line", "type,a\nt,1\nt,\"x\ny\nt,\"z\n", "", nil,
			`in:3: csv: a quoted cell of the row that begins here runs on to line 5: column 3 there: extraneous or missing " in quoted-field`},
		{"bad quotes within a line are bad rows", "type,a,b\nt,1\"2,3\nt,\"4\"5,6\nt,7,8\n", "",
			[]string{`2 row: csv: column 4: bare " in non-quoted-field`, `3 row: csv: column 5: extraneous or missing " in quoted-field`, `4 t {"a":"7","b":"8"}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, CSV, tt.in, tt.account)
			if tt.err != "" {
				var ie *InputError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want an InputError with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A CSV row is bounded like a JSONL line: a row a little too long is a bad row, and one that
// runs on and on (a quote never closed) ends the input once it passes the bound, rather than
// being read into memory to the end of the file.
func TestReadCSVRowLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		rows int    // rows read
		bad  string // the bad row, as "LINE problem"
		err  string // an InputError
	}{
		{"a row just under the bound", "type,a\nt,\"" + strings.Repeat("x\n", (MaxRowBytes-10)/2) + "\"\nt,1\n", 2, "", ""},
		{"a row just over the bound is a bad row", "type,a\nt," + strings.Repeat("x", MaxRowBytes) + "\nt,1\n", 2,
			fmt.Sprintf("2 row: longer than %d bytes", MaxRowBytes), ""},
		{"blank lines before a row are not part of it", "type,a\n" + strings.Repeat("\n", MaxRowBytes+100) + "t,2\n", 1, "", ""},
		{"a stray quote early in an endless line does not hide the bound", "type,a\nt,x\"y" + strings.Repeat("z", 2*MaxRowBytes) + "\nt,1\n", 0, "",
			fmt.Sprintf("in: csv: the row after line 1 is longer than %d bytes: a quote that is never closed?", MaxRowBytes)},
		{"a quote never closed stops at the bound", "type,a\nt,1\nt,\"x\n" + strings.Repeat("t,2\n", MaxRowBytes/2), 0, "",
			fmt.Sprintf("in: csv: the row after line 2 is longer than %d bytes: a quote that is never closed?", MaxRowBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(t, CSV, tt.in, "")
			if tt.err != "" {
				var ie *InputError
				if !errors.As(err, &ie) || err.Error() != tt.err {
					t.Fatalf("err = %.200v, want an InputError %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%.200v", err)
			}
			if len(got) != tt.rows {
				t.Fatalf("%d rows, want %d", len(got), tt.rows)
			}
			if tt.bad != "" && got[0] != tt.bad {
				t.Errorf("first row %.200q, want %q", got[0], tt.bad)
			}
		})
	}
}

// FuzzDecodeJSONL: the fast and the slow paths of row decoding agree on every row the fast
// path takes.
func FuzzDecodeJSONL(f *testing.F) {
	for _, s := range []string{`{"type":"licence:modify","orderNumber":1,"account":""}`, `{"type":"t","errorCode":1,"a":[1,{"b":2}]}`,
		`{"account":"x","type":"t"}`, `{"type":"t","a":"\u00e9\"","account":null}`} {
		f.Add(s, "")
		f.Add(s, "eu")
	}
	f.Fuzz(func(t *testing.T, line, account string) {
		d := newDecoder(JSONL, nil, account)
		typ, payload, ok := d.scanJSON([]byte(line))
		if !ok || strings.TrimSpace(line) == "" {
			return
		}
		fast := typ + " " + string(payload)
		slow := newDecoder(JSONL, nil, account)
		styp, spayload, err := slow.decodeJSONSlow([]byte(line))
		if err != nil {
			t.Fatalf("%q: the fast path took it, the slow path says %v", line, err)
		}
		var a, b map[string]json.RawMessage
		if json.Unmarshal([]byte(fast[len(typ)+1:]), &a) != nil || json.Unmarshal(spayload, &b) != nil {
			t.Fatalf("%q: payloads %s and %s", line, payload, spayload)
		}
		if typ != styp || !reflect.DeepEqual(compactAll(a), compactAll(b)) {
			t.Fatalf("%q: fast %s %s, slow %s %s", line, typ, payload, styp, spayload)
		}
	})
}

func compactAll(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		var s strings.Builder
		_ = json.NewEncoder(&s).Encode(v)
		out[k] = s.String()
	}
	return out
}

func TestRowReports(t *testing.T) {
	t.Parallel()
	err := errors.Join(&provider.FieldError{Field: "orderNumber", Problem: "required"}, &provider.FieldError{Field: "product", Problem: "bad"})
	got := rowReports("rows.csv", 7, err)
	want := []string{"rows.csv:7: orderNumber: required", "rows.csv:7: product: bad"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rowReports = %q, want %q", got, want)
	}
	if got := rowReports("-", 1, errors.New("odd")); !reflect.DeepEqual(got, []string{"-:1: row: odd"}) {
		t.Errorf("rowReports = %q", got)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]Format{"a.jsonl": JSONL, "b.NDJSON": JSONL, "c.json": JSONL, "d.csv": CSV, "e.txt": ""} {
		if got, ok := FormatOf(name); got != want || ok != (want != "") {
			t.Errorf("FormatOf(%q) = %q, %v", name, got, ok)
		}
	}
	if f, err := ParseFormat("CSV"); err != nil || f != CSV {
		t.Errorf("ParseFormat(CSV) = %q, %v", f, err)
	}
	if _, err := ParseFormat("xml"); err == nil || err.Error() != `must be jsonl or csv, got "xml"` {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
}

// Every way a row is read (JSONL's fast and slow paths, CSV) finds the task an exported row came
// from, and a row without one has none: what a row before it said does not carry over.
func TestDecoderReadsOrigin(t *testing.T) {
	t.Parallel()
	const keyed = `"taskId":"licence:modify:inv-1","contentId":"licence:modify:1:0123456789abcdef"`
	want := origin{taskID: "licence:modify:inv-1", contentID: "licence:modify:1:0123456789abcdef"}
	tests := []struct {
		name   string
		format Format
		in     string
		want   []origin
	}{
		{"JSONL", JSONL, `{"type":"licence:modify","orderNumber":1,` + keyed + "}\n" +
			`{"type":"licence:modify","orderNumber":2}` + "\n",
			[]origin{want, {}}},
		{"JSONL, slow path (an escaped name)", JSONL, `{"typ\u0065":"licence:modify","orderNumber":1,` + keyed + "}\n" +
			`{"typ\u0065":"licence:modify","orderNumber":2}` + "\n",
			[]origin{want, {}}},
		// Each field that is a string is kept; a key needs both (see origin.key).
		{"JSONL, not strings", JSONL, `{"type":"licence:modify","orderNumber":1,"taskId":1,"contentId":"x"}` + "\n",
			[]origin{{contentID: "x"}}},
		{"JSONL, taskId alone", JSONL, `{"type":"licence:modify","orderNumber":1,"taskId":"licence:modify:inv-1"}` + "\n",
			[]origin{{taskID: "licence:modify:inv-1"}}},
		{"CSV", CSV, "type,orderNumber,taskId,contentId\nlicence:modify,1,licence:modify:inv-1,licence:modify:1:0123456789abcdef\nlicence:modify,2,,\n",
			[]origin{want, {}}},
		{"CSV, taskId alone", CSV, "type,orderNumber,taskId\nlicence:modify,1,licence:modify:inv-1\n",
			[]origin{{taskID: "licence:modify:inv-1"}}},
		// The dead letter's entry, with or without a key; anything but an entry ID is none.
		{"JSONL, entryId", JSONL, `{"type":"licence:modify","orderNumber":1,"entryId":"1732492800000-7"}` + "\n" +
			`{"type":"licence:modify","orderNumber":1,` + keyed + `,"entryId":"1-0"}` + "\n" +
			`{"type":"licence:modify","orderNumber":1,"entryId":"1-x"}` + "\n" +
			`{"type":"licence:modify","orderNumber":1,"entryId":17}` + "\n" +
			`{"type":"licence:modify","orderNumber":1,"entryId":"99999999999999999999-0"}` + "\n" +
			`{"type":"licence:modify","orderNumber":2}` + "\n",
			[]origin{{entryID: "1732492800000-7"}, {taskID: want.taskID, contentID: want.contentID, entryID: "1-0"}, {}, {}, {}, {}}},
		{"JSONL, slow path, entryId", JSONL, `{"typ\u0065":"licence:modify","orderNumber":1,"entryId":"1732492800000-7"}` + "\n" +
			`{"typ\u0065":"licence:modify","orderNumber":1,"entryId":"-"}` + "\n",
			[]origin{{entryID: "1732492800000-7"}, {}}},
		{"CSV, entryId", CSV, "type,orderNumber,entryId\nlicence:modify,1,1732492800000-7\nlicence:modify,2,\nlicence:modify,3,+\n",
			[]origin{{entryID: "1732492800000-7"}, {}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, header, err := newRowReader("in", tt.format, strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			d := newDecoder(tt.format, header, "")
			var got []origin
			for {
				r, err := rows.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := d.decode(r); err != nil {
					t.Fatalf("line %d: %v", r.line, err)
				}
				got = append(got, d.origin)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("origins %+v, want %+v", got, tt.want)
			}
		})
	}
	// The key is kept only for the row's own type and an unchanged content.
	for _, tc := range []struct {
		typ, id, want string
	}{
		{"licence:modify", "licence:modify:1:0123456789abcdef", "inv-1"},
		{"licence:modify", "licence:modify:1:fedcba9876543210", ""}, // edited
		{"ovcallback:update", "licence:modify:1:0123456789abcdef", ""},
	} {
		if got := want.key(tc.typ, tc.id); got != tc.want {
			t.Errorf("key(%s, %s) = %q, want %q", tc.typ, tc.id, got, tc.want)
		}
	}
	// Half an origin gives no key.
	for _, o := range []origin{{taskID: want.taskID}, {contentID: want.contentID}} {
		if got := o.key("licence:modify", want.contentID); got != "" {
			t.Errorf("%+v.key = %q, want none", o, got)
		}
	}
}
