package logging

import (
	"sync"
	"time"
)

// RepeatWindow is how long a warning or error that asynq or go-redis repeats is held back
// after it was logged: while Redis is away they fail at every poll, several times a second.
const RepeatWindow = 30 * time.Second

// maxRepeatKeys bounds the messages remembered; past it the memory starts afresh.
const maxRepeatKeys = 256

// repeats decides which of a stream of messages to log: the first of a kind, then at most one
// a window, which says how many like it were held back meanwhile. Messages are of a kind when
// they differ only in their digits (addresses, counts, IDs). The zero value is not usable; a
// nil *repeats logs everything.
type repeats struct {
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[string]*repeat
}

type repeat struct {
	logged time.Time
	held   int
}

func newRepeats(window time.Duration, now func() time.Time) *repeats {
	return &repeats{window: window, now: now, seen: map[string]*repeat{}}
}

// admit reports whether msg is to be logged now and, if so, how many like it were held back
// since the last one was.
func (r *repeats) admit(msg string) (ok bool, held int) {
	if r == nil {
		return true, 0
	}
	key := kind(msg)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.seen[key]
	if e == nil {
		if len(r.seen) >= maxRepeatKeys {
			clear(r.seen)
		}
		r.seen[key] = &repeat{logged: now}
		return true, 0
	}
	if now.Sub(e.logged) < r.window {
		e.held++
		return false, 0
	}
	held, e.held, e.logged = e.held, 0, now
	return true, held
}

// kind is msg with every run of digits replaced by one '#'.
func kind(msg string) string {
	b := make([]byte, 0, len(msg))
	digits := false
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= '0' && c <= '9' {
			if !digits {
				b = append(b, '#')
			}
			digits = true
			continue
		}
		digits = false
		b = append(b, c)
	}
	return string(b)
}
