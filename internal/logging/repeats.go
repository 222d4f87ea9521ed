package logging

import (
	"strings"
	"sync"
	"time"
)

// RepeatWindow is how long a warning or error that asynq or go-redis repeats is held back
// after it was logged: while Redis is away they fail at every poll, several times a second.
const RepeatWindow = 30 * time.Second

// maxRepeatKeys bounds the messages remembered; past it those with no count pending are forgotten.
const maxRepeatKeys = 256

// repeats decides which of a stream of messages to log: a message the first time, then, while
// it keeps coming, one line a window that says how many were held back (flushed when the
// window ends, so that the count of the last window of an outage is not lost). Messages are
// the same when their text is; some are never held back (neverHeld). A nil *repeats logs
// everything.
type repeats struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	logged time.Time
	held   int
	flush  func(held int) // logs the count held back; set while a timer is pending
	timer  *time.Timer
}

func newRepeats(window time.Duration, now func() time.Time) *repeats {
	return &repeats{window: window, now: now, seen: map[string]*repeat{}}
}

// neverHeld are messages that say what changed, not that something still fails: each is news.
func neverHeld(msg string) bool {
	return strings.HasPrefix(msg, "sentinel:")
}

// admit reports whether msg is to be logged now. When it is held back instead, flush will be
// called, once, at the end of the window with how many were held back in it.
func (r *repeats) admit(msg string, flush func(held int)) bool {
	if r == nil || neverHeld(msg) {
		return true
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.seen[msg]
	if e == nil || now.Sub(e.logged) >= r.window && e.flush == nil {
		if e == nil && len(r.seen) >= maxRepeatKeys {
			// Forget what has nothing pending; an entry whose count waits for its timer stays,
			// so that Flush still finds it at exit.
			for k, old := range r.seen {
				if old.timer == nil {
					delete(r.seen, k)
				}
			}
		}
		r.seen[msg] = &repeat{logged: now}
		return true
	}
	e.held++
	if e.flush == nil {
		e.flush = flush
		e.timer = time.AfterFunc(e.logged.Add(r.window).Sub(now), func() { r.flushOne(e) })
	}
	return false
}

// flushOne logs the count held back in e's window, which starts a new window.
func (r *repeats) flushOne(e *repeat) {
	r.mu.Lock()
	held, flush := e.held, e.flush
	e.held, e.flush, e.timer, e.logged = 0, nil, nil, r.now()
	r.mu.Unlock()
	if flush != nil && held > 0 {
		flush(held)
	}
}

// Flush logs every count held back now, without waiting for the windows to end: the process
// is about to exit. Safe on a nil *repeats.
func (r *repeats) Flush() {
	if r == nil {
		return
	}
	r.mu.Lock()
	var pending []*repeat
	for _, e := range r.seen {
		if e.timer != nil && e.timer.Stop() {
			pending = append(pending, e)
		}
	}
	r.mu.Unlock()
	for _, e := range pending {
		r.flushOne(e)
	}
}
