package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestRepeatsHoldsBackLikeMessages(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRepeats(30*time.Second, func() time.Time { return now })
	type step struct {
		after time.Duration
		msg   string
		ok    bool
		held  int
	}
	steps := []step{
		{0, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", true, 0},
		{time.Second, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", false, 0},
		{time.Second, "Dequeue error: dial tcp 127.0.0.1:6380: connect: connection refused", false, 0}, // digits only differ
		{0, "Failed to forward scheduled tasks: connection refused", true, 0},                          // another kind
		{30 * time.Second, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", true, 2},
		{time.Second, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", false, 0},
		{40 * time.Second, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", true, 1},
		{40 * time.Second, "Dequeue error: dial tcp 127.0.0.1:6379: connect: connection refused", true, 0},
	}
	for i, s := range steps {
		now = now.Add(s.after)
		if ok, held := r.admit(s.msg); ok != s.ok || held != s.held {
			t.Errorf("step %d (%q): admit = %v, %d; want %v, %d", i, s.msg, ok, held, s.ok, s.held)
		}
	}
	var none *repeats
	if ok, _ := none.admit("x"); !ok {
		t.Error("a nil *repeats holds messages back")
	}
}

func TestAsynqLoggerHoldsBackRepeatedErrorsOnly(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Now()
	a := Asynq{L: zerolog.New(&buf), repeats: newRepeats(time.Minute, func() time.Time { return now })}
	for range 5 {
		a.Error("Dequeue error: ", "connection refused")
		a.Info("Starting processing")
	}
	now = now.Add(time.Minute)
	a.Error("Dequeue error: ", "connection refused")
	var levels []string
	var heldBack []int
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e struct {
			Level    string `json:"level"`
			HeldBack int    `json:"heldBack"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		levels = append(levels, e.Level)
		heldBack = append(heldBack, e.HeldBack)
	}
	// One error, five infos (never held back), then the error again with the four held back.
	if got := strings.Join(levels, ","); got != "error,info,info,info,info,info,error" || heldBack[6] != 4 {
		t.Errorf("levels %s, heldBack %v", got, heldBack)
	}
}
