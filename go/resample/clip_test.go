package resample

import (
	"math"
	"testing"
)

// A file's rate (44.1 kHz family) to a codec rate: the tone keeps its
// frequency and level, the clip its length, and nothing else is louder than
// 60 dB below the tone (a whole-clip fit, edges included, so laxer than the
// per-pair streaming bar).
func TestClipOddRates(t *testing.T) {
	for _, p := range [][2]int{{44100, 8000}, {22050, 16000}, {11025, 8000}, {44100, 48000}, {96000, 24000}} {
		from, to := p[0], p[1]
		in := tone(nil, from, 1000, float64(from)) // 1 s
		out, err := Clip(in, from, to)
		if err != nil {
			t.Fatalf("%d -> %d: %v", from, to, err)
		}
		if len(out) != to {
			t.Errorf("%d -> %d: %d samples, want %d", from, to, len(out), to)
		}
		// The fit skips the first and last 10 ms: the clip's edges are a step.
		mid := out[to/100 : len(out)-to/100]
		amp, resid := sineFit(mid, 1000, float64(to))
		if math.Abs(amp-toneAmp) > toneAmp*0.01 {
			t.Errorf("%d -> %d: tone amplitude %.0f, want %.0f", from, to, amp, toneAmp)
		}
		if snr := 10 * math.Log10(amp*amp/2/(resid/float64(len(mid)))); snr < 60 {
			t.Errorf("%d -> %d: tone %.1f dB above the rest, want >= 60", from, to, snr)
		}
	}
}

func TestClipRejectsRates(t *testing.T) {
	for _, p := range [][2]int{{7999, 8000}, {8000, 192001}, {0, 8000}} {
		if _, err := Clip(make([]int16, 100), p[0], p[1]); err == nil {
			t.Errorf("Clip %d -> %d accepted", p[0], p[1])
		}
	}
}
