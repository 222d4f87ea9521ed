package ui_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/ovqueue/ovqueue/internal/redistest"
	"github.com/ovqueue/ovqueue/internal/ui"
	"github.com/ovqueue/ovqueue/provider"
	"github.com/ovqueue/ovqueue/tasks"
)

// serve starts the UI on r behind an httptest server and returns its base URL (no trailing slash).
func serve(t *testing.T, r *redistest.Redis, o ui.Options) string {
	t.Helper()
	o.Redis = r.Opt
	u := ui.New(o)
	srv := httptest.NewServer(u)
	t.Cleanup(func() {
		srv.Close()
		_ = u.Close()
	})
	return srv.URL
}

// do sends one request, with basic auth when user or pass is set, and returns the status,
// headers and body.
func do(t *testing.T, method, url, user, pass string) (int, http.Header, string) {
	t.Helper()
	return request(t, method, url, "", nil, user, pass)
}

// request is do with a Host and extra headers, as a browser would send them.
func request(t *testing.T, method, url, host string, header map[string]string, user, pass string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// queuePaused reports whether queue default is paused.
func queuePaused(t *testing.T, r *redistest.Redis) bool {
	t.Helper()
	info, err := asynq.NewInspectorFromRedisClient(r.Client).GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	return info.Paused
}

// archived puts a licence task in queue default's archive (what a dead letter looks like to
// the UI) and returns its ID and the payload it carries.
func archived(t *testing.T, r *redistest.Redis, order int64) (string, []byte) {
	t.Helper()
	task, opts, err := tasks.NewLicenceTask(tasks.LicencePayload{
		OrderNumber: tasks.Int(order), Product: 1061,
		Action: provider.ActionCancelLicence, CancelType: provider.CancelOnExpiration,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := asynq.NewClientFromRedisClient(r.Client)
	info, err := c.Enqueue(task, opts...)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspectorFromRedisClient(r.Client)
	if err := insp.ArchiveTask(info.Queue, info.ID); err != nil {
		t.Fatal(err)
	}
	return info.ID, task.Payload()
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	base := serve(t, r, ui.Options{User: "ops", Password: "s3cret pass"})
	tests := []struct {
		name       string
		user, pass string
		want       int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "ops", "s3cret", http.StatusUnauthorized},
		{"wrong user", "root", "s3cret pass", http.StatusUnauthorized},
		{"password as user", "s3cret pass", "ops", http.StatusUnauthorized},
		{"right credentials", "ops", "s3cret pass", http.StatusOK},
	}
	for _, tt := range tests {
		for _, path := range []string{"/", "/api/queues", "/queues/default"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				code, h, body := do(t, http.MethodGet, base+path, tt.user, tt.pass)
				if code != tt.want {
					t.Fatalf("GET %s: status %d, want %d; body %q", path, code, tt.want, body)
				}
				if tt.want != http.StatusUnauthorized {
					return
				}
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
					t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got)
				}
				if strings.Contains(body, "<html") || strings.Contains(body, `"queues"`) {
					t.Errorf("a refused request got the UI: %q", body)
				}
			})
		}
	}
}

func TestPasswordAloneTurnsAuthOn(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	base := serve(t, r, ui.Options{Password: "only-a-password"})
	if code, _, _ := do(t, http.MethodGet, base+"/api/queues", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: status %d, want 401", code)
	}
	if code, _, body := do(t, http.MethodGet, base+"/api/queues", "", "only-a-password"); code != http.StatusOK {
		t.Fatalf("right password: status %d, want 200; body %q", code, body)
	}
}

func TestNoAuthWhenUserAndPasswordAreEmpty(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	archived(t, r, 5001)
	base := serve(t, r, ui.Options{})
	for _, creds := range [][2]string{{"", ""}, {"anyone", "anything"}} {
		code, h, body := do(t, http.MethodGet, base+"/api/queues", creds[0], creds[1])
		if code != http.StatusOK || !strings.Contains(body, `"queue":"default"`) {
			t.Fatalf("credentials %q: status %d, body %q; want 200 listing queue default", creds, code, body)
		}
		if h.Get("WWW-Authenticate") != "" {
			t.Errorf("credentials %q: unexpected challenge %q", creds, h.Get("WWW-Authenticate"))
		}
	}
}

func TestReadOnlyRefusesDestructiveCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		path   string // after /api/queues/default/archived_tasks/<id>
		// after is the task's state when the call went through; nil means deleted.
		after *asynq.TaskState
	}{
		{"delete", http.MethodDelete, "", nil},
		{"run", http.MethodPost, ":run", ptr(asynq.TaskStatePending)},
	}
	for _, tt := range tests {
		for _, readOnly := range []bool{true, false} {
			name := tt.name
			if readOnly {
				name += " read-only"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				r := redistest.New(t)
				id, _ := archived(t, r, 5002)
				base := serve(t, r, ui.Options{User: "ops", Password: "pw", ReadOnly: readOnly})
				insp := asynq.NewInspectorFromRedisClient(r.Client)

				// The SPA is told to hide its buttons...
				_, _, index := do(t, http.MethodGet, base+"/", "ops", "pw")
				wantFlag := `READ_ONLY="false"`
				if readOnly {
					wantFlag = `READ_ONLY="true"`
				}
				if !strings.Contains(index, wantFlag) {
					t.Errorf("index page lacks %s", wantFlag)
				}

				// ...and the API refuses the call itself, whatever the browser does.
				code, _, body := do(t, tt.method, base+"/api/queues/default/archived_tasks/"+id+tt.path, "ops", "pw")
				info, err := insp.GetTaskInfo("default", id)
				if readOnly {
					if code >= 200 && code < 300 {
						t.Fatalf("%s in read-only mode: status %d, want a refusal", tt.method, code)
					}
					if err != nil || info.State != asynq.TaskStateArchived {
						t.Fatalf("after a refused %s the task is %v (err %v), want still archived", tt.method, info, err)
					}
					return
				}
				if code < 200 || code >= 300 {
					t.Fatalf("%s: status %d (%q), want 2xx", tt.method, code, body)
				}
				switch {
				case tt.after == nil:
					if !errors.Is(err, asynq.ErrTaskNotFound) {
						t.Fatalf("after DELETE: task %v, err %v; want it gone", info, err)
					}
				case err != nil || info.State != *tt.after:
					t.Fatalf("after %s: task %v, err %v; want state %s", tt.method, info, err, *tt.after)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestPayloadsShowAsIndentedJSON(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	id, payload := archived(t, r, 5003)
	// A poison payload that is not JSON is shown as it is.
	c := asynq.NewClientFromRedisClient(r.Client)
	poison, err := c.Enqueue(asynq.NewTask(tasks.TypeLicenceModify, []byte("not {json")), asynq.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	if err := asynq.NewInspectorFromRedisClient(r.Client).ArchiveTask("default", poison.ID); err != nil {
		t.Fatal(err)
	}
	// A producer that put a password into a payload: the UI blanks it, as the record does.
	const secret = "S3cretPW1"
	withPassword, err := c.Enqueue(asynq.NewTask(tasks.TypeLicenceModify,
		[]byte(`{"orderNumber":5,"product":1061,"loginPassword":"`+secret+`"}`)), asynq.Queue("default"))
	if err != nil {
		t.Fatal(err)
	}
	if err := asynq.NewInspectorFromRedisClient(r.Client).ArchiveTask("default", withPassword.ID); err != nil {
		t.Fatal(err)
	}
	base := serve(t, r, ui.Options{User: "ops", Password: "pw"})

	code, _, body := do(t, http.MethodGet, base+"/api/queues/default/archived_tasks", "ops", "pw")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var list struct {
		Tasks []struct {
			ID      string `json:"id"`
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	var want bytes.Buffer
	if err := json.Indent(&want, payload, "", "  "); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(want.String(), "\n  \"orderNumber\": 5003") {
		t.Fatalf("test setup: payload %s does not indent as expected:\n%s", payload, want.String())
	}
	got := map[string]string{}
	for _, task := range list.Tasks {
		got[task.ID] = task.Payload
	}
	if got[id] != want.String() {
		t.Errorf("payload of %s:\n%s\nwant:\n%s", id, got[id], want.String())
	}
	if got[poison.ID] != "not {json" {
		t.Errorf("poison payload shown as %q, want it as it is", got[poison.ID])
	}
	if p := got[withPassword.ID]; strings.Contains(p, secret) || !strings.Contains(p, `"loginPassword": "[redacted]"`) {
		t.Errorf("payload with a password shown as:\n%s", p)
	}
	if strings.Contains(body, secret) {
		t.Error("the archived-tasks answer holds the password")
	}

	// The task's own page goes through the same formatter.
	code, _, body = do(t, http.MethodGet, base+"/api/queues/default/tasks/"+id, "ops", "pw")
	var one struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal([]byte(body), &one); code != http.StatusOK || err != nil {
		t.Fatalf("GET task: status %d, %v: %s", code, err, body)
	}
	if one.Payload != want.String() {
		t.Errorf("task page payload:\n%s\nwant:\n%s", one.Payload, want.String())
	}
}

// send is request without the headers of the answer.
func send(t *testing.T, method, url, host string, header map[string]string, user, pass string) (int, string) {
	t.Helper()
	code, _, body := request(t, method, url, host, header, user, pass)
	return code, body
}

// Another site's form or script, in a browser that has the UI's credentials cached (or a UI
// without credentials), must not pause a queue, delete tasks or replay dead letters.
func TestCrossOriginActionsRefused(t *testing.T) {
	t.Parallel()
	for _, auth := range []bool{true, false} {
		name := "no credentials"
		user, pass := "", ""
		if auth {
			name, user, pass = "basic auth", "ops", "pw"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := redistest.New(t)
			archived(t, r, 5004) // the queue exists
			base := serve(t, r, ui.Options{User: user, Password: pass})
			insp := asynq.NewInspectorFromRedisClient(r.Client)
			paused := func() bool { return queuePaused(t, r) }
			self := strings.TrimPrefix(base, "http://")
			tests := []struct {
				name   string
				header map[string]string
				refuse bool
			}{
				{"form of another site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, true},
				{"page on another port of this host", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, true},
				{"Origin of another site, no Sec-Fetch-Site", map[string]string{"Origin": "https://evil.example"}, true},
				{"the UI's own page", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + self}, false},
				{"the UI's own page, Origin only", map[string]string{"Origin": "http://" + self}, false},
				{"curl (no browser headers)", nil, false},
			}
			for _, tt := range tests {
				code, body := send(t, http.MethodPost, base+"/api/queues/default:pause", "", tt.header, user, pass)
				if tt.refuse {
					if code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
						t.Errorf("%s: status %d (%q), want 403 naming the cross-origin request", tt.name, code, body)
					}
					if paused() {
						t.Fatalf("%s: the queue was paused", tt.name)
					}
					continue
				}
				if code < 200 || code >= 300 || !paused() {
					t.Fatalf("%s: status %d (%q), paused %v; want the action taken", tt.name, code, body, paused())
				}
				if err := insp.UnpauseQueue("default"); err != nil {
					t.Fatal(err)
				}
			}
			// Reading stays open to a cross-site request: the browser keeps its answer from the
			// other site's page.
			if code, body := send(t, http.MethodGet, base+"/api/queues", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, user, pass); code != http.StatusOK {
				t.Errorf("cross-site GET: status %d (%q), want 200", code, body)
			}
		})
	}
}

// A UI without credentials answers only to loopback names: a page whose own name was rebound to
// 127.0.0.1 (DNS rebinding) would otherwise read payloads and take actions as the UI's origin.
func TestUIWithoutCredentialsAnswersOnlyToLoopbackNames(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	archived(t, r, 5005)
	open := serve(t, r, ui.Options{})
	locked := serve(t, r, ui.Options{User: "ops", Password: "pw"})
	port := open[strings.LastIndexByte(open, ':')+1:]
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:" + port, true},
		{"127.0.0.2:" + port, true},
		{"[::1]:" + port, true},
		{"localhost:" + port, true},
		{"LOCALHOST", true},
		{"ui.localhost:" + port, true},
		{"evil.example:" + port, false},
		{"evil.example", false},
		{"192.168.1.10:" + port, false},
		{"127.0.0.1.evil.example:" + port, false},
		{"localhost.evil.example:" + port, false},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/queues", "/"} {
			code, body := send(t, http.MethodGet, open+path, tt.host, nil, "", "")
			switch {
			case tt.ok && code != http.StatusOK:
				t.Errorf("Host %s, GET %s: status %d (%q), want 200", tt.host, path, code, body)
			case !tt.ok && (code != http.StatusForbidden || !strings.Contains(body, "loopback host name")):
				t.Errorf("Host %s, GET %s: status %d (%q), want 403 naming the rule", tt.host, path, code, body)
			case !tt.ok && strings.Contains(body, `"queue"`):
				t.Errorf("Host %s: the refusal holds the UI's data: %q", tt.host, body)
			}
		}
	}
	// With credentials a rebound page gets nothing anyway (the browser keeps them for the UI's
	// own name), and a proxy may pass any Host on.
	if code, body := send(t, http.MethodGet, locked+"/api/queues", "ops.example.com", nil, "ops", "pw"); code != http.StatusOK {
		t.Errorf("with credentials, Host ops.example.com: status %d (%q), want 200", code, body)
	}
}
