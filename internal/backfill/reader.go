package backfill

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/ovqueue/ovqueue/provider"
)

// MaxLineBytes bounds one JSONL line; a longer line is reported as a bad row and skipped. The
// largest valid payload is well under this.
const MaxLineBytes = 1 << 20

// row is one row as read, not yet decoded.
type row struct {
	line  int                  // where the row starts, counting from 1
	data  []byte               // JSONL: the line, without its end of line
	cells []string             // CSV: the cells
	err   *provider.FieldError // a problem already found while reading (too long, cell count)
}

// rowReader reads rows one at a time. next returns io.EOF at the end; any other error is an
// *InputError and ends the input.
type rowReader interface {
	next() (row, error)
}

// InputError is a problem that leaves the rest of the input unreadable, so that no row can be
// trusted: a CSV header without "type", a CSV syntax error, a failed read.
type InputError struct {
	Name string // the input's name
	Line int    // 0 when the problem has no line
	Err  error
}

// Error is "FILE:LINE: problem", or "FILE: problem" without a line.
func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

// Unwrap returns the problem, for errors.Is and errors.As.
func (e *InputError) Unwrap() error { return e.Err }

// countingReader counts the bytes read, for the validation pass's progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// newBufReader buffers r and skips a UTF-8 byte order mark, which spreadsheet programs write.
func newBufReader(r io.Reader) *bufio.Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	return br
}

// newRowReader reads rows of the given format from r. For CSV it reads and checks the header
// row at once; it returns the header (nil for JSONL).
func newRowReader(name string, format Format, r io.Reader) (rowReader, []string, error) {
	br := newBufReader(r)
	if format == CSV {
		return newCSVReader(name, br)
	}
	return &jsonlReader{name: name, br: br}, nil, nil
}

// jsonlReader reads JSON Lines: one row per non-blank line.
type jsonlReader struct {
	name string
	br   *bufio.Reader
	line int
}

func (r *jsonlReader) next() (row, error) {
	for {
		data, tooLong, err := r.readLine()
		if err != nil {
			return row{}, err
		}
		if tooLong {
			return row{line: r.line, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}}, nil
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		return row{line: r.line, data: data}, nil
	}
}

// readLine returns the next line, copied, without its line ending; tooLong when the line was
// longer than MaxLineBytes (its bytes are skipped).
func (r *jsonlReader) readLine() (data []byte, tooLong bool, err error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(data)+len(chunk) > MaxLineBytes+2 { // +2: the line ending
				tooLong, data = true, nil
			} else {
				data = append(data, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(data) == 0 && !tooLong {
				return nil, false, io.EOF
			}
		case err != nil:
			return nil, false, &InputError{Name: r.name, Line: r.line + 1, Err: err}
		}
		r.line++
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		return data, tooLong, nil
	}
}

// csvReader reads CSV rows after a header row.
type csvReader struct {
	name   string
	cr     *csv.Reader
	header []string
}

func newCSVReader(name string, r io.Reader) (*csvReader, []string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked here, so that the message names both counts
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return &csvReader{name: name, cr: cr}, nil, nil // an empty file: no rows
	}
	if err != nil {
		return nil, nil, csvError(name, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if err := checkHeader(header); err != nil {
		return nil, nil, &InputError{Name: name, Line: 1, Err: err}
	}
	return &csvReader{name: name, cr: cr, header: header}, header, nil
}

// checkHeader rejects a header that no row could be read with.
func checkHeader(header []string) error {
	if !slices.Contains(header, "type") {
		return fmt.Errorf("header: no %q column (the header row names the columns: type, then payload fields such as orderNumber; got %s)", "type", strings.Join(header, ","))
	}
	for i, h := range header {
		if h == "" {
			return fmt.Errorf("header: column %d has no name", i+1)
		}
		if j := slices.Index(header, h); j != i {
			return fmt.Errorf("header: column %q appears twice (columns %d and %d)", h, j+1, i+1)
		}
	}
	return nil
}

func (r *csvReader) next() (row, error) {
	if r.header == nil {
		return row{}, io.EOF
	}
	cells, err := r.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return row{}, io.EOF
		}
		// A row that breaks CSV's quoting within its own line is one bad row, and the reader
		// goes on at the next line, so that every bad row is reported. One that runs over
		// several lines (an unclosed quote) may have swallowed rows that would then be
		// neither enqueued nor reported: that ends the input.
		var pe *csv.ParseError
		if errors.As(err, &pe) && pe.StartLine == pe.Line {
			return row{line: pe.StartLine, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("csv: column %d: %v", pe.Column, pe.Err)}}, nil
		}
		return row{}, csvError(r.name, err)
	}
	line, _ := r.cr.FieldPos(0)
	if len(cells) != len(r.header) {
		return row{line: line, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("has %d cells, the header has %d", len(cells), len(r.header))}}, nil
	}
	return row{line: line, cells: cells}, nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &InputError{Name: name, Line: pe.Line, Err: fmt.Errorf("csv: column %d: %w", pe.Column, pe.Err)}
	}
	return &InputError{Name: name, Err: err}
}
