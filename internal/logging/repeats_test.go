package logging

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/syncbuf"
)

// eventually fails the test unless f holds within a few seconds (a bound for a hang, not a
// measure of speed).
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !f(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 5s", what)
		}
	}
}

func TestRepeatsHoldsBackAndReportsTheCount(t *testing.T) {
	t.Parallel()
	const window = 100 * time.Millisecond
	r := newRepeats(window, time.Now)
	var mu sync.Mutex
	var flushed []int
	flush := func(held int) { mu.Lock(); flushed = append(flushed, held); mu.Unlock() }
	got := func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), flushed...) }

	const down = "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused"
	if !r.admit(down, flush) {
		t.Fatal("the first message was held back")
	}
	for range 3 {
		if r.admit(down, flush) {
			t.Fatal("a repeat within the window was logged")
		}
	}
	if !r.admit("Dequeue error: dial tcp 127.0.0.1:6380: connect: connection refused", flush) {
		t.Error("a message differing in its digits was held back: it is not the same message")
	}
	for range 2 {
		if !r.admit(`sentinel: new master="m" addr="10.0.0.2:6379"`, flush) {
			t.Error("a sentinel message was held back: each one is news")
		}
	}
	// The window ends: its count is logged, even if the message never comes again.
	eventually(t, "the count held back", func() bool { return len(got()) == 1 })
	if g := got(); g[0] != 3 {
		t.Errorf("flushed %v, want [3]", g)
	}
	// Still failing: held back again, and counted in the next window.
	if r.admit(down, flush) {
		t.Error("a repeat right after a flush was logged")
	}
	eventually(t, "the second count", func() bool { return len(got()) == 2 })
	if g := got(); g[1] != 1 {
		t.Errorf("flushed %v, want [3 1]", g)
	}
	// Quiet for longer than a window: the next one is news again.
	time.Sleep(2 * window)
	if !r.admit(down, flush) {
		t.Error("the first message after a quiet window was held back")
	}

	var none *repeats
	if !none.admit("x", flush) {
		t.Error("a nil *repeats holds messages back")
	}
}

func TestAsynqLoggerHoldsBackRepeatedErrorsOnly(t *testing.T) {
	t.Parallel()
	var buf syncbuf.Buffer
	a := Asynq{L: zerolog.New(&buf), repeats: newRepeats(time.Second, time.Now)} // ten writes fit in a second on any machine
	for range 5 {
		a.Error("Dequeue error: ", "connection refused")
		a.Info("Starting processing")
	}
	type line struct {
		Level    string `json:"level"`
		HeldBack int    `json:"heldBack"`
	}
	lines := func() []line {
		var out []line
		for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var l line
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		return out
	}
	// One error, five infos (never held back), then, when the window ends, the error again
	// with the four held back.
	eventually(t, "the held-back line", func() bool { return len(lines()) == 7 })
	var levels []string
	for _, l := range lines() {
		levels = append(levels, l.Level)
	}
	if got := strings.Join(levels, ","); got != "error,info,info,info,info,info,error" || lines()[6].HeldBack != 4 {
		t.Errorf("levels %s, last line %+v", got, lines()[6])
	}
}

// Flush logs what is held back at once, as the process ends, and only once.
func TestRepeatsFlushAtExit(t *testing.T) {
	t.Parallel()
	r := newRepeats(time.Hour, time.Now)
	var mu sync.Mutex
	var flushed []int
	flush := func(held int) { mu.Lock(); flushed = append(flushed, held); mu.Unlock() }
	r.admit("Dequeue error", flush)
	r.admit("Dequeue error", flush)
	r.admit("Dequeue error", flush)
	r.admit("other", flush) // logged, nothing held
	r.Flush()
	r.Flush()
	mu.Lock()
	defer mu.Unlock()
	if len(flushed) != 1 || flushed[0] != 2 {
		t.Errorf("flushed %v, want [2]", flushed)
	}
}

// Past maxRepeatKeys messages, those with nothing pending are forgotten, but a count that waits
// for its timer is still logged by Flush.
func TestRepeatsKeepsPendingCountsPastTheBound(t *testing.T) {
	t.Parallel()
	r := newRepeats(time.Hour, time.Now)
	var mu sync.Mutex
	var flushed []int
	flush := func(held int) { mu.Lock(); flushed = append(flushed, held); mu.Unlock() }
	r.admit("Dequeue error", flush)
	r.admit("Dequeue error", flush) // held: its count waits
	for i := range maxRepeatKeys + 10 {
		r.admit(fmt.Sprint("message ", i), flush)
	}
	r.Flush()
	mu.Lock()
	defer mu.Unlock()
	if len(flushed) != 1 || flushed[0] != 1 {
		t.Errorf("flushed %v, want [1]: the held count was forgotten", flushed)
	}
}
