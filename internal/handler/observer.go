package handler

import "time"

// Observer receives what the handlers measure; the worker's metrics implement it.
type Observer interface {
	// ProviderCall is one call: its endpoint, the outcome's label (the errorCode such as "0"
	// or "-42", or "http_503", "no_code", "transport") and how long it took.
	ProviderCall(endpoint, code string, d time.Duration)
	// RateLimitWait is time a task spent, or was rescheduled for, because of a limit:
	// reason "cooldown" (after a -42) or "rate" (PROVIDER_RATE).
	RateLimitWait(account, reason string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) ProviderCall(string, string, time.Duration)  {}
func (nopObserver) RateLimitWait(string, string, time.Duration) {}
