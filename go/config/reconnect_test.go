package config

import (
	"testing"
	"time"
)

// TestBackoffGrowsToItsCap: each redial waits twice as long as the one
// before, from backoffMs, up to 30 s (or backoffMs, if larger), plus up to a
// quarter more at random; the random part differs between waits.
func TestBackoffGrowsToItsCap(t *testing.T) {
	for _, tc := range []struct {
		base time.Duration
		want []time.Duration // the waits before jitter, redial 1, 2, ...
	}{
		{500 * time.Millisecond, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		{60 * time.Second, []time.Duration{60 * time.Second, 60 * time.Second}},
		{0, []time.Duration{0, 0, 0}},
	} {
		r := Reconnect{Backoff: tc.base}
		for i, want := range tc.want {
			seen := map[time.Duration]bool{}
			for range 50 {
				got := r.Delay(i + 1)
				if got < want || got > want+want/4 {
					t.Fatalf("backoffMs %v, redial %d: waited %v, want %v to %v", tc.base, i+1, got, want, want+want/4)
				}
				seen[got] = true
			}
			if want > 0 && len(seen) < 10 {
				t.Errorf("backoffMs %v, redial %d: %d different waits in 50, want jitter", tc.base, i+1, len(seen))
			}
		}
	}
	// Far past the cap the doubling must not overflow.
	if got := (Reconnect{Backoff: 60 * time.Second}).Delay(100); got < 60*time.Second || got > 75*time.Second {
		t.Fatalf("redial 100 waited %v", got)
	}
}
