package backfill

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/ovqueue/ovqueue/tasks"
)

// buildSeeds are payloads the fast path takes and payloads it must leave to tasks.Build.
var buildSeeds = []struct{ typ, payload string }{
	{tasks.TypeLicenceModify, `{"orderNumber":123,"product":1061,"action":"CANCELLICENCE","cancelType":"ON EXPIRATION"}`},
	{tasks.TypeLicenceModify, `{"orderNumber":"123","product":"700","codeGuardUserEmail":"ops@example.com","account":"eu"}`},
	{tasks.TypeLicenceModify, `{"orderNumber":" 123","product":"0700","action":"CANCELLICENCE"}`},
	{tasks.TypeLicenceModify, `{"orderNumber":-1,"product":1e3,"action":"CANCELLICENCE"}`},
	{tasks.TypeLicenceModify, `{"orderNumber":"","product":null,"action":"CANCELLICENCE"}`},
	{tasks.TypeLicenceModify, `{"orderNumber":99999999999999999999,"product":700}`},
	{tasks.TypeLicenceModify, `{"orderNumber":5,"product":341,"qualysLoginName":"q\u00e9","action":"CANCELLICENCE","cancelType":"IMMEDIATELY"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"ScheduledCallback","preferredTimeUTC":"2024-02-02 13:03","emailAddress":"a@example.com"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"ReplacePhone"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":1,"action":"ReplacePhone","phoneNumber":"+1"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":"line\nbreak \"quoted\""}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","colour":"red"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","orderNumber":"2"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":null}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":"a\udc80b"}`},
	{tasks.TypeOVCallbackUpdate, `{"orderNumber":"1","action":"sendCallbackEmail","comments":"a\ufffdb"}`},
	{tasks.TypeOVCallbackUpdate, `[1]`},
	{"licence:cancel", `{}`},
}

// FuzzFastPathMatchesBuild is the promise of build.go: for every payload the fast path takes,
// the task (type, payload, options) or the error is exactly what tasks.Build gives.
func FuzzFastPathMatchesBuild(f *testing.F) {
	for _, s := range buildSeeds {
		f.Add(s.typ, s.payload)
	}
	opts := []tasks.Option{tasks.Queue(tasks.QueueBackfill), tasks.MaxRetry(3), tasks.ProcessAt(time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC))}
	f.Fuzz(func(t *testing.T, typ, payload string) {
		compareWithBuild(t, typ, payload, opts)
	})
}

func TestFastPathMatchesBuild(t *testing.T) {
	t.Parallel()
	for _, s := range buildSeeds {
		t.Run(s.payload, func(t *testing.T) {
			t.Parallel()
			compareWithBuild(t, s.typ, s.payload, nil)
		})
	}
}

func compareWithBuild(t *testing.T, typ, payload string, opts []tasks.Option) {
	t.Helper()
	bu := &builder{opts: opts}
	gotTask, gotOpts, gotErr := bu.build(typ, []byte(payload))
	wantTask, wantOpts, wantErr := tasks.Build(typ, []byte(payload), opts...)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s %s: error %v, tasks.Build says %v", typ, payload, gotErr, wantErr)
	}
	if verr := bu.validate(typ, []byte(payload)); fmt.Sprint(verr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s %s: validate says %v, tasks.Build says %v", typ, payload, verr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if gotTask.Type() != wantTask.Type() || string(gotTask.Payload()) != string(wantTask.Payload()) {
		t.Fatalf("task %s %s, tasks.Build gives %s %s", gotTask.Type(), gotTask.Payload(), wantTask.Type(), wantTask.Payload())
	}
	if optString(gotOpts) != optString(wantOpts) {
		t.Fatalf("options %s, tasks.Build gives %s", optString(gotOpts), optString(wantOpts))
	}
}

func optString(opts []asynq.Option) string {
	s := make([]string, len(opts))
	for i, o := range opts {
		s[i] = o.String()
	}
	return fmt.Sprint(s)
}

// The fast path is only worth having if the rows a backfill usually holds take it.
func TestFastPathTakesCommonRows(t *testing.T) {
	t.Parallel()
	for _, s := range buildSeeds[:2] {
		if _, ok := fastLicence([]byte(s.payload)); !ok {
			t.Errorf("fast path refused %s", s.payload)
		}
	}
	if _, ok := fastCallback([]byte(buildSeeds[7].payload)); !ok {
		t.Errorf("fast path refused %s", buildSeeds[7].payload)
	}
	for _, i := range []int{2, 3, 4, 5, 9, 11, 13} {
		p := []byte(buildSeeds[i].payload)
		_, okL := fastLicence(p)
		_, okC := fastCallback(p)
		if slices.Contains([]int{2, 3, 4, 5}, i) && okL || !slices.Contains([]int{2, 3, 4, 5}, i) && okC {
			t.Errorf("fast path took %s, which is tasks.Build's to judge", p)
		}
	}
}
