package backfill

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// barInterval is how often the bar is redrawn on a terminal.
const barInterval = 200 * time.Millisecond

// barWidth is the bar's width in characters; the whole line stays within 80 columns.
const barWidth = 24

// progress writes a run's progress to stderr: on a terminal one line redrawn in place, else a
// plain line every interval (none when a phase ends before the first). Reports of bad rows go
// through println, so that they never land in the middle of the bar.
type progress struct {
	w        io.Writer
	terminal bool
	interval time.Duration

	mu     sync.Mutex
	render func(terminal bool) string
	drawn  bool // the bar is on screen
	stopc  chan struct{}
	done   chan struct{}
}

func newProgress(w io.Writer, terminal bool, interval time.Duration) *progress {
	if terminal {
		interval = min(interval, barInterval)
	}
	return &progress{w: w, terminal: terminal, interval: interval}
}

// start shows render's status every interval until stop.
func (p *progress) start(render func(terminal bool) string) {
	p.mu.Lock()
	p.render, p.stopc, p.done = render, make(chan struct{}), make(chan struct{})
	p.mu.Unlock()
	go func(stopc, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-stopc:
				return
			case <-t.C:
				p.tick()
			}
		}
	}(p.stopc, p.done)
}

func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.render(p.terminal)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// stop ends the phase and takes the bar off the screen.
func (p *progress) stop() {
	close(p.stopc)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// println writes a line of its own, taking the bar away first; the next tick redraws it.
func (p *progress) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintln(p.w, s)
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// validateStatus describes the validation pass; the percentage only when the size is known.
func validateStatus(in *Input, read int64, line, invalid int, terminal bool) string {
	if in.Size() < 0 {
		if terminal {
			return fmt.Sprintf("validating  line %d  %s read  %d invalid", line, megabytes(read), invalid)
		}
		return fmt.Sprintf("validating %s: line %d (%s read), %d invalid rows so far", in.Name(), line, megabytes(read), invalid)
	}
	pct := percent(read, in.Size())
	if terminal {
		return fmt.Sprintf("validating %s %3d%%  line %d  %d invalid", bar(pct), pct, line, invalid)
	}
	return fmt.Sprintf("validating %s: line %d (%d%% of %s), %d invalid rows so far", in.Name(), line, pct, megabytes(in.Size()), invalid)
}

// enqueueStatus describes the enqueue pass.
func enqueueStatus(name string, done, total int64, elapsed time.Duration, enq, dup, failed int64, terminal bool) string {
	pct := percent(done, total)
	perSecond := 0.0
	if s := elapsed.Seconds(); s > 0 {
		perSecond = float64(done) / s
	}
	eta := "ETA -"
	if perSecond > 0 && total > done {
		eta = "ETA " + time.Duration(float64(total-done)/perSecond*float64(time.Second)).Round(time.Second).String()
	}
	if terminal {
		return fmt.Sprintf("enqueueing %s %3d%%  %d/%d  %.0f rows/s  %s", bar(pct), pct, done, total, perSecond, eta)
	}
	return fmt.Sprintf("enqueueing %s: %d of %d rows (%d%%), %.0f rows/s, %s; enqueued=%d duplicate=%d failed=%d",
		name, done, total, pct, perSecond, eta, enq, dup, failed)
}

func percent(n, of int64) int {
	if of <= 0 {
		return 0
	}
	return int(min(100, n*100/of))
}

func bar(pct int) string {
	full := pct * barWidth / 100
	if full >= barWidth {
		return "[" + strings.Repeat("=", barWidth) + "]"
	}
	return "[" + strings.Repeat("=", full) + ">" + strings.Repeat(" ", barWidth-full-1) + "]"
}

func megabytes(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
