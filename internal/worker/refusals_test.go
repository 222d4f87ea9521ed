package worker_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/provider/providertest"
)

// TestRefusedLoginStopsCalling: a login the provider refuses (-16) again and again, as after a
// password changed at the provider only, is not tried by every queued task in turn (the
// provider may lock the account): after five refusals in a row the worker dead-letters the
// login's tasks without a call, each saying why, until its hold ends; then one task tries the
// login, and once the provider takes it calls go ahead.
func TestRefusedLoginStopsCalling(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var refuse atomic.Bool
	refuse.Store(true)
	e.fake.SetHook(func(c providertest.Call) *providertest.Answer {
		if refuse.Load() {
			return &providertest.Answer{Code: providertest.CodePermissionDenied}
		}
		return nil
	})
	const hold = 700 * time.Millisecond
	e.start(setup{concurrency: 1, refusedHold: hold})

	var ids []string
	for i := range 9 {
		id, q := e.enqueue(licence(int64(7100+i), 700))
		e.waitState(q, id, 10*time.Second, asynq.TaskStateArchived)
		ids = append(ids, id)
	}
	if n := e.fake.CallCount(); n != 5 {
		t.Errorf("%d calls for 9 tasks of a refused login, want 5: then the worker stops calling", n)
	}
	recs := e.deadLetters()
	if len(recs) != 9 {
		t.Fatalf("%d dead letters, want 9", len(recs))
	}
	for i, r := range recs {
		if deadletter.CodeText(r.ErrorCode) != "-16" || r.Reason != deadletter.ReasonPermanent {
			t.Errorf("dead letter %d: code %s, reason %s; want -16, permanent", i, deadletter.CodeText(r.ErrorCode), r.Reason)
		}
		notCalled := strings.HasPrefix(r.ErrorMessage, "not called: ")
		if called := i < 5; called == notCalled || (notCalled && (r.Attempts != 0 || !strings.Contains(r.ErrorMessage, "dead replay --code -16"))) {
			t.Errorf("dead letter %d (attempts %d): %q", i, r.Attempts, r.ErrorMessage)
		}
	}
	if !strings.Contains(e.logs.String(), `"refusedInARow":5`) {
		t.Errorf("no log line says the calls are held:\n%s", e.logs.String())
	}

	// The password is fixed at the provider's end: once the hold is over, one task tries the
	// login, and the others follow.
	refuse.Store(false)
	time.Sleep(hold)
	before := e.fake.CallCount()
	for i := range 3 {
		id, q := e.enqueue(licence(int64(7200+i), 700))
		e.waitState(q, id, 10*time.Second, asynq.TaskStateCompleted)
	}
	if n := e.fake.CallCount() - before; n != 3 {
		t.Errorf("%d calls for 3 tasks after the hold, want 3", n)
	}
}
