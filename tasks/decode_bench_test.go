package tasks

import "testing"

func BenchmarkDecodeLicence(b *testing.B) {
	data := []byte(`{"account":"default","orderNumber":1234567,"product":341,"action":"CANCELLICENCE"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeLicence(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOVCallback(b *testing.B) {
	data := []byte(`{"account":"default","orderNumber":"1234567","action":"ScheduledCallback","phoneNumber":"+44 20 7946 0958","emailAddress":"jane@example.com","preferredTimeUTC":"2024-02-02 13:03","language":"en"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOVCallback(data); err != nil {
			b.Fatal(err)
		}
	}
}
