package backfill

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/hibiken/asynq"
)

// spool holds the tasks the validation pass built, in line order, for the enqueue pass: in a
// temporary file, so that memory stays flat whatever the input's size, and so that what is
// enqueued is exactly what was validated, built once. The file is unlinked as soon as it is
// created (where the system allows), so that nothing is left behind even if the process is
// killed. Reading is not safe for concurrent use.
type spool struct {
	f    *os.File
	path string // "" once unlinked
	w    *bufio.Writer
	r    *bufio.Reader

	buf   []byte                  // the record being read
	typ   string                  // the last task type read, shared by the records that have it
	cache map[string]asynq.Option // options by their encoding: every row has the same queue, retry budget...
}

// maxCachedOptions bounds the option cache; the options that vary by row are not cached.
const maxCachedOptions = 64

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "enqueue-backfill-*.spool")
	if err != nil {
		return nil, fmt.Errorf("%w: cannot create a temporary file for the built tasks in %s (set TMPDIR to a writable directory): %w", ErrTempDir, os.TempDir(), err)
	}
	s := &spool{f: f, path: f.Name(), w: bufio.NewWriterSize(f, 256<<10), cache: map[string]asynq.Option{}}
	if os.Remove(s.path) == nil {
		s.path = ""
	}
	return s, nil
}

// write appends encoded records (see appendRecord).
func (s *spool) write(records []byte) error {
	if _, err := s.w.Write(records); err != nil {
		return fmt.Errorf("write the built tasks to a temporary file: %w", err)
	}
	return nil
}

// rewind ends writing and starts reading from the first record.
func (s *spool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write the built tasks to a temporary file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the built tasks back: %w", err)
	}
	s.r = bufio.NewReaderSize(s.f, 256<<10)
	return nil
}

// close removes the file.
func (s *spool) close() error {
	err := s.f.Close()
	if s.path != "" {
		err = errors.Join(err, os.Remove(s.path))
	}
	return err
}

// record is one built task and where its row is.
type record struct {
	line      int
	task      *asynq.Task
	opts      []asynq.Option
	entry     string // the dead letter the row was exported from (entryId), or ""
	entryTask string // and its task (taskId)
}

// id is the record's task ID.
func (r record) id() string { return taskID(r.opts) }

// next reads the next record; io.EOF after the last.
func (s *spool) next() (record, error) {
	n, err := binary.ReadUvarint(s.r)
	if errors.Is(err, io.EOF) {
		return record{}, io.EOF
	}
	if err == nil && n > 4*MaxLineBytes {
		err = fmt.Errorf("corrupt record: %d bytes", n)
	}
	if err == nil {
		s.buf = slices.Grow(s.buf[:0], int(n))[:n]
		_, err = io.ReadFull(s.r, s.buf)
	}
	var rec record
	if err == nil {
		rec, err = s.decode(s.buf)
	}
	if err != nil {
		return record{}, fmt.Errorf("read the built tasks back: %w", unexpected(err))
	}
	return rec, nil
}

// A record is its length, then: line, type, payload, headers (count, then key and value),
// options (count, then each option's type and value), the dead letter's entry ID and task ID.
// Integers are varints; strings and bytes are length-prefixed.

// appendRecord encodes a built task. It fails on an asynq option it does not know, so that a
// newer asynq can never have an option dropped on the way to Redis.
func appendRecord(b []byte, line int, task *asynq.Task, opts []asynq.Option, entry, entryTask string) ([]byte, error) {
	var body [1024]byte
	rec := binary.AppendUvarint(body[:0], uint64(line))
	rec = appendBytes(rec, []byte(task.Type()))
	rec = appendBytes(rec, task.Payload())
	h := task.Headers()
	rec = binary.AppendUvarint(rec, uint64(len(h)))
	for k, v := range h {
		rec = appendBytes(rec, []byte(k))
		rec = appendBytes(rec, []byte(v))
	}
	rec = binary.AppendUvarint(rec, uint64(len(opts)))
	for _, o := range opts {
		rec = append(rec, byte(o.Type()))
		switch v := o.Value().(type) {
		case int:
			rec = binary.AppendVarint(rec, int64(v))
		case string:
			rec = appendBytes(rec, []byte(v))
		case time.Duration:
			rec = binary.AppendVarint(rec, int64(v))
		case time.Time:
			rec = binary.AppendVarint(rec, v.Unix())
			rec = binary.AppendUvarint(rec, uint64(v.Nanosecond()))
		default:
			return nil, fmt.Errorf("backfill: asynq option %v (%T) cannot be spooled", o, v)
		}
	}
	rec = appendBytes(rec, []byte(entry))
	rec = appendBytes(rec, []byte(entryTask))
	b = binary.AppendUvarint(b, uint64(len(rec)))
	return append(b, rec...), nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder state over one record's bytes.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) uvarint() uint64 {
	v, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.fail()
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *cursor) varint() int64 {
	v, n := binary.Varint(c.b)
	if n <= 0 {
		c.fail()
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *cursor) bytes() []byte {
	n := c.uvarint()
	if c.err != nil || n > uint64(len(c.b)) {
		c.fail()
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (c *cursor) fail() {
	if c.err == nil {
		c.err = io.ErrUnexpectedEOF
	}
	c.b = nil
}

// decode turns a record's bytes into a task. Only the payload and the values that differ from
// row to row are allocated.
func (s *spool) decode(b []byte) (record, error) {
	c := &cursor{b: b}
	line := c.uvarint()
	if typ := c.bytes(); string(typ) != s.typ {
		s.typ = string(typ)
	}
	payload := slices.Clone(c.bytes())
	var headers map[string]string
	for range c.uvarint() {
		if c.err != nil {
			break
		}
		if headers == nil {
			headers = map[string]string{}
		}
		k, v := c.bytes(), c.bytes()
		headers[string(k)] = string(v)
	}
	n := c.uvarint()
	if n > 64 {
		c.fail()
	}
	opts := make([]asynq.Option, 0, n)
	for range n {
		if c.err != nil {
			break
		}
		o, err := s.option(c)
		if err != nil {
			return record{}, err
		}
		opts = append(opts, o)
	}
	var entry, entryTask string
	if e := c.bytes(); len(e) > 0 {
		entry = string(e)
	}
	if e := c.bytes(); len(e) > 0 {
		entryTask = string(e)
	}
	if c.err == nil && len(c.b) != 0 {
		c.err = fmt.Errorf("corrupt record: %d bytes left over", len(c.b))
	}
	if c.err != nil {
		return record{}, c.err
	}
	task := asynq.NewTask(s.typ, payload)
	if headers != nil {
		task = asynq.NewTaskWithHeaders(s.typ, payload, headers)
	}
	return record{line: int(line), task: task, opts: opts, entry: entry, entryTask: entryTask}, nil
}

// option decodes one option, reusing an equal one decoded before.
func (s *spool) option(c *cursor) (asynq.Option, error) {
	start := c.b
	if len(c.b) == 0 {
		c.fail()
		return nil, c.err
	}
	typ := asynq.OptionType(c.b[0])
	c.b = c.b[1:]
	var str []byte
	var num int64
	var at time.Time
	switch typ {
	case asynq.QueueOpt, asynq.TaskIDOpt, asynq.GroupOpt:
		str = c.bytes()
	case asynq.DeadlineOpt, asynq.ProcessAtOpt:
		sec := c.varint()
		at = time.Unix(sec, int64(c.uvarint()))
	case asynq.MaxRetryOpt, asynq.TimeoutOpt, asynq.UniqueOpt, asynq.ProcessInOpt, asynq.RetentionOpt:
		num = c.varint()
	default:
		return nil, fmt.Errorf("unknown asynq option type %d", typ)
	}
	if c.err != nil {
		return nil, c.err
	}
	raw := start[:len(start)-len(c.b)]
	if o, ok := s.cache[string(raw)]; ok {
		return o, nil
	}
	var o asynq.Option
	switch typ {
	case asynq.QueueOpt:
		o = asynq.Queue(string(str))
	case asynq.TaskIDOpt:
		return asynq.TaskID(string(str)), nil // one a task: not worth caching
	case asynq.GroupOpt:
		o = asynq.Group(string(str))
	case asynq.DeadlineOpt:
		o = asynq.Deadline(at)
	case asynq.ProcessAtOpt:
		o = asynq.ProcessAt(at)
	case asynq.MaxRetryOpt:
		o = asynq.MaxRetry(int(num))
	case asynq.TimeoutOpt:
		o = asynq.Timeout(time.Duration(num))
	case asynq.UniqueOpt:
		o = asynq.Unique(time.Duration(num))
	case asynq.ProcessInOpt:
		o = asynq.ProcessIn(time.Duration(num))
	case asynq.RetentionOpt:
		o = asynq.Retention(time.Duration(num))
	}
	if len(s.cache) < maxCachedOptions {
		s.cache[string(raw)] = o
	}
	return o, nil
}

// unexpected turns an end of file inside a record into an error of its own.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
