package e2e

import (
	"math"
	"math/cmplx"
	"os"
	"path/filepath"
	"testing"

	"github.com/modlisten/mod_listen/go/wav"
)

// Levels in this package are in dBFS relative to a full-scale sine: a sine
// of peak amplitude 32767 is 0 dBFS, so a sine of peak A is 20·log10(A/32767)
// dBFS, whether measured by its RMS (RMSdBFS) or by its spectral line
// (ToneDBFS). A full-scale square wave measures +3 dBFS by RMS.
const fullScale = 32767.0

// silentDB stands for the level of digital silence (log of zero).
const silentDB = -200.0

// Amplitude is the peak amplitude of a sine at level dBFS.
func Amplitude(dBFS float64) float64 { return fullScale * math.Pow(10, dBFS/20) }

// Sine returns dur seconds of a sine of freq Hz at level dBFS (peak
// Amplitude(dBFS)), starting at phase 0, rounded to 16 bits.
func Sine(rate int, freq, dBFS, dur float64) []int16 {
	n := int(math.Round(dur * float64(rate)))
	a := Amplitude(dBFS)
	out := make([]int16, n)
	for i := range out {
		v := math.Round(a * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		out[i] = int16(math.Max(-32768, math.Min(32767, v)))
	}
	return out
}

// Square returns dur seconds of a full-scale square wave of freq Hz
// (+32767 / -32768), the worst case for a resampler's overshoot.
func Square(rate int, freq, dur float64) []int16 {
	n := int(math.Round(dur * float64(rate)))
	out := make([]int16, n)
	for i := range out {
		if math.Sin(2*math.Pi*freq*(float64(i)+0.5)/float64(rate)) >= 0 {
			out[i] = 32767
		} else {
			out[i] = -32768
		}
	}
	return out
}

// WriteWAV writes mono 16-bit samples as a WAV file in the test's temp dir
// and returns its path.
func WriteWAV(t testing.TB, name string, rate int, samples []int16) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, wav.Encode(rate, 1, samples), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Deinterleave splits interleaved samples into channels (a trailing partial
// sample group is dropped).
func Deinterleave(x []int16, channels int) [][]int16 {
	out := make([][]int16, channels)
	n := len(x) / channels
	for ch := range out {
		out[ch] = make([]int16, n)
		for i := 0; i < n; i++ {
			out[ch][i] = x[i*channels+ch]
		}
	}
	return out
}

// Trim drops head and tail seconds from both ends (filter transients, the
// padded last frame); it returns nil if nothing is left.
func Trim(x []int16, rate int, head, tail float64) []int16 {
	a, b := int(head*float64(rate)), len(x)-int(tail*float64(rate))
	if a >= b {
		return nil
	}
	return x[a:b]
}

// RMSdBFS is the RMS level of x in dBFS (see fullScale): 20·log10(rms·√2/32767).
func RMSdBFS(x []int16) float64 {
	if len(x) == 0 {
		return silentDB
	}
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	rms := math.Sqrt(sum / float64(len(x)))
	if rms == 0 {
		return silentDB
	}
	return 20 * math.Log10(rms*math.Sqrt2/fullScale)
}

// blackmanHarris is the 4-term Blackman-Harris window (side lobes below
// -92 dB), so a tone's leakage does not mask a quiet one elsewhere.
func blackmanHarris(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		x := 2 * math.Pi * float64(i) / float64(n-1)
		w[i] = 0.35875 - 0.48829*math.Cos(x) + 0.14128*math.Cos(2*x) - 0.01168*math.Cos(3*x)
	}
	return w
}

// dtft is the windowed spectrum of x at freq Hz, normalised so that a sine
// of peak A at exactly freq gives |dtft| = A.
func dtft(x []int16, w []float64, rate int, freq float64) complex128 {
	var re, im, sw float64
	step := 2 * math.Pi * freq / float64(rate)
	// Rotate a phasor instead of calling sin/cos per sample; renormalise
	// now and then against drift.
	c, s := 1.0, 0.0
	dc, ds := math.Cos(step), math.Sin(step)
	for i, v := range x {
		f := float64(v) * w[i]
		re += f * c
		im -= f * s
		sw += w[i]
		c, s = c*dc-s*ds, s*dc+c*ds
		if i&1023 == 1023 {
			c, s = math.Cos(step*float64(i+1)), math.Sin(step*float64(i+1))
		}
	}
	return complex(2*re/sw, 2*im/sw)
}

// ToneDBFS is the level in dBFS of the spectral line at freq Hz in x
// (Blackman-Harris windowed, evaluated exactly at freq, so a tone there is
// measured without scalloping loss).
func ToneDBFS(x []int16, rate int, freq float64) float64 {
	if len(x) < 2 {
		return silentDB
	}
	a := cmplx.Abs(dtft(x, blackmanHarris(len(x)), rate, freq))
	if a == 0 {
		return silentDB
	}
	return 20 * math.Log10(a/fullScale)
}

// DominantFreq returns the frequency (Hz) of the strongest spectral line of
// x above 20 Hz: a power-of-two FFT (at most 65536 points, from the middle
// of x) finds the peak bin, then a golden-section search of the windowed
// spectrum between the neighbouring bins finds the peak to a small fraction
// of a bin. Returns 0 for silence.
func DominantFreq(x []int16, rate int) float64 {
	n := 1
	for n*2 <= len(x) && n < 65536 {
		n *= 2
	}
	if n < 64 {
		return 0
	}
	seg := x[(len(x)-n)/2:][:n]
	w := blackmanHarris(n)
	buf := make([]complex128, n)
	for i, v := range seg {
		buf[i] = complex(float64(v)*w[i], 0)
	}
	fft(buf)
	binHz := float64(rate) / float64(n)
	lo := int(20/binHz) + 1
	best, bestMag := -1, 0.0
	for k := lo; k < n/2; k++ {
		if m := cmplx.Abs(buf[k]); m > bestMag {
			best, bestMag = k, m
		}
	}
	if best < 0 || bestMag == 0 {
		return 0
	}
	mag := func(f float64) float64 { return cmplx.Abs(dtft(seg, w, rate, f)) }
	a, b := (float64(best)-1)*binHz, (float64(best)+1)*binHz
	g := (math.Sqrt(5) - 1) / 2
	c, d := b-g*(b-a), a+g*(b-a)
	fc, fd := mag(c), mag(d)
	for b-a > binHz*1e-4 {
		if fc > fd {
			b, d, fd = d, c, fc
			c = b - g*(b-a)
			fc = mag(c)
		} else {
			a, c, fc = c, d, fd
			d = a + g*(b-a)
			fd = mag(d)
		}
	}
	return (a + b) / 2
}

// fft is an in-place iterative radix-2 FFT; len(x) is a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			wk := complex(1, 0)
			for k := 0; k < size/2; k++ {
				u, v := x[start+k], x[start+k+size/2]*wk
				x[start+k], x[start+k+size/2] = u+v, u-v
				wk *= step
			}
		}
	}
}

// TestSignalHelpers checks the analysis helpers on known signals, so a
// failure elsewhere is the engine's and not the yardstick's.
func TestSignalHelpers(t *testing.T) {
	t.Parallel()
	for _, rate := range []int{8000, 16000, 48000, 64000} {
		for _, f := range []float64{600, 1000, 1234.5} {
			x := Sine(rate, f, -6, 1)
			if got := DominantFreq(x, rate); math.Abs(got-f) > 0.05 {
				t.Errorf("DominantFreq(%g Hz at %d) = %.4f", f, rate, got)
			}
			if got := RMSdBFS(x); math.Abs(got+6) > 0.01 {
				t.Errorf("RMSdBFS(-6 dBFS sine) = %.3f", got)
			}
			if got := ToneDBFS(x, rate, f); math.Abs(got+6) > 0.01 {
				t.Errorf("ToneDBFS(-6 dBFS sine, %g Hz at %d) = %.3f", f, rate, got)
			}
			if got := ToneDBFS(x, rate, f+400); got > -100 {
				t.Errorf("ToneDBFS 400 Hz off a -6 dBFS %g Hz sine at %d = %.1f dBFS, want < -100", f, rate, got)
			}
		}
	}
	st := Deinterleave([]int16{1, -1, 2, -2, 3, -3, 4}, 2)
	if len(st[0]) != 3 || st[0][2] != 3 || st[1][2] != -3 {
		t.Errorf("Deinterleave = %v", st)
	}
	if got := RMSdBFS(Square(8000, 200, 1)); math.Abs(got-3.01) > 0.02 {
		t.Errorf("RMSdBFS(full-scale square) = %.3f, want +3.01", got)
	}
	if RMSdBFS(make([]int16, 100)) != silentDB || ToneDBFS(make([]int16, 100), 8000, 1000) != silentDB {
		t.Error("silence is not silentDB")
	}
}
