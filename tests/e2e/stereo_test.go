package e2e

import (
	"math"
	"testing"
	"time"
)

// TestStereoAndMixed runs every two-party case at once:
//   - stereo: the caller's 1 kHz on the left only, the callee's 600 Hz on the
//     right only (the other channel at least 60 dB lower at that frequency),
//     with and without resampling;
//   - stereo with no callee at all: the stream keeps flowing for the whole
//     call, the right channel silent;
//   - mixed: both tones in the one channel;
//   - mixed, two full-scale in-phase sines: the sum saturates at
//     +32767/-32768 and never wraps, with and without resampling;
//   - mono, a full-scale square wave resampled up: the filter's overshoot
//     clips, never wraps.
func TestStereoAndMixed(t *testing.T) {
	t.Parallel()
	const dur = 2.0
	type check func(t *testing.T, c *WSConn, r *Result)
	type tc struct {
		name           string
		mix            string
		codec, rate    int
		caller, callee []int16 // nil callee: no --callee
		channels       int
		check          check
		srv            *WSServer
	}
	sine := func(rate int, f, db float64) []int16 { return Sine(rate, f, db, dur) }
	cases := []*tc{
		{name: "stereo-8000", mix: "stereo", codec: 8000, rate: 8000, channels: 2,
			caller: sine(8000, 1000, -6), callee: sine(8000, 600, -6)},
		{name: "stereo-16000-to-48000", mix: "stereo", codec: 16000, rate: 48000, channels: 2,
			caller: sine(16000, 1000, -6), callee: sine(16000, 600, -6)},
		{name: "stereo-no-callee", mix: "stereo", codec: 8000, rate: 16000, channels: 2,
			caller: sine(8000, 1000, -6)},
		{name: "mixed-8000-to-16000", mix: "mixed", codec: 8000, rate: 16000, channels: 1,
			caller: sine(8000, 1000, -10), callee: sine(8000, 600, -10)},
		{name: "mixed-clip-8000", mix: "mixed", codec: 8000, rate: 8000, channels: 1,
			caller: sine(8000, 200, 0), callee: sine(8000, 200, 0)},
		{name: "mixed-clip-8000-to-48000", mix: "mixed", codec: 8000, rate: 48000, channels: 1,
			caller: sine(8000, 200, 0), callee: sine(8000, 200, 0)},
		{name: "mono-square-8000-to-48000", mix: "mono", codec: 8000, rate: 48000, channels: 1,
			caller: Square(8000, 200, dur)},
		{name: "mono-square-16000-to-24000", mix: "mono", codec: 16000, rate: 24000, channels: 1,
			caller: Square(16000, 200, dur)},
	}

	twoTones := func(t *testing.T, c *WSConn, rate int) {
		ch := Deinterleave(c.Audio(), 2)
		left, right := Trim(ch[0], rate, 0.1, 0.1), Trim(ch[1], rate, 0.1, 0.1)
		for _, x := range []struct {
			name       string
			own, other []int16
			f          float64
		}{{"left (caller, 1 kHz)", left, right, 1000}, {"right (callee, 600 Hz)", right, left, 600}} {
			if f := DominantFreq(x.own, rate); math.Abs(f-x.f) > 2 {
				t.Errorf("%s: dominant frequency %.2f Hz, want %.0f", x.name, f, x.f)
			}
			own, other := ToneDBFS(x.own, rate, x.f), ToneDBFS(x.other, rate, x.f)
			if math.Abs(own+6) > 1 {
				t.Errorf("%s: %.0f Hz at %.2f dBFS, want -6 ± 1", x.name, x.f, own)
			}
			if other > own-60 {
				t.Errorf("%s: the other channel has %.0f Hz at %.1f dBFS, only %.1f dB below (want ≥ 60)",
					x.name, x.f, other, own-other)
			}
			t.Logf("%s: %.0f Hz at %.2f dBFS, other channel %.1f dBFS", x.name, x.f, own, other)
		}
	}
	cases[0].check = func(t *testing.T, c *WSConn, r *Result) { twoTones(t, c, 8000) }
	cases[1].check = func(t *testing.T, c *WSConn, r *Result) { twoTones(t, c, 48000) }
	cases[2].check = func(t *testing.T, c *WSConn, r *Result) {
		ch := Deinterleave(c.Audio(), 2)
		checkContinuous(t, ch[0], 16000, -6)
		if f := DominantFreq(Trim(ch[0], 16000, 0.1, 0.1), 16000); math.Abs(f-1000) > 2 {
			t.Errorf("left: dominant frequency %.2f Hz, want 1000", f)
		}
		if l := RMSdBFS(ch[1]); l > -90 {
			t.Errorf("right channel (no callee) at %.1f dBFS, want silence", l)
		}
	}
	cases[3].check = func(t *testing.T, c *WSConn, r *Result) {
		x := Trim(c.Audio(), 16000, 0.1, 0.1)
		for _, f := range []float64{1000, 600} {
			if l := ToneDBFS(x, 16000, f); math.Abs(l+10) > 1 {
				t.Errorf("mixed: %.0f Hz at %.2f dBFS, want -10 ± 1 (both parties in one channel)", f, l)
			}
		}
	}
	// Without resampling the mix is exact: clip(caller + callee), sample for sample.
	cases[4].check = func(t *testing.T, c *WSConn, r *Result) {
		got := c.Audio()
		a, b := cases[4].caller, cases[4].callee
		diffs := 0
		for i := range min(len(got), len(a)) {
			want := int16(max(-32768, min(32767, int32(a[i])+int32(b[i]))))
			if got[i] != want {
				if diffs++; diffs <= 5 {
					t.Errorf("sample %d: %d, want clip(%d + %d) = %d", i, got[i], a[i], b[i], want)
				}
			}
		}
		if diffs > 5 {
			t.Errorf("... %d samples differ from the saturated sum in all", diffs)
		}
		checkSaturates(t, got, 8000)
	}
	cases[5].check = func(t *testing.T, c *WSConn, r *Result) { checkSaturates(t, c.Audio(), 48000) }
	cases[6].check = func(t *testing.T, c *WSConn, r *Result) { checkSaturates(t, c.Audio(), 48000) }
	cases[7].check = func(t *testing.T, c *WSConn, r *Result) { checkSaturates(t, c.Audio(), 24000) }

	sims := make([]Sim, len(cases))
	for i, k := range cases {
		k.srv = NewWSServer(t, nil)
		sims[i] = Sim{
			Config: mustJSON(t, map[string]any{"url": k.srv.URL, "mixType": k.mix, "sampleRate": k.rate}),
			Rate:   k.codec, Caller: WriteWAV(t, "caller.wav", k.codec, k.caller), QuietLog: true,
		}
		if k.callee != nil {
			sims[i].Callee = WriteWAV(t, "callee.wav", k.codec, k.callee)
		}
	}
	results := RunSims(t, sims)
	for i, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup", call.ReasonString())
			}
			c := k.srv.WaitDone(t, 1, 5*time.Second)[0]
			checkWireFrames(t, c, k.rate, k.channels)
			if n, want := len(c.BinaryFrames()), int(dur*50); n < want-1 || n > want+1 {
				t.Errorf("%d audio frames for a %.0f s call, want %d ± 1", n, dur, want)
			}
			k.check(t, c, r)
		})
	}
}

// checkSaturates fails if x (a loud signal of 200 Hz or lower at rate)
// wraps around instead of clipping, or never reaches full scale on both
// sides (the input is loud enough that it must). A wrapped sample flips sign
// at full scale: it shows as a run of opposite sign, shorter than 1 ms, with
// a sample beyond ±8192 in it, where the signal itself only changes sign at
// its zero crossings, 2.5 ms or more apart.
func checkSaturates(t *testing.T, x []int16, rate int) {
	t.Helper()
	wraps := findWraps(x, rate)
	if len(wraps) > 0 {
		for _, w := range wraps[:min(5, len(wraps))] {
			lo, hi := max(0, w-2), min(len(x), w+3)
			t.Errorf("sample %d: %v around it: wrapped around instead of clipping", w, x[lo:hi])
		}
		t.Errorf("%d wraps in all", len(wraps))
	}
	var lo, hi int16
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi != 32767 || lo != -32768 {
		t.Errorf("peaks %d / %d, want the loud signal to saturate at 32767 / -32768", hi, lo)
	}
	t.Logf("peaks %d / %d, %d samples, %d wraps", hi, lo, len(x), len(wraps))
}

// findWraps returns the start of every short, loud run of one sign between
// runs of the other sign (see checkSaturates).
func findWraps(x []int16, rate int) []int {
	sign := func(v int16) int {
		switch {
		case v > 0:
			return 1
		case v < 0:
			return -1
		}
		return 0
	}
	short := rate / 1000
	var wraps []int
	runStart, prevSign := 0, 0
	for i := 0; i <= len(x); i++ {
		s := 0
		if i < len(x) {
			s = sign(x[i])
		}
		if i < len(x) && (s == sign(x[runStart]) || s == 0 && sign(x[runStart]) == 0) {
			continue
		}
		// The run [runStart, i) has ended.
		rs := sign(x[runStart])
		if rs != 0 && runStart > 0 && i < len(x) && prevSign == -rs && s == -rs && i-runStart < short {
			loud := false
			for _, v := range x[runStart:i] {
				loud = loud || v > 8192 || v < -8192
			}
			if loud {
				wraps = append(wraps, runStart)
			}
		}
		if rs != 0 {
			prevSign = rs
		}
		runStart = i
	}
	return wraps
}

func TestFindWraps(t *testing.T) {
	t.Parallel()
	// A clipped sine as it should be, then the same with int16 wrap-around.
	x := Sine(48000, 200, 3, 0.05) // peaks at 46286: clipped by Sine
	if w := findWraps(x, 48000); len(w) != 0 {
		t.Fatalf("clipped sine: wraps at %v", w)
	}
	y := make([]int16, len(x))
	for i := range y {
		v := 46286 * math.Sin(2*math.Pi*200*float64(i)/48000)
		y[i] = int16(int32(v)) // wraps
	}
	if w := findWraps(y, 48000); len(w) < 10 {
		t.Fatalf("wrapped sine: %d wraps found", len(w))
	}
	if w := findWraps(Square(8000, 200, 0.1), 8000); len(w) != 0 {
		t.Fatalf("square: wraps at %v", w)
	}
}
