package resample

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func mustNew(t testing.TB, from, to int) *Resampler {
	t.Helper()
	r, err := New(from, to)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pairs() (p [][2]int) {
	for _, a := range Rates {
		for _, b := range Rates {
			p = append(p, [2]int{a, b})
		}
	}
	return p
}

// noise is a loud pseudo-random signal: it exercises every phase with
// full-range values, so any state-handling slip changes the output.
func noise(n int, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(rng.IntN(1<<16) - 1<<15)
	}
	return s
}

func TestNewRejectsRates(t *testing.T) {
	for _, p := range [][2]int{{8000, 44100}, {11025, 8000}, {0, 8000}, {16000, -16000}} {
		_, err := New(p[0], p[1])
		if err == nil {
			t.Fatalf("New(%d, %d) accepted", p[0], p[1])
		}
		if !strings.Contains(err.Error(), "64000") {
			t.Errorf("error %q does not name the allowed rates", err)
		}
	}
}

// TestQuality is the quality bar of the package comment, for every pair.
func TestQuality(t *testing.T) {
	var wg sync.WaitGroup
	qs := make([]Quality, len(pairs()))
	for i, p := range pairs() {
		wg.Go(func() {
			q, err := Measure(p[0], p[1])
			if err != nil {
				t.Error(err)
			}
			qs[i] = q
		})
	}
	wg.Wait()
	for _, q := range qs {
		t.Log(q)
		if q.RippleDB > 0.5 || math.IsNaN(q.RippleDB) {
			t.Errorf("%d -> %d: passband ripple %.3f dB p-p > 0.5", q.From, q.To, q.RippleDB)
		}
		if math.Abs(q.GainMinDB) > 0.25 || math.Abs(q.GainMaxDB) > 0.25 {
			t.Errorf("%d -> %d: passband gain %.3f..%.3f dB strays from 0", q.From, q.To, q.GainMinDB, q.GainMaxDB)
		}
		if !(q.RejectionDB >= 80) {
			t.Errorf("%d -> %d: rejection %.1f dB < 80 (at %.0f Hz)", q.From, q.To, q.RejectionDB, q.RejectionAtHz)
		}
		if !(q.SNR1kDB >= 80) {
			t.Errorf("%d -> %d: 1 kHz SNR %.1f dB < 80", q.From, q.To, q.SNR1kDB)
		}
	}
}

// TestMeasureCatchesPoorFilter proves the measurement can fail: a short,
// weakly windowed filter (8 taps per phase, Kaiser beta 3) must be reported
// below the bar.
func TestMeasureCatchesPoorFilter(t *testing.T) {
	for _, p := range [][2]int{{8000, 16000}, {16000, 8000}, {16000, 24000}, {48000, 8000}} {
		f := design(p[0], p[1], 8, 3)
		q := measure(p[0], p[1], func() *Resampler { return newWith(f) })
		t.Log(q)
		if q.RejectionDB >= 80 {
			t.Errorf("%d -> %d: poor filter measured %.1f dB rejection", p[0], p[1], q.RejectionDB)
		}
		// Its transition band is so wide it droops into the passband.
		if q.RippleDB <= 0.5 {
			t.Errorf("%d -> %d: poor filter measured %.2f dB ripple", p[0], p[1], q.RippleDB)
		}
	}
	// Too few taps for an upsampler also leaves images beside the 1 kHz tone.
	f := design(8000, 48000, 4, 2)
	if q := measure(8000, 48000, func() *Resampler { return newWith(f) }); q.SNR1kDB >= 80 {
		t.Errorf("poor 8000 -> 48000 filter measured %.1f dB SNR", q.SNR1kDB)
	}
}

func TestMeasureRejectsRates(t *testing.T) {
	if _, err := Measure(8000, 44100); err == nil {
		t.Fatal("Measure accepted 44100 Hz")
	}
}

// TestStreaming checks frame-by-frame output equals one-shot output, for
// 160-sample frames, 20 ms frames at the input rate and ragged pieces.
func TestStreaming(t *testing.T) {
	in := noise(48000, 7)
	for _, p := range pairs() {
		r := mustNew(t, p[0], p[1])
		whole := r.Process(nil, in)
		whole = r.Flush(whole)
		if want := r.MaxOut(len(in)) + r.Delay(); len(whole) != want {
			t.Fatalf("%v: clip gave %d samples, want MaxOut+Delay = %d", p, len(whole), want)
		}
		rng := rand.New(rand.NewPCG(uint64(p[0]), uint64(p[1])))
		for _, chunk := range []func() int{
			func() int { return 160 },
			func() int { return p[0] / 50 },
			func() int { return rng.IntN(400) },
		} {
			var got []int16
			for rest := in; len(rest) > 0; {
				n := min(chunk(), len(rest))
				before := len(got)
				got = r.Process(got, rest[:n])
				if len(got)-before > r.MaxOut(n) {
					t.Fatalf("%v: %d samples in gave %d out, MaxOut says %d", p, n, len(got)-before, r.MaxOut(n))
				}
				rest = rest[n:]
			}
			got = r.Flush(got)
			if !slices.Equal(got, whole) {
				i := 0
				for i < min(len(got), len(whole)) && got[i] == whole[i] {
					i++
				}
				t.Fatalf("%v: chunked output differs from one-shot at %d (lengths %d, %d)", p, i, len(got), len(whole))
			}
		}
	}
}

// TestPassthrough: equal rates copy samples unchanged with no delay.
func TestPassthrough(t *testing.T) {
	in := noise(1000, 3)
	for _, rate := range Rates {
		r := mustNew(t, rate, rate)
		out := r.Process([]int16{42}, in)
		if out[0] != 42 || !slices.Equal(out[1:], in) || r.Delay() != 0 || len(r.Flush(nil)) != 0 {
			t.Fatalf("%d Hz passthrough altered the signal", rate)
		}
	}
}

// TestDelay checks that Delay aligns output with input: a low tone delayed
// by Delay output samples matches the ideal resampled tone to within
// rounding.
func TestDelay(t *testing.T) {
	const f, amp = 440.0, 20000.0
	for _, p := range pairs() {
		from, to := float64(p[0]), float64(p[1])
		in := make([]int16, p[0]/10)
		for i := range in {
			in[i] = int16(math.Round(amp * math.Sin(2*math.Pi*f*float64(i)/from)))
		}
		r := mustNew(t, p[0], p[1])
		out := r.Flush(r.Process(nil, in))
		d := r.Delay()
		out = out[d:]
		// Stay clear of both ends, where the clip's edges ring.
		var worst float64
		for n := 2 * d; n < len(out)-2*d; n++ {
			want := amp * math.Sin(2*math.Pi*f*float64(n)/to)
			worst = max(worst, math.Abs(float64(out[n])-want))
		}
		if worst > 3 {
			t.Errorf("%v: delayed output strays %.1f LSB from the ideal tone (delay %d)", p, worst, d)
		}
	}
}

// TestUpsampleKeepsSamples: upsampling by an integer factor reproduces the
// input samples exactly at every L-th output (the Nyquist-filter property
// the delta phase relies on).
func TestUpsampleKeepsSamples(t *testing.T) {
	in := noise(2000, 5)
	for _, to := range []int{16000, 24000, 32000, 48000, 64000} {
		r := mustNew(t, 8000, to)
		l := to / 8000
		out := r.Process(nil, in)
		d := r.Delay()
		for i, s := range in {
			if j := i*l + d; j < len(out) && out[j] != s {
				t.Fatalf("8000 -> %d: output %d = %d, want input %d = %d", to, j, out[j], i, s)
			}
		}
	}
}

func TestSaturates(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int16
	}{
		{0, 0}, {0.49, 0}, {0.5, 1}, {-0.49, 0}, {-0.51, -1}, {-1.5, -1},
		{1.5, 2}, {32766.4, 32766}, {32766.6, 32767}, {32767.4, 32767},
		{40000, 32767}, {1e30, 32767}, {-32767.6, -32768}, {-32768.4, -32768},
		{-40000, -32768}, {-1e30, -32768},
	} {
		if got := toInt16(c.in); got != c.want {
			t.Errorf("toInt16(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	// A full-scale square wave overshoots (Gibbs) past full scale: the peaks
	// must clip at the rails, never wrap to the other sign.
	in := make([]int16, 800)
	for i := range in {
		in[i] = math.MaxInt16
		if i/20%2 == 1 {
			in[i] = math.MinInt16
		}
	}
	r := mustNew(t, 8000, 48000)
	out := r.Process(nil, in)[r.Delay():]
	sawRail := false
	for n, v := range out {
		i := n / 6 // input index this output is aligned with
		if i%20 < 3 || i%20 > 16 || i < 20 {
			continue // near an edge or in the warm-up
		}
		if (in[i] > 0) != (v > 0) {
			t.Fatalf("output %d = %d has the wrong sign: wrapped", n, v)
		}
		sawRail = sawRail || v == math.MaxInt16 || v == math.MinInt16
	}
	if !sawRail {
		t.Error("the square wave never reached the rails; test does not exercise saturation")
	}
}

func TestReset(t *testing.T) {
	in := noise(500, 9)
	r := mustNew(t, 16000, 48000)
	first := r.Process(nil, in)
	r.Process(nil, noise(333, 10))
	r.Reset()
	if again := r.Process(nil, in); !slices.Equal(first, again) {
		t.Fatal("Reset left state behind")
	}
}

// TestDecimatorLayout: the per-residue decimator must be in use for every
// plain decimation and agree with the generic polyphase path on the same
// taps (to within a rounding step: the sums are ordered differently).
func TestDecimatorLayout(t *testing.T) {
	in := noise(9600, 11)
	for _, p := range pairs() {
		r := mustNew(t, p[0], p[1])
		if r.f == nil || r.f.l != 1 {
			continue
		}
		if r.f.rcoefs == nil {
			t.Errorf("%v: decimator does not use the per-residue layout", p)
			continue
		}
		generic := *r.f
		generic.rcoefs = nil
		g := newWith(&generic)
		a, b := r.Process(nil, in), g.Process(nil, in)
		if len(a) != len(b) {
			t.Fatalf("%v: %d samples vs %d from the generic path", p, len(a), len(b))
		}
		for i := range a {
			if d := int(a[i]) - int(b[i]); d < -1 || d > 1 {
				t.Fatalf("%v: sample %d is %d, generic path %d", p, i, a[i], b[i])
			}
		}
	}
}

// TestSharedFilter: streams of one pair share the designed table.
func TestSharedFilter(t *testing.T) {
	a, b := mustNew(t, 8000, 48000), mustNew(t, 8000, 48000)
	if a.f != b.f {
		t.Fatal("the filter is designed per stream, not per pair")
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	for _, p := range [][2]int{{8000, 16000}, {8000, 48000}, {16000, 8000}, {48000, 8000}, {16000, 16000}} {
		r := mustNew(t, p[0], p[1])
		in := noise(p[0]/50, 1)
		dst := make([]int16, 0, r.MaxOut(len(in)))
		if n := testing.AllocsPerRun(100, func() { dst = r.Process(dst[:0], in) }); n != 0 {
			t.Errorf("%v: Process allocates %.1f times per 20 ms frame", p, n)
		}
	}
}

var benchPairs = [][2]int{
	{8000, 16000}, {8000, 24000}, {8000, 48000}, {8000, 64000},
	{16000, 8000}, {16000, 24000}, {16000, 48000}, {16000, 64000},
	{48000, 8000}, {48000, 16000},
	{24000, 8000}, {32000, 8000}, {64000, 8000},
}

// BenchmarkProcess times one 20 ms frame; ns/op is ns per frame.
func BenchmarkProcess(b *testing.B) {
	for _, p := range benchPairs {
		b.Run(fmt.Sprintf("%d-%d", p[0], p[1]), func(b *testing.B) {
			r := mustNew(b, p[0], p[1])
			in := noise(p[0]/50, 1)
			dst := make([]int16, 0, r.MaxOut(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Process(dst[:0], in)
			}
		})
	}
}
