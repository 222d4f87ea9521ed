package providertest_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovqueue/ovqueue/provider/providertest"
)

// clock is a settable time source for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCallLimit(t *testing.T) {
	t.Parallel()
	type step struct {
		advance     time.Duration
		login, pass string
		code        string
	}
	a := func(code string) step { return step{login: "a", pass: "pa", code: code} }
	cases := []struct {
		name  string
		limit int
		steps []step
	}{
		{name: "limit per login and window", limit: 2, steps: []step{
			a("0"), a("0"), a("-42"), a("-42"),
			{login: "b", pass: "pb", code: "0"}, // another login has its own count
			{advance: 59 * time.Second, login: "a", pass: "pa", code: "-42"},
			{advance: time.Second, login: "a", pass: "pa", code: "0"}, // a new window
			a("0"), a("-42"),
		}},
		{name: "calls with a wrong password count", limit: 1, steps: []step{
			{login: "a", pass: "wrong", code: "-16"},
			{login: "a", pass: "wrong", code: "-16"}, // credentials are reported before the limit
			a("-42"),
			{advance: time.Minute, login: "a", pass: "pa", code: "0"},
		}},
		{name: "calls rejected before the credential check do not count", limit: 1, steps: []step{
			{login: "a", pass: "", code: "-3"},
			{login: "a", pass: "", code: "-3"},
			a("0"), a("-42"),
		}},
		{name: "no limit", limit: 0, steps: []step{a("0"), a("0"), a("0"), a("0")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Date(2024, 2, 2, 13, 3, 0, 0, time.UTC)}
			srv := startServer(t,
				providertest.WithAccount("a", "pa"), providertest.WithAccount("b", "pb"),
				providertest.WithCallLimit(tc.limit, time.Minute), providertest.WithClock(clk.Now))
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				form := licenceForm("6001", "700")
				form.Set("loginName", s.login)
				form.Set("loginPassword", s.pass)
				r := post(t, srv, providertest.EndpointLicence, form)
				if got := r.code(t); got != s.code {
					t.Errorf("step %d: errorCode = %s, want %s", i, got, s.code)
				}
				if s.code == "-42" && r.form.Get("errorMessage") != "Call limit reached! Please try again later." {
					t.Errorf("step %d: errorMessage = %q", i, r.form.Get("errorMessage"))
				}
			}
		})
	}
}

func TestCallLimitRealClock(t *testing.T) {
	t.Parallel()
	const window = 20 * time.Millisecond
	srv := startServer(t, providertest.WithCallLimit(1, window))
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("6101", "700")).code(t); got != "0" {
		t.Fatalf("first call errorCode = %s, want 0", got)
	}
	time.Sleep(2 * window) // whatever happened in between, this is a new window
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("6101", "700")).code(t); got != "0" {
		t.Errorf("call in a new window errorCode = %s, want 0", got)
	}
}

func TestCancelState(t *testing.T) {
	t.Parallel()
	type step struct {
		order, product string
		code           string
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "SiteLock twice", steps: []step{{"7001", "1060", "0"}, {"7001", "1060", "-20"}, {"7001", "1060", "-20"}}},
		{name: "add-on after its main licence", steps: []step{{"7002", "1061", "0"}, {"7002", "1068", "-20"}}},
		{name: "add-on then main licence", steps: []step{{"7003", "1069", "0"}, {"7003", "1069", "-20"}, {"7003", "1059", "0"}, {"7003", "1070", "-20"}}},
		{name: "other orders unaffected", steps: []step{{"7004", "1062", "0"}, {"7005", "1062", "0"}}},
		{name: "order numbers compared as integers", steps: []step{{"7006", "1060", "0"}, {"07006", "1060", "-20"}}},
		{name: "CodeGuard twice", steps: []step{{"7007", "700", "0"}, {"7007", "700", "0"}}},
		{name: "HackerGuardian twice", steps: []step{{"7008", "341", "0"}, {"7008", "341", "0"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			for i, s := range tc.steps {
				r := post(t, srv, providertest.EndpointLicence, licenceForm(s.order, s.product))
				if got := r.code(t); got != s.code {
					t.Errorf("step %d (order %s product %s): errorCode = %s, want %s", i, s.order, s.product, got, s.code)
				}
				if s.code == "-20" && r.form.Get("errorMessage") != "Order already cancelled" {
					t.Errorf("step %d: errorMessage = %q", i, r.form.Get("errorMessage"))
				}
			}
		})
	}
}

func TestCancelledAndModify(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	modify := licenceForm("7101", "1060")
	modify.Del("action") // and no detail field: nothing to do
	if got := post(t, srv, providertest.EndpointLicence, modify).code(t); got != "-3" {
		t.Fatalf("modify errorCode = %s, want -3", got)
	}
	if srv.Cancelled(7101, 1060) {
		t.Error("Cancelled after a call without action, want false")
	}
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("7101", "1060")).code(t); got != "0" {
		t.Fatalf("cancel errorCode = %s", got)
	}
	if !srv.Cancelled(7101, 1060) || !srv.Cancelled(7101, 1071) {
		t.Error("main licence or its add-on not Cancelled after CANCELLICENCE")
	}
	if srv.Cancelled(7101, 700) || srv.Cancelled(7102, 1060) {
		t.Error("Cancelled true for another product or order")
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2024, 2, 2, 13, 3, 0, 0, time.UTC)}
	srv := startServer(t, providertest.WithCallLimit(2, time.Hour), providertest.WithClock(clk.Now))
	var hooked atomic.Int32
	srv.SetHook(func(providertest.Call) *providertest.Answer { hooked.Add(1); return nil })
	srv.Script("8001", providertest.Err(-14, ""))
	post(t, srv, providertest.EndpointLicence, licenceForm("8002", "1060"))
	post(t, srv, providertest.EndpointLicence, licenceForm("8003", "700"))
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("8002", "1060")).code(t); got != "-42" {
		t.Fatalf("before Reset errorCode = %s, want -42", got)
	}

	srv.Reset()
	if n := srv.CallCount(); n != 0 || len(srv.Calls()) != 0 {
		t.Errorf("after Reset CallCount = %d, want 0", n)
	}
	if n := srv.PendingScripts(); n != 0 {
		t.Errorf("after Reset PendingScripts = %d, want 0", n)
	}
	if srv.Cancelled(8002, 1060) {
		t.Error("after Reset the licence is still Cancelled")
	}
	// Window and cancellation forgotten: the same cancel succeeds again.
	if got := post(t, srv, providertest.EndpointLicence, licenceForm("8002", "1060")).code(t); got != "0" {
		t.Errorf("after Reset cancel errorCode = %s, want 0", got)
	}
	// Script forgotten.
	if got := post(t, srv, providertest.EndpointCallback, callbackForm("8001")).code(t); got != "0" {
		t.Errorf("after Reset scripted order errorCode = %s, want 0", got)
	}
	if n := hooked.Load(); n != 5 {
		t.Errorf("hook ran %d times, want 5 (it survives Reset)", n)
	}
}

func TestCallsRecording(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 2, 2, 13, 3, 0, 0, time.UTC)
	srv := startServer(t, providertest.WithClock(func() time.Time { return at }))
	form := callbackForm("9001")
	req := newRequest(t, t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, formType, form.Encode())
	req.Header.Set("User-Agent", "ovqueue-test")
	send(t, srv.Client(), req)
	send(t, srv.Client(), newRequest(t, t.Context(), http.MethodGet, srv.URL+providertest.EndpointLicence, "", ""))
	post(t, srv, providertest.EndpointLicence, licenceForm("9002", "700"))

	calls := srv.Calls()
	if len(calls) != 3 || srv.CallCount() != 3 {
		t.Fatalf("Calls = %d, CallCount = %d, want 3", len(calls), srv.CallCount())
	}
	c := calls[0]
	if !c.Time.Equal(at) || c.Method != "POST" || c.Path != "/products/!UpdateUserOvCallback" ||
		c.Endpoint != providertest.EndpointCallback || c.TLS || c.Code != 0 || c.Status != 200 {
		t.Errorf("call 0 = %+v", c)
	}
	if c.Header.Get("User-Agent") != "ovqueue-test" || c.Header.Get("Content-Type") != formType {
		t.Errorf("call 0 header = %v", c.Header)
	}
	if c.Form.Encode() != form.Encode() || c.Body != form.Encode() {
		t.Errorf("call 0 form %q body %q, want %q", c.Form.Encode(), c.Body, form.Encode())
	}
	if g := calls[1]; g.Method != "GET" || g.Code != -17 || g.Endpoint != providertest.EndpointLicence || g.Form != nil {
		t.Errorf("call 1 = %+v", g)
	}
	if got := srv.CallsFor("9002"); len(got) != 1 || got[0].Endpoint != providertest.EndpointLicence {
		t.Errorf("CallsFor(9002) = %+v", got)
	}
	if got := srv.CallsFor("nope"); len(got) != 0 {
		t.Errorf("CallsFor(nope) = %+v, want none", got)
	}

	// Callers get copies.
	calls[0].Form.Set("loginPassword", "changed")
	calls[0].Header.Set("User-Agent", "changed")
	again := srv.Calls()[0]
	if again.Form.Get("loginPassword") != providertest.DefaultLoginPassword || again.Header.Get("User-Agent") != "ovqueue-test" {
		t.Error("changing a returned Call changed the record")
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	const scripted = 100
	for i := range scripted {
		srv.Script("10001", providertest.Answer{Code: -1000 - i})
	}
	const workers, each = 20, 10
	var wg sync.WaitGroup
	codes := make(chan int, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				order := "10001"
				if (w+i)%2 == 1 {
					order = "1000" + strconv.Itoa(2+w)
				}
				body := callbackForm(order).Encode()
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+providertest.EndpointCallback, strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", formType)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Error(err)
					return
				}
				v, _ := url.ParseQuery(string(b))
				code, err := strconv.Atoi(v.Get("errorCode"))
				if err != nil {
					t.Errorf("answer %q", b)
					return
				}
				codes <- code
			}
		})
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	// Every scripted answer was given exactly once; everything else succeeded.
	for i := range scripted {
		if seen[-1000-i] != 1 {
			t.Errorf("scripted code %d answered %d times, want 1", -1000-i, seen[-1000-i])
		}
	}
	if seen[0] != workers*each-scripted {
		t.Errorf("%d successes, want %d", seen[0], workers*each-scripted)
	}
	if n := srv.CallCount(); n != workers*each {
		t.Errorf("CallCount = %d, want %d", n, workers*each)
	}
}
