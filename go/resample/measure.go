package resample

import (
	"fmt"
	"math"
)

// Quality is what Measure found for one rate pair. All figures come from
// feeding -1 dBFS int16 sine tones through the resampler and analysing the
// rounded int16 output after the filter's warm-up.
type Quality struct {
	From, To     int
	TapsPerPhase int
	Delay        int // output samples

	// GainMinDB and GainMaxDB bound the gain of passband tones (100 Hz ..
	// 0.9 × the lower Nyquist); RippleDB is their difference, i.e. the
	// ripple peak to peak. The bar is RippleDB <= 0.5.
	GainMinDB, GainMaxDB, RippleDB float64

	// RejectionDB is the worst case, over all test tones, of the power of a
	// passband tone over the power of everything in the output that is not
	// that tone: for stopband tones (1.1 × the lower Nyquist .. the input
	// Nyquist, present only when downsampling) the whole output; for
	// passband tones the residual after a least-squares fit of the tone,
	// which holds its images (upsampling) and aliased images (rational
	// ratios). This counts spurious components anywhere in the output band,
	// not only those landing in the passband, and includes the 16-bit
	// rounding noise, so it cannot exceed about 95 dB. RejectionAtHz is
	// the input tone where the worst case was found. The bar is >= 80.
	RejectionDB, RejectionAtHz float64

	// SNR1kDB is a -1 dBFS 1 kHz tone's power over the residual after a
	// least-squares fit of it (noise, distortion, images). The bar is >= 80.
	// 1 kHz divides every rate, so the rounding error repeats with the tone
	// and is partly absorbed by the fit: figures above the ~97 dB of white
	// 16-bit rounding noise come from that, not from the filter.
	SNR1kDB float64
}

// String formats the figures on one line for benchmark logs.
func (q Quality) String() string {
	return fmt.Sprintf("%5d -> %5d Hz: taps/phase %3d, delay %3d, passband %+.4f..%+.4f dB (ripple %.4f dB p-p), rejection %.1f dB (worst at %.0f Hz), 1 kHz SNR %.1f dB",
		q.From, q.To, q.TapsPerPhase, q.Delay, q.GainMinDB, q.GainMaxDB, q.RippleDB, q.RejectionDB, q.RejectionAtHz, q.SNR1kDB)
}

// Measure reports the quality of the resampler New(from, to) makes.
func Measure(from, to int) (Quality, error) {
	if _, err := New(from, to); err != nil {
		return Quality{}, err
	}
	return measure(from, to, func() *Resampler {
		r, _ := New(from, to)
		return r
	}), nil
}

const (
	toneAmp   = 29204.0 // -1 dBFS: 32767 · 10^(-1/20)
	analysisN = 4096    // output samples analysed per tone
	sweepN    = 40      // tones per band
)

// Processor is one stream's converter as MeasureStream sees it: each call
// takes the next input samples and returns the output they produced (state
// carries across calls). The returned slice may be reused by the next call.
type Processor func(in []int16) []int16

// MeasureStream reports the quality of any resampler from -> to with the
// same tones and analysis as Measure, so other implementations (speexdsp, a
// candidate design) can be compared figure for figure. mk returns a fresh
// converter (one per test tone); delay is its latency in output samples, of
// which twice plus 8 are skipped as warm-up before the analysed part. The
// result's TapsPerPhase is 0 (unknown) and its Delay is delay.
func MeasureStream(from, to, delay int, mk func() Processor) Quality {
	return measureProc(from, to, 0, delay, mk)
}

// measure sweeps tones through resamplers made by mk (a fresh one per tone,
// so a test can measure a deliberately poor design the same way).
func measure(from, to int, mk func() *Resampler) Quality {
	r := mk()
	return measureProc(from, to, r.TapsPerPhase(), r.Delay(), func() Processor {
		r := mk()
		var out []int16
		return func(in []int16) []int16 {
			out = r.Process(out[:0], in)
			return out
		}
	})
}

func measureProc(from, to, taps, delay int, mk func() Processor) Quality {
	q := Quality{
		From: from, To: to,
		TapsPerPhase: taps, Delay: delay,
		GainMinDB: math.Inf(1), GainMaxDB: math.Inf(-1),
		RejectionDB: math.Inf(1),
	}
	nyqLow := float64(min(from, to)) / 2
	var in, out []int16
	run := func(f float64) []int16 {
		p := mk()
		// Skip the full filter span (twice the delay) so the analysed part
		// never sees the initial zero history.
		skip := 2*delay + 8
		nIn := int(math.Ceil(float64(skip+analysisN)*float64(from)/float64(to))) + 2
		in = tone(in[:0], nIn, f, float64(from))
		out = append(out[:0], p(in)...)
		for extra := 0; len(out) < skip+analysisN; extra++ {
			// A converter that holds samples back (or rounds its output
			// count down) gets more of the same tone, up to a second
			// (libsoxr keeps back about 100 ms).
			if extra*64 > from {
				panic(fmt.Sprintf("resample: a %d -> %d converter gave %d samples for %d in", from, to, len(out), len(in)))
			}
			n := len(in)
			w := 2 * math.Pi * f / float64(from)
			for i := n; i < n+64; i++ {
				in = append(in, int16(math.Round(toneAmp*math.Sin(w*float64(i)+0.3))))
			}
			out = append(out, p(in[n:])...)
		}
		return out[skip : skip+analysisN]
	}
	worse := func(db, f float64) {
		if db < q.RejectionDB {
			q.RejectionDB, q.RejectionAtHz = db, f
		}
	}

	pbLo, pbHi := 100.0, 0.9*nyqLow
	for i := range sweepN {
		f := pbLo + (pbHi-pbLo)*float64(i)/(sweepN-1)
		if selfImage(f, from, to) {
			continue
		}
		amp, resid := sineFit(run(f), f, float64(to))
		g := 20 * math.Log10(amp/toneAmp)
		q.GainMinDB = min(q.GainMinDB, g)
		q.GainMaxDB = max(q.GainMaxDB, g)
		worse(10*math.Log10(amp*amp/2/resid), f)
	}
	q.RippleDB = q.GainMaxDB - q.GainMinDB

	if from > to {
		sbLo, sbHi := 1.1*nyqLow, 0.995*float64(from)/2
		for i := range sweepN {
			f := sbLo + (sbHi-sbLo)*float64(i)/(sweepN-1)
			var p float64
			for _, v := range run(f) {
				p += float64(v) * float64(v)
			}
			p /= analysisN
			worse(10*math.Log10(toneAmp*toneAmp/2/math.Max(p, 1e-30)), f)
		}
	}

	amp, resid := sineFit(run(1000), 1000, float64(to))
	q.SNR1kDB = 10 * math.Log10(amp*amp/2/resid)
	return q
}

// tone appends n samples of a -1 dBFS sine at f Hz sampled at rate, rounded.
func tone(dst []int16, n int, f, rate float64) []int16 {
	w := 2 * math.Pi * f / rate
	for i := range n {
		dst = append(dst, int16(math.Round(toneAmp*math.Sin(w*float64(i)+0.3))))
	}
	return dst
}

// selfImage reports whether an image of the passband tone f folds to within
// a few analysis bins of f itself, where the fit would mistake it for the
// tone. The images are k·from ± f at the zero-stuffed rate, folded by the
// output rate.
func selfImage(f float64, from, to int) bool {
	l, _ := ratio(from, to)
	half := float64(l*from) / 2
	bin := float64(to) / analysisN
	for k := 0; float64(k*from)-f <= half; k++ {
		for _, v := range []float64{float64(k*from) - f, float64(k*from) + f} {
			if v <= 0 || v > half || (k == 0 && v == f) {
				continue
			}
			a := math.Mod(v, float64(to))
			a = math.Min(a, float64(to)-a)
			if math.Abs(a-f) < 4*bin {
				return true
			}
		}
	}
	return false
}

// sineFit least-squares fits a·cos + b·sin at f Hz (rate Hz) to y and returns
// the fitted amplitude and the mean square of the residual.
func sineFit(y []int16, f, rate float64) (amp, resid float64) {
	w := 2 * math.Pi * f / rate
	var cc, ss, cs, yc, ys float64
	for i, v := range y {
		s, c := math.Sincos(w * float64(i))
		cc += c * c
		ss += s * s
		cs += c * s
		yc += float64(v) * c
		ys += float64(v) * s
	}
	det := cc*ss - cs*cs
	a := (yc*ss - ys*cs) / det
	b := (ys*cc - yc*cs) / det
	for i, v := range y {
		s, c := math.Sincos(w * float64(i))
		e := float64(v) - a*c - b*s
		resid += e * e
	}
	return math.Hypot(a, b), math.Max(resid/float64(len(y)), 1e-30)
}
