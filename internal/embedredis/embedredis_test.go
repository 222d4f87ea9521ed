package embedredis

import (
	"testing"
	"time"
)

func TestKeysExpireInRealTime(t *testing.T) {
	t.Parallel()
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	s.SetTTL("k", 50*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for s.Exists("k") {
		if time.Now().After(deadline) {
			t.Fatal("key with a 50ms TTL still there after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	s.Close() // idempotent
}
