package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/logging"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// Config is what the handlers need.
type Config struct {
	Client   *provider.Client
	Accounts map[string]provider.Credentials // alias → login
	Fleet    *ratelimit.Fleet
	Logger   zerolog.Logger
	Observer Observer // optional

	// RateLimitMaxWait: a task that cooldowns have held for longer than this, added up, is
	// dead-lettered.
	RateLimitMaxWait time.Duration
	// RateWaitInPlace: a PROVIDER_RATE wait up to this long (and up to half the time the
	// task's deadline leaves) is slept in the handler; a longer one reschedules the task.
	RateWaitInPlace time.Duration
}

// Handlers executes tasks. Build it with New; it is safe for concurrent use.
type Handlers struct {
	cfg Config
	obs Observer

	limiterTroubleLogged atomic.Int64 // when (unix ns) a refusal of the limiter's keys was last logged
}

// New checks cfg and returns the handlers.
func New(cfg Config) (*Handlers, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("handler: no provider client")
	case cfg.Fleet == nil:
		return nil, errors.New("handler: no fleet limiter")
	case cfg.RateLimitMaxWait <= 0:
		return nil, errors.New("handler: RateLimitMaxWait must be positive")
	}
	if cfg.RateWaitInPlace <= 0 {
		cfg.RateWaitInPlace = 2 * time.Second
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &Handlers{cfg: cfg, obs: obs}, nil
}

// Register adds a handler for each task type to mux.
func (h *Handlers) Register(mux *asynq.ServeMux) {
	mux.Handle(tasks.TypeOVCallbackUpdate, h.Callback())
	mux.Handle(tasks.TypeLicenceModify, h.Licence())
}

// Callback handles tasks.TypeOVCallbackUpdate.
func (h *Handlers) Callback() asynq.Handler {
	return decoded(tasks.DecodeOVCallback, func(ctx context.Context, t *asynq.Task, p tasks.OVCallbackPayload) error {
		c := call{
			endpoint: provider.EndpointUpdateUserOvCallback,
			account:  p.Account,
			order:    p.OrderNumber,
			personal: logging.Personal{Phones: []string{p.PhoneNumber}, Emails: []string{p.EmailAddress}},
			logFields: func(e *zerolog.Event) *zerolog.Event {
				e = e.Str("action", p.Action)
				if p.PhoneNumber != "" {
					e = e.Str("phoneNumber", logging.MaskPhone(p.PhoneNumber))
				}
				if p.EmailAddress != "" {
					e = e.Str("emailAddress", logging.MaskEmail(p.EmailAddress))
				}
				return e
			},
			do: func(ctx context.Context, creds provider.Credentials) (*provider.Response, error) {
				return h.cfg.Client.UpdateUserOvCallback(ctx, creds, p.Request())
			},
		}
		return h.run(ctx, t, c)
	})
}

// Licence handles tasks.TypeLicenceModify.
func (h *Handlers) Licence() asynq.Handler {
	return decoded(tasks.DecodeLicence, func(ctx context.Context, t *asynq.Task, p tasks.LicencePayload) error {
		c := call{
			endpoint: provider.EndpointModifyThirdPartyDetails,
			account:  p.Account,
			order:    strconv.FormatInt(int64(p.OrderNumber), 10),
			personal: logging.Personal{Emails: []string{p.CodeGuardUserEmail}},
			logFields: func(e *zerolog.Event) *zerolog.Event {
				e = e.Int64("product", int64(p.Product))
				if p.Action != "" {
					e = e.Str("action", p.Action)
				}
				return e
			},
			do: func(ctx context.Context, creds provider.Credentials) (*provider.Response, error) {
				return h.cfg.Client.ModifyThirdPartyDetails(ctx, creds, p.Request())
			},
		}
		return h.run(ctx, t, c)
	})
}

// decoded is the one adapter that turns a payload into a typed value for a handler: a payload
// that does not decode or validate is dead-lettered at once with the reason.
func decoded[P any](decode func([]byte) (P, error), run func(context.Context, *asynq.Task, P) error) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		p, err := decode(t.Payload())
		if err != nil {
			return &Dead{Reason: deadletter.ReasonInvalidPayload, Err: err}
		}
		return run(ctx, t, p)
	})
}

// PersonalData is the phone numbers and e-mail addresses in a task's payload, for masking in
// what is logged about the task. It reads any JSON object, valid payload or not: a payload
// that failed validation may be quoted in the reason, and logged whole when its dead letter
// cannot be recorded. A phone number given as a JSON number counts too.
func PersonalData(payload []byte) logging.Personal {
	var fields struct {
		PhoneNumber        json.RawMessage `json:"phoneNumber"`
		EmailAddress       json.RawMessage `json:"emailAddress"`
		CodeGuardUserEmail json.RawMessage `json:"codeGuardUserEmail"`
	}
	_ = json.Unmarshal(payload, &fields)
	value := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw) // a number, as the payload has it
	}
	var p logging.Personal
	if len(fields.PhoneNumber) > 0 {
		p.Phones = append(p.Phones, value(fields.PhoneNumber))
	}
	for _, raw := range []json.RawMessage{fields.EmailAddress, fields.CodeGuardUserEmail} {
		if len(raw) > 0 {
			p.Emails = append(p.Emails, value(raw))
		}
	}
	return p
}

// call is one provider call, described for the shared run loop.
type call struct {
	endpoint  string
	account   string
	order     string
	personal  logging.Personal // the payload's own phone numbers and e-mail addresses, masked in what is logged
	logFields func(*zerolog.Event) *zerolog.Event
	do        func(context.Context, provider.Credentials) (*provider.Response, error)
}

// Result is what a completed task keeps (asynq's task result, shown in the UI). Code is
// ErrorCode again, under the name DESIGN.md gives it ("code, result, attempts, duration").
type Result struct {
	Code             int    `json:"code"`
	ErrorCode        int    `json:"errorCode"`
	ErrorMessage     string `json:"errorMessage,omitempty"`
	Result           string `json:"result,omitempty"`
	AlreadyCancelled bool   `json:"alreadyCancelled,omitempty"`
	Attempts         int    `json:"attempts"`
	Duration         string `json:"duration"`
	DurationMs       int64  `json:"durationMs"`
}

func (h *Handlers) run(ctx context.Context, t *asynq.Task, c call) error {
	id, _ := asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	budget := tasks.RetryBudget(maxRetry)
	account := c.account
	if account == "" {
		account = tasks.DefaultAccount
	}
	creds, ok := h.cfg.Accounts[account]
	if !ok {
		return &Dead{Reason: deadletter.ReasonPermanent, Attempts: retried,
			Err: &provider.FieldError{Field: "account", Problem: fmt.Sprintf("no login configured for account %q on this worker", account)}}
	}
	// The limits are the provider's, which counts calls by login: aliases that share one
	// share its cooldown and its PROVIDER_RATE.
	limits := creds.LoginName()

	if retried > budget {
		// A run ended by the task's timeout or a cancel (from the UI) spends a retry without
		// reaching this handler's budget check: asynq counts it as a failure itself. Such a
		// run at the last retry leaves the task past its budget, with no reserve left, so that
		// asynq would archive it on the next rate-limit wait. Its budget is spent: say so now,
		// without calling.
		_ = h.cfg.Fleet.Forget(context.WithoutCancel(ctx), limits, id)
		return &Dead{Reason: deadletter.ReasonRetriesSpent, Attempts: retried,
			Err: fmt.Errorf("retry budget of %d spent: the last run was ended by the task's timeout or cancelled (enqueue dead replay runs it again with a fresh budget)", budget)}
	}

	st, err := h.cfg.Fleet.Check(ctx, limits, id)
	if err != nil {
		// Redis trouble says nothing of the task: try again soon without spending its budget.
		return h.limiterUnavailable("rate-limit state unavailable", err)
	}
	attempt := retried + st.LimitedCalls + 1
	if st.Cooldown > 0 {
		return h.limited(ctx, id, account, limits, st, false, st.Cooldown, attempt-1, nil)
	}
	queue, _ := asynq.GetQueueName(ctx)
	w := ratelimit.Waiter{Task: id, Live: queue == tasks.QueueDefault, MaxWait: h.cfg.RateWaitInPlace, Stop: draining(ctx)}
	if w.Live {
		// A live task claims the account's next call (see ratelimit.Fleet.Wait). Sent back to
		// the queue it would come back too late for its claim: at a PROVIDER_RATE below one
		// call every RateWaitInPlace, the first in line waits in place for a whole interval,
		// within reason.
		w.FirstMaxWait = min(h.cfg.Fleet.Interval()+ratelimit.LiveGrace, liveWaitInPlace)
	}
	if deadline, ok := ctx.Deadline(); ok {
		// A wait that ran into the task's timeout would end the run as a failure, which
		// spends the task's budget without a call: wait in place at most half the time left,
		// and leave the other half to the call.
		w.MaxWait = min(w.MaxWait, time.Until(deadline)/2)
		w.FirstMaxWait = min(w.FirstMaxWait, time.Until(deadline)/2)
	}
	if slept, err := h.cfg.Fleet.Wait(ctx, limits, w); err != nil {
		var held *ratelimit.HeldBack
		if errors.As(err, &held) {
			h.obs.RateLimitWait(account, "rate", slept+held.After)
			return &retry.Later{After: held.After + spread(held.After), Reason: "PROVIDER_RATE holds account " + account + " back"}
		}
		if ctx.Err() != nil {
			return err
		}
		return h.limiterUnavailable("rate limiter unavailable", err)
	} else if slept > 0 {
		h.obs.RateLimitWait(account, "rate", slept)
		// A cooldown may have begun while this task slept (a -42 to another task): look again
		// before calling, or every task asleep in the rate wait would call into it.
		if st, err = h.cfg.Fleet.Check(ctx, limits, id); err != nil {
			return h.limiterUnavailable("rate-limit state unavailable", err)
		}
		attempt = retried + st.LimitedCalls + 1
		if st.Cooldown > 0 {
			return h.limited(ctx, id, account, limits, st, false, st.Cooldown, attempt-1, nil)
		}
	}

	start := time.Now()
	resp, err := c.do(ctx, creds)
	took := time.Since(start)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil && provider.Classify(err) != provider.RateLimited {
		// Cut short by the worker stopping (SHUTDOWN_TIMEOUT ran out, or the lease was lost) or
		// by a cancel from the UI: this says nothing of the provider. (An answer that arrived
		// as the context ended is an answer: a -42, or an HTTP 429 whose body was cut short,
		// must still start the cooldown.) asynq has already decided what becomes of the task
		// and ignores what is returned: back to its queue without spending its budget when the
		// worker stops, a retry that spends it after a cancel.
		h.obs.ProviderCall(c.endpoint, "interrupted", took)
		logging.ErrorCode(h.callLine(zerolog.WarnLevel, t, id, account, attempt, c, "interrupted", took), nil).
			Msg("provider call cut short: the worker is stopping, or the task was cancelled")
		return ctx.Err()
	}
	outcome := provider.Classify(err)
	h.obs.ProviderCall(c.endpoint, codeLabel(resp, err), took)
	h.logCall(t, id, account, attempt, c, resp, err, outcome, took)

	switch outcome {
	case provider.Success:
		res := Result{Attempts: attempt, Duration: took.Round(time.Microsecond).String(), DurationMs: took.Milliseconds()}
		if resp != nil {
			res.Code, res.ErrorCode, res.ErrorMessage, res.Result = resp.Code, resp.Code, resp.Message, resp.Result
		} else if provider.IsAlreadyCancelled(err) {
			var pe *provider.Error
			errors.As(err, &pe)
			res.Code, res.ErrorCode, res.ErrorMessage, res.AlreadyCancelled = pe.Code, pe.Code, pe.Message, true
		}
		h.finish(ctx, t, id, limits, st, res)
		return nil
	case provider.RateLimited:
		// Not bound to ctx: the worker may be stopping, and the fleet must hear of the limit.
		cool, cerr := h.cfg.Fleet.StartCooldown(context.WithoutCancel(ctx), limits)
		if cerr != nil {
			h.cfg.Logger.Warn().Err(cerr).Str("account", account).Msg("could not start the fleet-wide cooldown")
			cool = h.cfg.Fleet.Cooldown()
		}
		return h.limited(ctx, id, account, limits, st, true, cool, attempt, err)
	case provider.Permanent:
		h.forget(ctx, limits, id, st)
		return &Dead{Reason: deadletter.ReasonPermanent, Err: err, Attempts: attempt}
	}
	// Transient.
	if retried >= budget {
		h.forget(ctx, limits, id, st)
		return &Dead{Reason: deadletter.ReasonRetriesSpent, Err: err, Attempts: attempt}
	}
	if !st.LimitedSince.IsZero() {
		// The call got through the limits: the task no longer waits on them, and a later
		// limit starts RATE_LIMIT_MAX_WAIT afresh.
		if werr := h.cfg.Fleet.EndWait(context.WithoutCancel(ctx), limits, id, h.cfg.RateLimitMaxWait+time.Hour); werr != nil {
			h.cfg.Logger.Warn().Err(werr).Str("task", id).Msg("could not end the rate-limit wait")
		}
	}
	return err
}

// limiterUnavailable puts a task back for a little while: the limits could not be read, which
// says nothing of the task. An answer of Redis's that waiting will not change (an ACL's
// NOPERM, a key of another type) would put every task back for good, so it is logged as an
// error, at most every 30 s (the worker checks its keys at start; a key or an ACL can change
// since).
func (h *Handlers) limiterUnavailable(reason string, err error) error {
	if !deadletter.Unavailable(err) {
		now := time.Now().UnixNano()
		if last := h.limiterTroubleLogged.Load(); now-last >= int64(30*time.Second) && h.limiterTroubleLogged.CompareAndSwap(last, now) {
			h.cfg.Logger.Error().Err(err).Msg("Redis refuses the rate limiter's keys: tasks are put back without a call until it takes them (a Redis ACL user needs ~ovqueue:*, and ~rate:ovqueue:* with PROVIDER_RATE)")
		}
	}
	return &retry.Later{After: redisRetry + spread(redisRetry), Reason: reason, Err: err}
}

// limited reschedules a task that met a rate limit after the cooldown, or dead-letters it
// when cooldowns have held it for longer than the maximum. What counts is the time cooldowns
// held it, added up since its wait began: not the time since, which also holds its waits on
// PROVIDER_RATE and in the queue (a backfill at PROVIDER_RATE drains for hours, and one -42
// in it would otherwise dead-letter every task that had met an earlier one).
func (h *Handlers) limited(ctx context.Context, id, account, limits string, st ratelimit.State, called bool, wait time.Duration, attempts int, cause error) error {
	// What this hold adds to the total: the part of it that no earlier hold covers (a task run
	// again before its time, from the UI, is still under its last one).
	adds := max(wait-st.HeldFor, 0)
	if !st.LimitedSince.IsZero() && st.LimitedFor+adds > h.cfg.RateLimitMaxWait {
		if cause == nil {
			cause = fmt.Errorf("account %s is cooling down after a call limit", account)
		}
		_ = h.cfg.Fleet.Forget(context.WithoutCancel(ctx), limits, id)
		return &Dead{Reason: deadletter.ReasonRateLimitWait, Attempts: attempts,
			Err: fmt.Errorf("rate-limited since %s, held %s by cooldowns: waiting out the next %s would pass RATE_LIMIT_MAX_WAIT (%s): %w",
				st.LimitedSince.UTC().Format(time.RFC3339), st.LimitedFor.Round(time.Second), adds.Round(time.Millisecond), h.cfg.RateLimitMaxWait, cause)}
	}
	h.obs.RateLimitWait(account, "cooldown", wait)
	after := wait + spread(wait)
	// The cooldown holds the task, not the spread that keeps its return apart from others'.
	if err := h.cfg.Fleet.MarkLimited(context.WithoutCancel(ctx), limits, id, called, wait, h.cfg.RateLimitMaxWait+time.Hour); err != nil {
		h.cfg.Logger.Warn().Err(err).Str("task", id).Msg("could not record the rate-limit wait")
	}
	reason := "account " + account + " is cooling down after a call limit"
	return &retry.Later{After: after, Reason: reason, Err: cause}
}

// liveWaitInPlace bounds how long a live task waits in place for its PROVIDER_RATE call.
const liveWaitInPlace = 10 * time.Second

type drainingKey struct{}

// WithDraining returns ctx carrying ch, which the worker closes when it starts to stop. A task
// then waiting in place for PROVIDER_RATE goes back to its queue (without spending its
// budget) instead of calling in the time the shutdown leaves to calls in flight.
func WithDraining(ctx context.Context, ch <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainingKey{}, ch)
}

// draining is ctx's channel from WithDraining; nil, which never fires, without one.
func draining(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(drainingKey{}).(<-chan struct{})
	return ch
}

// redisRetry is how soon a task that could not read the fleet's limits from Redis runs again.
const redisRetry = 5 * time.Second

// spread adds up to a tenth of d (plus 100ms), so that tasks held by one cooldown do not all
// come back in the same instant.
func spread(d time.Duration) time.Duration {
	max := d/10 + 100*time.Millisecond
	return time.Duration(rand.Int64N(int64(max)))
}

// forget drops the task's rate-limit record, if it had one, once the task is done. limits
// names the login whose limits the task met.
func (h *Handlers) forget(ctx context.Context, limits, id string, st ratelimit.State) {
	if !st.LimitedSince.IsZero() || st.LimitedCalls > 0 {
		_ = h.cfg.Fleet.Forget(context.WithoutCancel(ctx), limits, id)
	}
}

func (h *Handlers) finish(ctx context.Context, t *asynq.Task, id, limits string, st ratelimit.State, res Result) {
	ctx = context.WithoutCancel(ctx)
	h.forget(ctx, limits, id, st)
	b, _ := json.Marshal(res)
	// The call succeeded: a lost result must not make asynq call the provider again.
	if w := t.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			h.cfg.Logger.Warn().Err(err).Str("task", id).Msg("could not write the task's result")
		}
	}
}

func (h *Handlers) logCall(t *asynq.Task, id, account string, attempt int, c call, resp *provider.Response, err error, outcome provider.Outcome, took time.Duration) {
	lvl := zerolog.InfoLevel
	switch outcome {
	case provider.Transient, provider.RateLimited:
		lvl = zerolog.WarnLevel
	case provider.Permanent:
		lvl = zerolog.ErrorLevel
	}
	e := h.callLine(lvl, t, id, account, attempt, c, outcome.String(), took)
	var pe *provider.Error
	switch {
	case resp != nil:
		e = e.Int("errorCode", resp.Code)
		if resp.Message != "" {
			e = e.Str("errorMessage", c.personal.Mask(resp.Message))
		}
	case errors.As(err, &pe):
		if pe.Code != 0 || pe.HasCode {
			e = logging.ErrorCode(e, &pe.Code)
		} else {
			e = logging.ErrorCode(e, nil)
		}
		e = e.Str("errorMessage", c.personal.Mask(pe.Message))
		if pe.Item != "" {
			e = e.Str("errorItem", pe.Item)
		}
		if pe.HTTPStatus != 0 {
			e = e.Int("httpStatus", pe.HTTPStatus)
		}
		if pe.Err != nil {
			e = e.Str("error", c.personal.Mask(pe.Err.Error()))
		}
	case err != nil:
		e = logging.ErrorCode(e, nil).Str("error", c.personal.Mask(err.Error()))
	}
	msg := "provider call"
	switch {
	case provider.IsAlreadyCancelled(err):
		msg = "provider call: licence already cancelled"
	case pe != nil && pe.Code == provider.CodePermissionDenied:
		// Most often the login itself: then every task of it will be refused in turn, and
		// each refusal brings a lock-out of the account nearer. Said in a field of its own, so
		// that the line's message stays "provider call", as on every other call.
		e = e.Str("hint", "permission denied: if the login is wrong, every task of it will be refused, and the provider may lock an account it refuses again and again: fix the login")
	}
	e.Msg(msg)
}

// callLine starts the log line of a provider call with the fields every such line has.
func (h *Handlers) callLine(lvl zerolog.Level, t *asynq.Task, id, account string, attempt int, c call, outcome string, took time.Duration) *zerolog.Event {
	e := h.cfg.Logger.WithLevel(lvl).
		Str("task", id).Str("type", t.Type()).Str("account", account).Str("order", c.order)
	return c.logFields(e).Int("attempt", attempt).Str("outcome", outcome).
		Str("duration", took.Round(time.Microsecond).String()).Float64("durationMs", float64(took.Microseconds())/1000)
}

// codeLabel is the metrics label of a call's outcome.
//
// The label's values are bounded, so that a provider that invents codes cannot grow the
// number of series without end: a code the documentation does not list is "undocumented",
// a success code above 9 is "success_other" (the log line has the code itself).
func codeLabel(resp *provider.Response, err error) string {
	if resp != nil {
		if resp.Code > 9 {
			return "success_other"
		}
		return strconv.Itoa(resp.Code)
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return "invalid"
	}
	switch {
	case pe.Code == provider.CodeCallLimit || provider.IsAlreadyCancelled(err):
		// Codes acted on whatever the HTTP status: counted as what they were taken for.
		return strconv.Itoa(pe.Code)
	case pe.HTTPStatus != 0 && (pe.HTTPStatus < 200 || pe.HTTPStatus > 299):
		return "http_" + strconv.Itoa(pe.HTTPStatus)
	case pe.Code < 0 && !provider.IsDocumented(pe.Code):
		return "undocumented"
	case pe.Code != 0:
		return strconv.Itoa(pe.Code)
	case pe.HTTPStatus == 0:
		return "transport"
	}
	return "no_code"
}
