package recorder

import (
	"math"
	"testing"
)

// TestOpusRecording: a 16 kHz mono Opus call with a 1 kHz tone is recorded
// decoded into a 16 kHz WAV: the tone at its frequency and level (within
// 1 dB), as long as the call's media time within 20 ms, no packet invalid.
func TestOpusRecording(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t)
	caller := writeWAV(t, "caller.wav", rate, tone(rate, 1000, 3))
	cfg := mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate, "encoding": "opus"})
	c := runSim(t, "--config", cfg, "--rate", "16000", "--caller", caller, "--call", `{"callSid":"opus-1"}`)
	if c.reason() != "hangup" || c.DurationMs == nil {
		t.Fatalf("call ended with %s, want hangup", c.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	if a.Rate != rate || a.Channels != 1 || side.Encoding != "opus" || side.InvalidPackets != 0 {
		t.Fatalf("recorded %d Hz %d channels, encoding %q, %d invalid packets; want 16000 Hz mono opus, none invalid",
			a.Rate, a.Channels, side.Encoding, side.InvalidPackets)
	}
	checkTone(t, a.Samples, rate, 1000, float64(*c.DurationMs))
}

// checkTone checks a recording of a call whose caller played a sine of
// amplitude 8000 at freq for 3 s: it lasts the call's media time within
// 20 ms, and its middle holds the tone at its level within 1 dB, with
// nothing comparable at another frequency.
func checkTone(t *testing.T, x []int16, rate int, freq, callMs float64) {
	t.Helper()
	gotMs := float64(len(x)) * 1000 / float64(rate)
	if d := gotMs - callMs; d < -20 || d > 20 {
		t.Errorf("recording lasts %.1f ms, the call's media time is %.0f ms", gotMs, callMs)
	}
	if len(x) < 2*rate {
		t.Fatalf("recording of %d samples is too short to measure", len(x))
	}
	mid := x[rate/4 : 2*rate] // inside the 3 s tone, past the codec's start
	// A sine of amplitude 8000 has a Goertzel power per sample of 8000²/4.
	db := 10 * math.Log10(power(mid, rate, freq)/(8000*8000/4))
	other := 10 * math.Log10(power(mid, rate, freq*1.37)/(8000*8000/4))
	t.Logf("tone at %+.2f dB, at %.0f Hz %+.1f dB", db, freq*1.37, other)
	if db < -1 || db > 1 {
		t.Errorf("the %.0f Hz tone recorded at %+.2f dB, want 0 ± 1 dB", freq, db)
	}
	if other > -30 {
		t.Errorf("%.0f Hz is at %+.1f dB, want the tone alone", freq*1.37, other)
	}
}
