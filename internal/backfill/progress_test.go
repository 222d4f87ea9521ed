package backfill

import (
	"strings"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/internal/syncbuf"
)

// waitFor polls until the buffer holds want; progress runs on its own clock.
func waitFor(t *testing.T, b *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("never wrote %q; wrote %q", want, b.String())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProgressPlainLines(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	p := newProgress(&out, false, time.Millisecond)
	p.start(func(terminal bool) string {
		if terminal {
			return "BAR"
		}
		return "status"
	})
	waitFor(t, &out, "status\n")
	p.println("rows.csv:3: a: bad")
	p.stop()
	s := out.String()
	if strings.Contains(s, "\r") || strings.Contains(s, "BAR") || !strings.Contains(s, "rows.csv:3: a: bad\n") {
		t.Errorf("plain output %q", s)
	}
}

func TestProgressQuietWhenDoneBeforeFirstTick(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	p := newProgress(&out, false, time.Hour)
	p.start(func(bool) string { return "status" })
	p.println("line")
	p.stop()
	if got := out.String(); got != "line\n" {
		t.Errorf("output %q, want only the line", got)
	}
}

func TestProgressBar(t *testing.T) {
	t.Parallel()
	var out syncbuf.Buffer
	p := newProgress(&out, true, time.Hour) // a terminal redraws every barInterval whatever the interval
	p.start(func(terminal bool) string {
		if !terminal {
			return "PLAIN"
		}
		return "BAR"
	})
	waitFor(t, &out, "\rBAR\x1b[K")
	p.println("rows.csv:3: a: bad")
	p.stop()
	s := out.String()
	if !strings.Contains(s, "\r\x1b[Krows.csv:3: a: bad\n") {
		t.Errorf("the bar was not cleared before a report: %q", s)
	}
	if strings.Contains(s, "PLAIN") || strings.HasSuffix(s, "BAR\x1b[K") {
		t.Errorf("bar output %q: plain lines, or the bar left on screen", s)
	}
}

func TestStatusLines(t *testing.T) {
	t.Parallel()
	known := &Input{name: "rows.jsonl", size: 2_000_000}
	unknown := &Input{name: StdinName, size: -1}
	tests := []struct {
		name, got, want string
	}{
		{"validate plain", validateStatus(known, 500_000, 1200, 3, false), "validating rows.jsonl: line 1200 (25% of 2.0 MB), 3 invalid rows so far"},
		{"validate bar", validateStatus(known, 500_000, 1200, 3, true), "validating [======>                 ]  25%  line 1200  3 invalid"},
		{"validate stdin", validateStatus(unknown, 1_500_000, 9, 0, false), "validating stdin: line 9 (1.5 MB read), 0 invalid rows so far"},
		{"enqueue plain", enqueueStatus("rows.jsonl", 250, 1000, 5*time.Second, 240, 8, 2, false),
			"enqueueing rows.jsonl: 250 of 1000 rows (25%), 50 rows/s, ETA 15s; enqueued=240 duplicate=8 failed=2"},
		{"enqueue bar", enqueueStatus("rows.jsonl", 1000, 1000, 2*time.Second, 1000, 0, 0, true),
			"enqueueing [========================] 100%  1000/1000  500 rows/s  ETA -"},
		{"enqueue nothing yet", enqueueStatus("x", 0, 10, 0, 0, 0, 0, false),
			"enqueueing x: 0 of 10 rows (0%), 0 rows/s, ETA -; enqueued=0 duplicate=0 failed=0"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
}
