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
	if format == CSV {
		return newCSVReader(name, r)
	}
	return &jsonlReader{name: name, br: newBufReader(r)}, nil, nil
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
	name     string
	cr       *csv.Reader
	lim      *rowLimiter
	header   []string
	lastLine int // where the last row read ended
}

// rowLimiter ends the input when one CSV row grows well past MaxRowBytes (a row a little
// longer is a bad row). encoding/csv keeps a row in memory until it ends, and a quote that is
// never closed makes the rest of the file one row.
type rowLimiter struct {
	r        io.Reader
	read     int64 // bytes read from r
	rowStart int64 // where the row being read begins (csv.Reader.InputOffset before it)
	tripped  bool  // the bound was passed: every later read fails too
}

// errRowTooLong: a CSV row longer than MaxRowBytes.
var errRowTooLong = errors.New("row too long")

// MaxRowBytes bounds one CSV row, quoted line breaks included.
const MaxRowBytes = MaxLineBytes

func (l *rowLimiter) Read(p []byte) (int, error) {
	// What is read ahead of the csv.Reader (one buffer, and a byte order mark) is not its row.
	const slack = 64<<10 + 3
	if l.tripped || l.read-l.rowStart > MaxRowBytes+slack {
		// Sticky: encoding/csv reports a quote error it met first instead of this, and bufio
		// forgets a read error once returned; the input must end here all the same.
		l.tripped = true
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}

func newCSVReader(name string, r io.Reader) (*csvReader, []string, error) {
	lim := &rowLimiter{r: r}
	cr := csv.NewReader(newBufReader(lim)) // csv uses this bufio.Reader as it is: it is large enough
	cr.FieldsPerRecord = -1                // checked here, so that the message names both counts
	c := &csvReader{name: name, cr: cr, lim: lim}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return c, nil, nil // an empty file: no rows
	}
	if err != nil {
		return nil, nil, c.inputError(err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	if err := checkHeader(header); err != nil {
		return nil, nil, &InputError{Name: name, Line: 1, Err: err}
	}
	c.header, c.lastLine = header, 1
	return c, header, nil
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
	for {
		r.lim.rowStart = r.cr.InputOffset()
		cells, err := r.cr.Read()
		if r.lim.tripped {
			return row{}, r.inputError(errRowTooLong)
		}
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
				r.lastLine = pe.Line
				return row{line: pe.StartLine, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("csv: column %d: %v", pe.Column, pe.Err)}}, nil
			}
			return row{}, r.inputError(err)
		}
		line, _ := r.cr.FieldPos(0)
		r.lastLine, _ = r.cr.FieldPos(len(cells) - 1)
		if len(cells) == 1 && strings.TrimSpace(cells[0]) == "" {
			// A line of only white space is blank, as in JSON Lines (encoding/csv skips only
			// empty ones): one cell with nothing in it has no type, and cannot be a row.
			continue
		}
		// The cells and their separators: blank lines before the row are not part of it.
		if n := len(cells) - 1; n+cellBytes(cells) > MaxRowBytes {
			return row{line: line, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("longer than %d bytes", MaxRowBytes)}}, nil
		}
		if len(cells) != len(r.header) {
			return row{line: line, err: &provider.FieldError{Field: "row", Problem: fmt.Sprintf("has %d cells, the header has %d", len(cells), len(r.header))}}, nil
		}
		return row{line: line, cells: cells}, nil
	}
}

func cellBytes(cells []string) int {
	n := 0
	for _, c := range cells {
		n += len(c)
	}
	return n
}

// inputError describes a problem that ends the input, at the line where its row began.
func (r *csvReader) inputError(err error) error {
	var pe *csv.ParseError
	switch {
	case errors.Is(err, errRowTooLong):
		return &InputError{Name: r.name, Err: fmt.Errorf("csv: the row after line %d is longer than %d bytes: a quote that is never closed?", r.lastLine, MaxRowBytes)}
	case errors.As(err, &pe) && pe.StartLine != pe.Line:
		return &InputError{Name: r.name, Line: pe.StartLine, Err: fmt.Errorf("csv: a quoted cell of the row that begins here runs on to line %d: column %d there: %w", pe.Line, pe.Column, pe.Err)}
	case errors.As(err, &pe):
		return &InputError{Name: r.name, Line: pe.Line, Err: fmt.Errorf("csv: column %d: %w", pe.Column, pe.Err)}
	}
	return &InputError{Name: r.name, Err: err}
}
