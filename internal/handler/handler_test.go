package handler

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/ratelimit"
	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/retry"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/provider/providertest"
	"github.com/ovqueue/ovqueue/tasks"
)

func TestCodeLabel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp *provider.Response
		err  error
		want string
	}{
		{"success", &provider.Response{Code: 0}, nil, "0"},
		{"payment required", &provider.Response{Code: 1}, nil, "1"},
		{"other success code", &provider.Response{Code: 12345}, nil, "success_other"},
		{"error code", nil, &provider.Error{Code: -42, HTTPStatus: 200}, "-42"},
		{"documented permanent code", nil, &provider.Error{Code: -115, HTTPStatus: 200}, "-115"},
		{"undocumented code", nil, &provider.Error{Code: -99, HTTPStatus: 200}, "undocumented"},
		{"http status", nil, &provider.Error{HTTPStatus: http.StatusBadGateway}, "http_502"},
		{"permanent code on an error status", nil, &provider.Error{Code: -16, HTTPStatus: http.StatusForbidden}, "http_403"},
		// Acted on whatever the status: counted as what they were taken for.
		{"-42 on an error status", nil, &provider.Error{Code: -42, HTTPStatus: http.StatusServiceUnavailable}, "-42"},
		{"-20 to a cancel on an error status", nil, &provider.Error{Code: -20, HTTPStatus: http.StatusInternalServerError,
			Endpoint: provider.EndpointModifyThirdPartyDetails, Action: provider.ActionCancelLicence}, "-20"},
		{"-20 to anything else on an error status", nil, &provider.Error{Code: -20, HTTPStatus: http.StatusInternalServerError,
			Endpoint: provider.EndpointModifyThirdPartyDetails}, "http_500"},
		{"no code", nil, &provider.Error{HTTPStatus: 200, Message: "answer without errorCode"}, "no_code"},
		{"transport", nil, &provider.Error{Err: errors.New("dial")}, "transport"},
		{"validation", nil, &provider.FieldError{Field: "x", Problem: "y"}, "invalid"},
	}
	for _, tt := range tests {
		if got := codeLabel(tt.resp, tt.err); got != tt.want {
			t.Errorf("%s: codeLabel = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestRedisOutageDoesNotSpendBudget: when the fleet's limits cannot be read, the task is
// rescheduled (not a failure) and the provider is not called blind.
func TestRedisOutageDoesNotSpendBudget(t *testing.T) {
	t.Parallel()
	fake, err := providertest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	pc, err := provider.New(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	h, err := New(Config{Client: pc, Accounts: map[string]provider.Credentials{tasks.DefaultAccount: creds},
		Fleet: ratelimit.New(down, time.Minute, 0), Logger: zerolog.Nop(), RateLimitMaxWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	task, _, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Licence().ProcessTask(context.Background(), task)
	var later *retry.Later
	if !errors.As(err, &later) || retry.IsFailure(err) || later.After < redisRetry {
		t.Fatalf("err = %v, want a rescheduling that is not a failure", err)
	}
	if n := fake.CallCount(); n != 0 {
		t.Errorf("%d calls made without the fleet's limits", n)
	}

	// A payload that fails validation is dead-lettered without a call.
	err = h.Callback().ProcessTask(context.Background(), asynq.NewTask(tasks.TypeOVCallbackUpdate, []byte(`{"orderNumber":"1","action":"nope"}`)))
	var dead *Dead
	if !errors.As(err, &dead) || dead.Reason != deadletter.ReasonInvalidPayload || !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("err = %v, want an invalid-payload dead letter", err)
	}
}

// answerThenCancel answers every call with status and body, and cancels the caller's context
// as it does: the answer arrives just as the worker stops. With cutBody the body's read ends
// with the cancellation, as a body still on its way does.
type answerThenCancel struct {
	status  int
	body    string
	cutBody bool
	cancel  context.CancelFunc
}

func (a answerThenCancel) RoundTrip(r *http.Request) (*http.Response, error) {
	a.cancel()
	var body io.Reader = strings.NewReader(a.body)
	if a.cutBody {
		body = io.MultiReader(body, errReader{context.Canceled})
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body: io.NopCloser(body), Request: r}, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestCallLimitAnsweredAsTheWorkerStops: a -42 that arrived is an answer, even if the task's
// context ended meanwhile; the account must cool down fleet-wide, not be called again by the
// next worker as if nothing had been said.
func TestCallLimitAnsweredAsTheWorkerStops(t *testing.T) {
	t.Parallel()
	t.Run("-42", func(t *testing.T) {
		t.Parallel()
		testCallLimitAnsweredAsTheWorkerStops(t, answerThenCancel{status: http.StatusOK, body: "errorCode=-42&errorMessage=Call+limit+reached%21"})
	})
	t.Run("HTTP 429, body cut short", func(t *testing.T) {
		t.Parallel()
		testCallLimitAnsweredAsTheWorkerStops(t, answerThenCancel{status: http.StatusTooManyRequests, body: "Too many", cutBody: true})
	})
}

func testCallLimitAnsweredAsTheWorkerStops(t *testing.T, answer answerThenCancel) {
	r := redistest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answer.cancel = cancel
	pc, err := provider.New("https://provider.invalid/products/", provider.WithHTTPClient(&http.Client{Transport: answer}))
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := provider.NewCredentials(providertest.DefaultLoginName, providertest.DefaultLoginPassword)
	h, err := New(Config{Client: pc, Accounts: map[string]provider.Credentials{tasks.DefaultAccount: creds},
		Fleet: ratelimit.New(r.Client, time.Minute, 0), Logger: zerolog.Nop(), RateLimitMaxWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	task, _, err := tasks.NewLicenceTask(tasks.LicencePayload{OrderNumber: 1, Product: 700, Action: provider.ActionCancelLicence})
	if err != nil {
		t.Fatal(err)
	}
	err = h.Licence().ProcessTask(ctx, task)
	var later *retry.Later
	if !errors.As(err, &later) || retry.IsFailure(err) {
		t.Fatalf("err = %v, want a rescheduling after the cooldown", err)
	}
	st, err := ratelimit.New(r.Client, time.Minute, 0).Check(context.Background(), providertest.DefaultLoginName, "another-task")
	if err != nil {
		t.Fatal(err)
	}
	if st.Cooldown <= 0 {
		t.Fatal("another worker sees no cooldown: the -42 was taken for an interrupted call")
	}
}

// TestPersonalData: what a dead letter's log lines mask comes from any payload, valid or not,
// with a phone number given as a string or as a JSON number.
func TestPersonalData(t *testing.T) {
	t.Parallel()
	tests := []struct{ payload, text, want string }{
		{`{"orderNumber":"1","action":"ReplacePhone","phoneNumber":"020-7946-0958"}`, "bad 020-7946-0958", "bad ***-58"},
		{`{"orderNumber":"1","phoneNumber":4915112345678}`, `{"orderNumber":"1","phoneNumber":4915112345678}`, `{"orderNumber":"1","phoneNumber":***-78}`},
		{`{"orderNumber":1,"product":700,"codeGuardUserEmail":"jöe@exämple.de"}`, "jöe@exämple.de refused", "j***@exämple.de refused"},
		{`{"emailAddress":"jöe@exämple.de","phoneNumber":null}`, "jöe@exämple.de null", "j***@exämple.de null"},
		{`not JSON 020-7946-0958`, "not JSON 020-7946-0958", "not JSON 020-7946-0958"},
	}
	for _, tt := range tests {
		if got := PersonalData([]byte(tt.payload)).Mask(tt.text); got != tt.want {
			t.Errorf("PersonalData(%s).Mask(%q) = %q, want %q", tt.payload, tt.text, got, tt.want)
		}
	}
}
