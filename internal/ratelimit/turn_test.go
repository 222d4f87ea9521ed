package ratelimit

import (
	"errors"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/internal/redistest"
)

// turnOf runs f.Turn and returns how long the task was sent back for (0: it may call now).
func turnOf(t *testing.T, f *Fleet, account, task string, inPlace time.Duration) time.Duration {
	t.Helper()
	slept, err := f.Turn(t.Context(), account, task, inPlace, inPlace)
	var held *HeldBack
	switch {
	case errors.As(err, &held):
		if !held.Turn {
			t.Fatalf("%s: held back without a turn: %+v", task, held)
		}
		return held.After
	case err != nil:
		t.Fatalf("%s: %v", task, err)
	case slept != 0:
		t.Fatalf("%s: slept %s, want a turn within a step (no sleep)", task, slept)
	}
	return 0
}

func TestTurnsQueueTheTasksOfALogin(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	clk := &clock{t: time.Now()}
	f := New(r.Client, time.Minute, 1) // one call a second: a turn every 1000ms
	f.now = clk.now
	const inPlace = 1500 * time.Millisecond

	// At one instant: t1's turn is now, t2's in 1s (it wakes a step early: no sleep), t3's
	// and t4's are further off than the wait in place: back to the queue until the wait in
	// place before them.
	want := map[string]time.Duration{"t1": 0, "t2": 0, "t3": 2000*time.Millisecond - inPlace, "t4": 3000*time.Millisecond - inPlace}
	for _, task := range []string{"t1", "t2", "t3", "t4"} {
		if got := turnOf(t, f, "eu", task, inPlace); got != want[task] {
			t.Errorf("%s sent back for %s, want %s", task, got, want[task])
		}
	}
	// Another login has turns of its own.
	if got := turnOf(t, f, "us", "u1", inPlace); got != 0 {
		t.Errorf("first task of another login sent back for %s", got)
	}

	clk.add(1250 * time.Millisecond)
	// t3 comes back when it was told: its turn is 750ms away, within the wait in place.
	if got := turnOf(t, f, "eu", "t3", inPlace); got != 0 {
		t.Errorf("t3 back on time sent back again for %s", got)
	}
	// t4 comes back early (a worker picked it up before its time): it keeps its turn.
	if got, want := turnOf(t, f, "eu", "t4", inPlace), 1750*time.Millisecond-inPlace; got != want {
		t.Errorf("t4 back early sent back for %s, want %s", got, want)
	}
	// A new task queues behind t4, not in front of it.
	if got, want := turnOf(t, f, "eu", "t5", inPlace), 2750*time.Millisecond-inPlace; got != want {
		t.Errorf("t5 sent back for %s, want %s (behind t4)", got, want)
	}
	// t3 took up its turn: coming back again gives it a new one, after t5's.
	if got, want := turnOf(t, f, "eu", "t3", inPlace), 3750*time.Millisecond-inPlace; got != want {
		t.Errorf("t3 again sent back for %s, want %s (a new turn)", got, want)
	}

	clk.add(time.Second)
	if got := turnOf(t, f, "eu", "t4", inPlace); got != 0 {
		t.Errorf("t4 back on time sent back for %s", got)
	}
}

func TestTurnsOfTasksThatNeverComeBackLapse(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	clk := &clock{t: time.Now()}
	f := New(r.Client, time.Minute, 1)
	f.now = clk.now
	const inPlace = time.Second
	// 100 tasks take turns 0..99s from now, and are deleted from their queue: none comes back.
	for i := range 100 {
		turnOf(t, f, "eu", "gone-"+string(rune('A'+i/26))+string(rune('a'+i%26)), inPlace)
	}
	if got := turnOf(t, f, "eu", "fresh", inPlace); got < 90*time.Second {
		t.Fatalf("a task behind 100 parked turns sent back for %s only", got)
	}
	// Once the last parked turn is TurnGrace past, nothing holds a new task back.
	clk.add(100*time.Second + TurnGrace + time.Second)
	if got := turnOf(t, f, "eu", "new", inPlace); got != 0 {
		t.Errorf("a task after every parked turn lapsed sent back for %s", got)
	}
	if n, err := r.Client.ZCard(t.Context(), turnsPrefix+"eu").Result(); err != nil || n != 0 {
		t.Errorf("lapsed turns left parked: %d, %v", n, err)
	}
	// A task as late as that has lost its turn: it takes a new one.
	if got := turnOf(t, f, "eu", "fresh", inPlace); got != 0 {
		t.Errorf("a task back after its turn lapsed sent back for %s, want a new turn (the next free)", got)
	}
	if got := turnOf(t, f, "eu", "after", inPlace); got != 2*time.Second-inPlace {
		t.Errorf("the next task sent back for %s, want %s", got, 2*time.Second-inPlace)
	}
}

func TestTurnsOfDeletedTasksHoldNoOneBack(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	clk := &clock{t: time.Now()}
	f := New(r.Client, time.Minute, 1)
	f.now = clk.now
	const inPlace = 1500 * time.Millisecond
	// Five tasks take turns 0..4s: t3, t4 and t5 are parked, and then deleted from their
	// queue (from the UI, say), which leaves the login's next free turn 5s off.
	for _, task := range []string{"t1", "t2", "t3", "t4", "t5"} {
		turnOf(t, f, "eu", task, inPlace)
	}
	if _, err := r.Client.ZRem(t.Context(), turnsPrefix+"eu", "t3", "t4", "t5").Result(); err != nil {
		t.Fatal(err)
	}
	// With no turn parked, a new task waits no longer than the wait in place and a step.
	clk.add(time.Second)
	if got, want := turnOf(t, f, "eu", "new", inPlace), inPlace+time.Second-inPlace; got != want {
		t.Errorf("with no turn parked a new task sent back for %s, want %s", got, want)
	}
}

func TestTurnWithoutRateIsFree(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 0)
	for i := range 10 {
		if slept, err := f.Turn(t.Context(), "eu", "t"+string(rune('0'+i)), 0, 0); err != nil || slept != 0 {
			t.Fatalf("rate off: slept %s, %v", slept, err)
		}
	}
	if n, err := r.Client.DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Errorf("rate off wrote %d keys, %v", n, err)
	}
}

func TestTurnSleepsUntilAStepBeforeIt(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	f := New(r.Client, time.Minute, 10) // a turn every 100ms
	var total time.Duration
	for i := range 5 {
		slept, err := f.Turn(t.Context(), "eu", "t"+string(rune('0'+i)), time.Second, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		total += slept
	}
	// Turns at 0, 100, ..., 400ms, each woken a step early: the last three sleep 100ms each
	// (less the time the calls took).
	if total < 250*time.Millisecond || total > 400*time.Millisecond {
		t.Errorf("five turns slept %s in all, want about 300ms", total)
	}
}
