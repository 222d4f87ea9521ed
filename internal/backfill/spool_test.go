package backfill

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestSpoolRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	in := []record{
		{line: 1, task: asynq.NewTask("licence:modify", []byte(`{"orderNumber":1}`)), opts: []asynq.Option{
			asynq.TaskID("licence:modify:1:abc"), asynq.Queue("backfill"), asynq.MaxRetry(11), asynq.Timeout(5 * time.Minute),
			asynq.Retention(24 * time.Hour), asynq.ProcessAt(at)}},
		{line: 99999, task: asynq.NewTaskWithHeaders("x", nil, map[string]string{"k": "v"}), opts: []asynq.Option{
			asynq.ProcessIn(90 * time.Second), asynq.Deadline(at), asynq.Unique(time.Hour), asynq.Group("g"), asynq.MaxRetry(-1)}},
		{line: 3, task: asynq.NewTask("empty", []byte{}), opts: nil, entry: "1732492800000-0", entryTask: "empty:1:x"},
		// The same options as the first record but its own ID: shared options come from the
		// cache, the ID must not.
		{line: 4, task: asynq.NewTask("licence:modify", []byte(`{"orderNumber":2}`)), opts: []asynq.Option{
			asynq.TaskID("licence:modify:2:def"), asynq.Queue("backfill"), asynq.MaxRetry(11), asynq.Timeout(5 * time.Minute),
			asynq.Retention(24 * time.Hour), asynq.ProcessAt(at)}},
	}
	sp, err := newSpool()
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	for _, r := range in {
		b, err := appendRecord(nil, r.line, r.task, r.opts, r.entry, r.entryTask)
		if err != nil {
			t.Fatal(err)
		}
		if err := sp.write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.rewind(); err != nil {
		t.Fatal(err)
	}
	for i, want := range in {
		got, err := sp.next()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got.line != want.line || got.task.Type() != want.task.Type() || !bytes.Equal(got.task.Payload(), want.task.Payload()) {
			t.Errorf("record %d = %d %s %s, want %d %s %s", i, got.line, got.task.Type(), got.task.Payload(), want.line, want.task.Type(), want.task.Payload())
		}
		if g, w := got.task.Headers(), want.task.Headers(); len(g) != len(w) || g["k"] != w["k"] {
			t.Errorf("record %d headers %v, want %v", i, g, w)
		}
		if got.entry != want.entry || got.entryTask != want.entryTask {
			t.Errorf("record %d entry %q of %q, want %q of %q", i, got.entry, got.entryTask, want.entry, want.entryTask)
		}
		if optString(got.opts) != optString(want.opts) {
			t.Errorf("record %d options %s, want %s", i, optString(got.opts), optString(want.opts))
		}
	}
	if _, err := sp.next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last record: %v, want io.EOF", err)
	}
}

type strangeOption struct{}

func (strangeOption) String() string         { return "Strange()" }
func (strangeOption) Type() asynq.OptionType { return asynq.OptionType(99) }
func (strangeOption) Value() interface{}     { return []int{1} }

func TestSpoolRefusesWhatItCannotKeep(t *testing.T) {
	t.Parallel()
	if _, err := appendRecord(nil, 1, asynq.NewTask("t", nil), []asynq.Option{strangeOption{}}, "", ""); err == nil || !strings.Contains(err.Error(), "cannot be spooled") {
		t.Errorf("unknown option: err %v", err)
	}
	b, err := appendRecord(nil, 1, asynq.NewTask("t", []byte("payload")), []asynq.Option{asynq.Queue("q"), asynq.TaskID("t:1")}, "1-1", "t:1")
	if err != nil {
		t.Fatal(err)
	}
	for cut := 1; cut < len(b); cut++ {
		sp := &spool{r: bufio.NewReader(bytes.NewReader(b[:cut])), cache: map[string]asynq.Option{}}
		if _, err := sp.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("record cut at %d of %d: err %v, want io.ErrUnexpectedEOF", cut, len(b), err)
		}
	}
	// A record whose inside is cut short, though its length is whole.
	bad := append([]byte{byte(len(b) - 2)}, b[1:len(b)-1]...)
	sp := &spool{r: bufio.NewReader(bytes.NewReader(bad)), cache: map[string]asynq.Option{}}
	if _, err := sp.next(); err == nil {
		t.Errorf("a corrupt record was read")
	}
	sp = &spool{r: bufio.NewReader(bytes.NewReader(nil)), cache: map[string]asynq.Option{}}
	if _, err := sp.next(); !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("empty spool: %v, want io.EOF", err)
	}
}
