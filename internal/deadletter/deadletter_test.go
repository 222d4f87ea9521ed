package deadletter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ovqueue/ovqueue/internal/deadletter"
	"github.com/ovqueue/ovqueue/internal/redistest"
)

func TestAppendScanAndReplayMarks(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	s := deadletter.New(r.Client)
	const n = 1234 // more than two pages
	var ids []string
	for i := range n {
		id, err := s.Append(t.Context(), deadletter.Record{
			TaskID: fmt.Sprintf("licence:modify:%d:x", i), Type: "licence:modify", Queue: "default",
			Payload: json.RawMessage(fmt.Sprintf(`{"orderNumber":%d}`, i)), Reason: deadletter.ReasonPermanent,
			ErrorCode: deadletter.Code(-4), ErrorMessage: "bad", ErrorItem: "product", Attempts: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if l, err := s.Len(t.Context()); err != nil || l != n {
		t.Fatalf("Len = %d, %v", l, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.MarkReplayed(t.Context(), ids[700], at); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := s.Scan(t.Context(), func(rec deadletter.Record) error {
		if rec.EntryID != ids[i] || rec.TaskID != fmt.Sprintf("licence:modify:%d:x", i) || string(rec.Payload) != fmt.Sprintf(`{"orderNumber":%d}`, i) {
			return fmt.Errorf("record %d = %+v", i, rec)
		}
		if rec.FailedAt.IsZero() || deadletter.CodeText(rec.ErrorCode) != "-4" || rec.ErrorItem != "product" {
			return fmt.Errorf("record %d fields = %+v", i, rec)
		}
		if (rec.ReplayedAt != nil) != (i == 700) || (i == 700 && !rec.ReplayedAt.Equal(at)) {
			return fmt.Errorf("record %d replayed = %v", i, rec.ReplayedAt)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("scanned %d, want %d", i, n)
	}
	seen := 0
	if err := s.Scan(t.Context(), func(deadletter.Record) error { seen++; return deadletter.ErrStop }); err != nil || seen != 1 {
		t.Fatalf("ErrStop: seen %d, err %v", seen, err)
	}
}

// A scan covers the records there when it began. Records appended while it runs (a replay's
// tasks failing again at once, and dead-lettered anew) wait for the next scan: the scan that
// replayed a task must not reach its new record and replay it again, page after page.
func TestScanLeavesRecordsAppendedDuringIt(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	s := deadletter.New(r.Client)
	rec := func(i int) deadletter.Record {
		return deadletter.Record{TaskID: fmt.Sprintf("licence:modify:%d:x", i), Type: "licence:modify", Queue: "default",
			Payload: json.RawMessage(`{}`), Reason: deadletter.ReasonPermanent, ErrorCode: deadletter.Code(-4)}
	}
	const n = 1001 // two full pages and one record
	for i := range n {
		if _, err := s.Append(t.Context(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	for pass, want := range []int{n, 2 * n} {
		seen := 0
		err := s.Scan(t.Context(), func(deadletter.Record) error {
			if seen++; seen > 3*n {
				return errors.New("the scan does not end")
			}
			_, err := s.Append(t.Context(), rec(n+seen))
			return err
		})
		if err != nil || seen != want {
			t.Fatalf("pass %d: scanned %d records, %v; want the %d there when it began", pass+1, seen, err, want)
		}
	}
}

// Unavailable tells an append that may succeed soon (Redis away, loading, read-only) from one
// that waiting will not change.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	rec := deadletter.Record{TaskID: "t:1:x", Type: "t", Payload: json.RawMessage(`{}`)}

	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer c.Close()
	s := deadletter.New(c)
	for name, reply := range map[string]string{
		"loading":        "LOADING Redis is loading the dataset in memory",
		"cannot persist": "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.",
	} {
		m.SetError(reply)
		if _, err := s.Append(t.Context(), rec); !deadletter.Unavailable(err) {
			t.Errorf("%s: Unavailable(%v) = false", name, err)
		}
	}
	m.SetError("ERR unknown command 'XADD'")
	if _, err := s.Append(t.Context(), rec); err == nil || deadletter.Unavailable(err) {
		t.Errorf("ERR: Unavailable(%v) = true", err)
	}
	m.SetError("")
	if err := c.Set(t.Context(), deadletter.Key, "a string", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), rec); err == nil || deadletter.Unavailable(err) {
		t.Errorf("WRONGTYPE: Unavailable(%v) = true", err)
	}
	m.Close()
	if _, err := s.Append(t.Context(), rec); err == nil || !deadletter.Unavailable(err) {
		t.Errorf("server gone: Unavailable(%v) = false", err)
	}

	bad := rec
	bad.Payload = json.RawMessage(`{not json`)
	if _, err := s.Append(t.Context(), bad); err == nil || deadletter.Unavailable(err) {
		t.Errorf("a record that cannot be encoded: Unavailable(%v) = true", err)
	}
}

// Records written before errorCode could be null hold 0 for "no code": read back, those of a
// failure without an HTTP error (or with a 2xx, where 0 would have been a success) have none;
// after an HTTP error, 0 may be the answer's own and stays. New records keep what they say.
func TestOldRecordsWithoutACode(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	s := deadletter.New(r.Client)
	old := map[string]string{ // task ID → the record as an earlier version wrote it
		"a": `{"taskId":"a","type":"licence:modify","queue":"default","payload":{},"reason":"invalid-payload","errorCode":0,"errorMessage":"x","attempts":0,"failedAt":"2026-01-02T03:04:05Z"}`,
		"b": `{"taskId":"b","type":"licence:modify","queue":"default","payload":{},"reason":"retries-exhausted","errorCode":0,"errorMessage":"answer without errorCode","httpStatus":200,"attempts":11,"failedAt":"2026-01-02T03:04:05Z"}`,
		"c": `{"taskId":"c","type":"licence:modify","queue":"default","payload":{},"reason":"permanent","errorCode":0,"errorMessage":"HTTP 404","httpStatus":404,"attempts":1,"failedAt":"2026-01-02T03:04:05Z"}`,
		"d": `{"taskId":"d","type":"licence:modify","queue":"default","payload":{},"reason":"permanent","errorCode":-4,"errorMessage":"bad","attempts":1,"failedAt":"2026-01-02T03:04:05Z"}`,
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := r.Client.XAdd(t.Context(), &redis.XAddArgs{Stream: deadletter.Key, Values: []any{"record", old[id]}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(t.Context(), deadletter.Record{TaskID: "e", Type: "licence:modify", Reason: deadletter.ReasonPermanent,
		ErrorCode: deadletter.Code(0), HTTPStatus: 400}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), deadletter.Record{TaskID: "f", Type: "licence:modify", Reason: deadletter.ReasonRetriesSpent}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "none", "b": "none", "c": "0", "d": "-4", "e": "0", "f": "none"}
	got := map[string]string{}
	if err := s.Scan(t.Context(), func(rec deadletter.Record) error {
		got[rec.TaskID] = deadletter.CodeText(rec.ErrorCode)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("record %s: errorCode %s, want %s", id, got[id], w)
		}
	}
}
