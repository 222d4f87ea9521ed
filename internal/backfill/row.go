package backfill

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ovqueue/ovqueue/provider"
)

// ExportFields are the fields `enqueue dead export` adds to each row, after the payload, so
// that an operator can see why a task failed. A backfill ignores them, so that a fixed export
// can be fed back as it is.
var ExportFields = []string{"errorCode", "errorMessage", "errorItem", "httpStatus", "reason",
	"attempts", "failedAt", "taskId", "entryId", "replayedAt", "contentId"}

// decoder turns rows into a task type and a payload for tasks.Build. One decoder serves one
// goroutine: it keeps scratch space between rows.
type decoder struct {
	format     Format
	header     []string // CSV: column names
	skip       []bool   // CSV: columns that are not payload fields (type, export fields)
	typeCol    int      // CSV: the type column
	accountCol int      // CSV: the account column, or -1
	account    string   // put into rows that name no account; "" leaves them alone

	fields map[string]json.RawMessage // JSONL scratch
	buf    []byte                     // payload scratch

	// origin is what the last decoded row says of the task it was exported from (taskId,
	// contentId, entryId; see ExportRow), or nothing.
	origin     origin
	taskIDCol  int // CSV: the taskId column, or -1
	contentCol int // CSV: the contentId column, or -1
	entryCol   int // CSV: the entryId column, or -1
}

// origin is the dead letter an exported row came from: its task's ID, the ID its content
// derives when that differs (the task had a key), and its entry in the dead-letter record.
type origin struct {
	taskID, contentID string
	entryID           string // "" unless a stream entry ID (digits-digits)
}

// key returns the key of the task the row came from when the row's content, which derives
// id for a task of type typ, is unchanged since the export; "" otherwise.
func (o origin) key(typ, id string) string {
	if o.contentID == "" || o.contentID != id {
		return ""
	}
	key, ok := strings.CutPrefix(o.taskID, typ+":")
	if !ok {
		return ""
	}
	return key
}

func newDecoder(format Format, header []string, account string) *decoder {
	d := &decoder{format: format, header: header, account: account, accountCol: -1,
		taskIDCol: -1, contentCol: -1, entryCol: -1, fields: make(map[string]json.RawMessage, 16)}
	d.skip = make([]bool, len(header))
	for i, h := range header {
		switch {
		case h == "type":
			d.typeCol, d.skip[i] = i, true
		case slices.Contains(ExportFields, h):
			d.skip[i] = true
			switch h {
			case "taskId":
				d.taskIDCol = i
			case "contentId":
				d.contentCol = i
			case "entryId":
				d.entryCol = i
			}
		case h == "account":
			d.accountCol = i
		}
	}
	return d
}

// decode returns the row's task type and payload JSON. The payload aliases the decoder's
// scratch space: it is valid until the next call. Errors are *provider.FieldError, joined.
func (d *decoder) decode(r row) (typ string, payload []byte, err error) {
	d.origin = origin{}
	if r.err != nil {
		return "", nil, r.err
	}
	if d.format == CSV {
		return d.decodeCSV(r.cells)
	}
	return d.decodeJSON(r.data)
}

func (d *decoder) decodeJSON(data []byte) (string, []byte, error) {
	if !utf8.Valid(data) {
		return "", nil, &provider.FieldError{Field: "row", Problem: "not valid UTF-8 (save the file as UTF-8)"}
	}
	if typ, payload, ok := d.scanJSON(data); ok {
		return typ, payload, nil
	}
	return d.decodeJSONSlow(data)
}

// scanJSON is decodeJSON's fast path, for rows that scanObject handles and whose type is a
// plain string.
func (d *decoder) scanJSON(data []byte) (string, []byte, bool) {
	var typ, account, taskID, contentID, entryID []byte
	hasType := false
	b := append(d.buf[:0], '{')
	scanned := scanObject(data, func(key, value []byte) {
		switch {
		case string(key) == "type":
			typ, hasType = value, true
		case string(key) == "account":
			account = value
		case string(key) == "taskId":
			taskID = value
		case string(key) == "contentId":
			contentID = value
		case string(key) == "entryId":
			entryID = value
		case slices.Contains(ExportFields, string(key)):
		default:
			if len(b) > 1 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, key...)
			b = append(b, '"', ':')
			b = append(b, value...)
		}
	})
	if !scanned {
		return "", nil, false
	}
	d.origin = originOf(taskID, contentID, entryID)
	b = d.appendAccount(b, account)
	d.buf = append(b, '}')
	if !hasType {
		return "", d.buf, true
	}
	if len(typ) < 2 || typ[0] != '"' || bytes.IndexByte(typ, '\\') >= 0 {
		return "", nil, false // not a plain string: the slow path says what is wrong
	}
	return string(typ[1 : len(typ)-1]), d.buf, true
}

// appendAccount writes the row's account member: its own when it names one, else the
// decoder's default, else what the row had (an empty string or null), if anything.
func (d *decoder) appendAccount(b []byte, own []byte) []byte {
	named := len(own) > 0 && string(own) != `""` && string(own) != "null"
	if !named && d.account == "" && len(own) == 0 {
		return b
	}
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, `"account":`...)
	if named || d.account == "" {
		return append(b, own...)
	}
	return appendJSONString(b, d.account)
}

// valid reports what is wrong with data as JSON, in encoding/json's words, without building
// anything of it.
func valid(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	return json.Unmarshal(data, new(json.RawMessage))
}

// members reads the members of the JSON object data (already known to be valid) into
// d.fields, and returns the keys given more than once, sorted: a map would keep the last
// value of each silently.
func (d *decoder) members(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	_, _ = dec.Token() // {
	var twice []string
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var value json.RawMessage
		_ = dec.Decode(&value)
		// An export field the backfill ignores may come twice (a hand-edited export): only
		// taskId, contentId and entryId, which a backfill reads, must be one.
		ignored := slices.Contains(ExportFields, key) && key != "taskId" && key != "contentId" && key != "entryId"
		if _, dup := d.fields[key]; dup && !ignored && !slices.Contains(twice, key) {
			twice = append(twice, key)
		}
		d.fields[key] = value
	}
	slices.Sort(twice)
	return twice
}

// decodeJSONSlow decodes a row with encoding/json, for the precise message on a bad row and
// for rows the fast path does not handle (escaped keys).
func (d *decoder) decodeJSONSlow(data []byte) (string, []byte, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case trimmed[0] == '[':
		return "", nil, &provider.FieldError{Field: "row", Problem: `a JSON array, but a backfill reads JSON Lines: one object {"type": ..., <payload fields>} a line`}
	case trimmed[0] != '{' && looksLikeCSVHeader(trimmed):
		// Standard input is read as JSON Lines unless told otherwise.
		return "", nil, &provider.FieldError{Field: "row", Problem: `must be a JSON object {"type": ..., <payload fields>}; this looks like a CSV header: for CSV, pass --format csv`}
	case trimmed[0] != '{':
		return "", nil, &provider.FieldError{Field: "row", Problem: `must be a JSON object {"type": ..., <payload fields>}`}
	}
	if err := valid(trimmed); err != nil {
		return "", nil, &provider.FieldError{Field: "row", Problem: "not valid JSON: " + err.Error()}
	}
	clear(d.fields)
	if twice := d.members(trimmed); len(twice) > 0 {
		errs := make([]error, len(twice))
		for i, k := range twice {
			errs[i] = &provider.FieldError{Field: k, Problem: "given more than once (which one was meant?)"}
		}
		return "", nil, errors.Join(errs...)
	}
	typ := ""
	if raw, ok := d.fields["type"]; ok {
		var err error
		if typ, err = jsonString(raw); err != nil {
			return "", nil, &provider.FieldError{Field: "type", Problem: err.Error()}
		}
	}
	b := append(d.buf[:0], '{')
	for k, v := range d.fields {
		if k == "type" || k == "account" || slices.Contains(ExportFields, k) {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	b = d.appendAccount(b, d.fields["account"])
	d.buf = append(b, '}')
	d.origin = originOf(d.fields["taskId"], d.fields["contentId"], d.fields["entryId"])
	return typ, d.buf, nil
}

// originOf reads the taskId, contentId and entryId members of an exported row: each that is
// a string (an entryId of a stream entry's form) is kept, and the others are ignored, as the
// other export fields are. A key needs taskId and contentId; a dead letter, taskId and entryId.
func originOf(taskID, contentID, entryID json.RawMessage) origin {
	str := func(raw json.RawMessage) string {
		if len(raw) == 0 {
			return ""
		}
		s, err := jsonString(raw)
		if err != nil {
			return ""
		}
		return s
	}
	return origin{taskID: str(taskID), contentID: str(contentID), entryID: streamEntryID(str(entryID))}
}

// streamEntryID returns s when it is a Redis stream entry's ID (two 64-bit whole numbers
// joined by '-'), else "": Redis refuses any other form.
func streamEntryID(s string) string {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok {
		return ""
	}
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return ""
	}
	return s
}

func (d *decoder) decodeCSV(cells []string) (string, []byte, error) {
	var errs []error
	b := append(d.buf[:0], '{')
	for i, cell := range cells {
		if cell == "" || d.skip[i] {
			continue
		}
		if !utf8.ValidString(cell) {
			errs = append(errs, &provider.FieldError{Field: d.header[i], Problem: "not valid UTF-8 (save the file as UTF-8)"})
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, d.header[i])
		b = append(b, ':')
		b = appendJSONString(b, cell)
	}
	if d.account != "" && (d.accountCol < 0 || cells[d.accountCol] == "") {
		b = d.appendAccount(b, nil)
	}
	d.buf = append(b, '}')
	if d.taskIDCol >= 0 {
		d.origin.taskID = cells[d.taskIDCol]
	}
	if d.contentCol >= 0 {
		d.origin.contentID = cells[d.contentCol]
	}
	if d.entryCol >= 0 {
		d.origin.entryID = streamEntryID(cells[d.entryCol])
	}
	typ := cells[d.typeCol]
	if !utf8.ValidString(typ) {
		errs = append(errs, &provider.FieldError{Field: "type", Problem: "not valid UTF-8 (save the file as UTF-8)"})
	}
	return typ, d.buf, errors.Join(errs...)
}

// jsonString decodes a JSON string value, quickly when it has no escapes.
func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("must be a string, got %s", kind(raw))
	}
	return s, nil
}

// kind names the JSON type of a value, for messages.
func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// appendJSONString appends s (valid UTF-8) as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// looksLikeCSVHeader reports whether line, read as JSON Lines, is a CSV header row: cells
// separated by commas, one of them "type".
func looksLikeCSVHeader(line []byte) bool {
	cells := bytes.Split(line, []byte(","))
	if len(cells) < 2 {
		return false
	}
	for _, c := range cells {
		if string(bytes.Trim(bytes.TrimSpace(c), `"`)) == "type" {
			return true
		}
	}
	return false
}
