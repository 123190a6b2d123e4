// Package resample converts mono 16-bit PCM between the rates the engine
// meets (8, 16, 24, 32, 48 and 64 kHz), frame by frame or for whole clips.
//
// The converter is a rational-ratio polyphase FIR: conceptually the input is
// zero-stuffed by L, low-pass filtered at the lower of the two Nyquist
// frequencies and kept every M-th sample, where L/M = to/from in lowest
// terms; each output costs only the K taps that meet real (not stuffed)
// samples, fewer for the delta phase and decimators. The prototype is
// a Kaiser-windowed sinc designed in Go the first time a rate pair is used;
// the table is immutable and shared by every stream of that pair, so a stream
// costs only its history (2·K float32).
//
// Quality, as measured by Measure and enforced by the package tests for every
// pair: passband (100 Hz .. 0.9 × the lower Nyquist) flat within 0.5 dB peak
// to peak; everything that is not the wanted tone (aliases, images, rounding
// noise) at least 80 dB below it; a -1 dBFS 1 kHz tone at least 80 dB above
// everything else after rounding to 16 bits. The band from 0.9 to 1.1 × the
// lower Nyquist is the transition band and is not constrained.
package resample

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// Rates are the sample rates New accepts, in Hz.
var Rates = []int{8000, 16000, 24000, 32000, 48000, 64000}

// stopbandDB is the Kaiser design target. The bar is 80 dB measured after
// 16-bit rounding, which adds its own floor near -95 dB; 86 measures at 86.6
// or better on every pair (88 and 90 gain at most a dB, for 4-8% more taps,
// 84 drops to 82.5).
const stopbandDB = 86

// transition is the transition band's width as a fraction of the lower of the
// two rates: 0.9 .. 1.1 × the lower Nyquist.
const transition = 0.1

// filter is the designed polyphase table for one rate pair. It is never
// written after construction, so any number of Resamplers may share it.
type filter struct {
	l, m int // to/from = l/m in lowest terms
	k    int // taps per phase = history length
	// coefs holds phase p at [p*k, p*k+k), reversed so that index k-1
	// multiplies the newest sample: the inner loop walks both forwards.
	coefs []float32
	// delta[p] >= 0 marks a phase whose only non-zero tap is 1 at that
	// history index. With the cut-off at the lower Nyquist the prototype is a
	// Nyquist filter, so when upsampling one phase in L reproduces the input
	// samples exactly and needs no multiplies.
	delta []int
	delay int // group delay in output samples

	// Plain decimators (l == 1) are also laid out by input residue: with the
	// cut-off at the output Nyquist every m-th tap from the centre is zero,
	// so splitting the taps into m interleaved sub-filters leaves one that
	// is only the centre tap. Ring r (kr taps, at rcoefs[r*kr:], reversed)
	// filters the inputs i ≡ -r mod m; ring cring is skipped and its single
	// tap ccoef, at window index cidx, applied directly. That saves 1/m of
	// the multiplies: half of them for the common halving. nil otherwise.
	rcoefs      []float32
	kr          int
	cring, cidx int
	ccoef       float32
}

// Resampler converts one stream. It is not safe for concurrent use; give
// each stream its own (they share the filter table).
type Resampler struct {
	f *filter // nil when from == to
	// hist is the input history as float32, converted once per sample: one
	// ring of 2k, or for the per-residue decimator m rings of 2·kr. Each
	// sample is stored twice, a ring length apart, so the window of the
	// latest samples is always contiguous at ring[pos:pos+len] and never
	// needs shifting.
	hist []float32
	pos  int // next write index within a ring
	// acc is (output index)·M − (newest input index)·L: the phase of the next
	// output while it is below L, otherwise how far that output lies beyond
	// the input seen so far.
	acc int
}

var cache struct {
	sync.Mutex
	m map[[2]int]*filter
}

// New returns a resampler from rate from to rate to (Hz), both in Rates.
// Equal rates give a passthrough with no delay.
func New(from, to int) (*Resampler, error) {
	if !slices.Contains(Rates, from) || !slices.Contains(Rates, to) {
		return nil, fmt.Errorf("resample: unsupported rate pair %d -> %d Hz (allowed: %v)", from, to, Rates)
	}
	return newPair(from, to), nil
}

// newPair is New without the check of the rates: the design works for any
// ratio, but a pair of large coprime rates (44100 -> 8000 is 80/441) costs
// thousands of taps per output, fine for a whole clip and not per frame.
func newPair(from, to int) *Resampler {
	if from == to {
		return &Resampler{}
	}
	cache.Lock()
	f := cache.m[[2]int{from, to}]
	if f == nil {
		k, beta := designParams(from, to, stopbandDB)
		f = design(from, to, k, beta)
		if cache.m == nil {
			cache.m = make(map[[2]int]*filter)
		}
		cache.m[[2]int{from, to}] = f
	}
	cache.Unlock()
	return newWith(f)
}

func newWith(f *filter) *Resampler {
	return &Resampler{f: f, hist: make([]float32, 2*f.k)}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func ratio(from, to int) (l, m int) {
	g := gcd(from, to)
	return to / g, from / g
}

// designParams picks the taps per phase and Kaiser beta for a stopband of
// atten dB with the package's transition band (Kaiser's estimates).
func designParams(from, to int, atten float64) (k int, beta float64) {
	l, m := ratio(from, to)
	z := max(l, m)
	// Transition width in cycles per sample at the zero-stuffed rate l·from.
	dw := 2 * math.Pi * transition / float64(z)
	n := int(math.Ceil((atten-7.95)/(2.285*dw))) + 1
	k = (n + l - 1) / l
	// k a multiple of 4 spares the dot product its scalar tail (and is what
	// the figures in the package tests were measured with); k·l a multiple
	// of 2m puts the centre tap on an integer output delay,
	// which also makes it land on a prototype tap (k·l even).
	for k%4 != 0 || (k*l)%(2*m) != 0 {
		k++
	}
	return k, 0.1102 * (atten - 8.7)
}

// design builds the polyphase table with k taps per phase and Kaiser beta.
func design(from, to, k int, beta float64) *filter {
	l, m := ratio(from, to)
	z := max(l, m)
	n := k * l
	c := n / 2 // centre tap; the window is symmetric about it
	h := make([]float64, n)
	i0b := besselI0(beta)
	for i := range h {
		t := i - c
		var s float64
		switch {
		case t == 0:
			s = 1
		case t%z == 0:
			// Exact zeros, not sin(kπ)'s 1e-16: the delta phase is found
			// by testing for them.
			s = 0
		default:
			x := math.Pi * float64(t) / float64(z)
			s = math.Sin(x) / x
		}
		r := float64(t) / float64(c)
		h[i] = s * besselI0(beta*math.Sqrt(max(0, 1-r*r))) / i0b
	}
	f := &filter{
		l: l, m: m, k: k,
		coefs: make([]float32, l*k),
		delta: make([]int, l),
		delay: n / (2 * m),
	}
	for p := range l {
		// Each phase is scaled to unit DC gain so a constant input gives a
		// constant output (no image at the input rate from phase mismatch).
		var sum float64
		for j := range k {
			sum += h[p+j*l]
		}
		nonzero, at := 0, -1
		row := f.coefs[p*k : p*k+k]
		for j := range k {
			v := h[p+j*l] / sum
			row[k-1-j] = float32(v)
			if v != 0 {
				nonzero++
				at = k - 1 - j
			}
		}
		f.delta[p] = -1
		if nonzero == 1 && row[at] == 1 {
			f.delta[p] = at
		}
	}
	if l == 1 && m > 1 && k%m == 0 {
		f.splitRings()
	}
	return f
}

// splitRings fills the decimator's per-residue layout, unless the residue
// holding the centre tap has other non-zero taps (then the generic path
// stays in use).
func (f *filter) splitRings() {
	k, m := f.k, f.m
	kr := k / m
	c := k / 2 // the centre tap's index in coefs (reversed: k-1-c)
	rc := make([]float32, k)
	for r := range m {
		for j := range kr {
			// Tap r+j·m multiplies the input r+j·m samples back, which
			// ring r holds j places before its newest.
			rc[r*kr+kr-1-j] = f.coefs[k-1-(r+j*m)]
		}
	}
	cring, cj := c%m, c/m
	for j := range kr {
		if j != cj && rc[cring*kr+kr-1-j] != 0 {
			return
		}
	}
	f.rcoefs, f.kr = rc, kr
	f.cring, f.cidx = cring, kr-1-cj
	f.ccoef = rc[cring*kr+f.cidx]
}

// besselI0 is the modified Bessel function of the first kind, order 0, by
// its power series (converges quickly for the beta values used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for i := 1; term > sum*1e-17; i++ {
		term *= q / float64(i*i)
		sum += term
	}
	return sum
}

// MaxOut returns an upper bound on the samples Process appends for n input
// samples. Flush appends exactly Delay samples.
func (r *Resampler) MaxOut(n int) int {
	if r.f == nil {
		return n
	}
	return (n*r.f.l + r.f.m - 1) / r.f.m
}

// Delay returns the filter's group delay in output samples: output sample
// i+Delay() corresponds to input time i/to. Zero for a passthrough.
func (r *Resampler) Delay() int {
	if r.f == nil {
		return 0
	}
	return r.f.delay
}

// TapsPerPhase returns the FIR length per output sample (0 for a
// passthrough): the multiply count per output, bar the delta phase.
func (r *Resampler) TapsPerPhase() int {
	if r.f == nil {
		return 0
	}
	return r.f.k
}

// Reset forgets the stream's history, as if newly made.
func (r *Resampler) Reset() {
	clear(r.hist)
	r.pos, r.acc = 0, 0
}

// Process resamples in and appends the result to dst, returning it. State
// carries across calls, so feeding a signal in pieces of any size gives the
// same samples as feeding it at once. It does not allocate when
// cap(dst)-len(dst) >= MaxOut(len(in)). Output is rounded to nearest (ties
// upward) and saturated to the int16 range.
func (r *Resampler) Process(dst, in []int16) []int16 {
	f := r.f
	if f == nil {
		return append(dst, in...)
	}
	n0 := len(dst)
	dst = slices.Grow(dst, r.MaxOut(len(in)))
	out := dst[n0:cap(dst)]
	if f.rcoefs != nil {
		return dst[:n0+r.decimate(out, in)]
	}
	o := 0
	k, l, m := f.k, f.l, f.m
	hist, coefs, delta := r.hist[:2*k], f.coefs[:l*k], f.delta[:l]
	pos, acc := r.pos, r.acc
	for _, s := range in {
		x := float32(s)
		hist[pos] = x
		hist[pos+k] = x
		pos++
		if pos == k {
			pos = 0
		}
		win := hist[pos : pos+k]
		for ; acc < l; acc += m {
			var y float32
			if d := delta[acc]; d >= 0 {
				y = win[d]
			} else {
				y = dot(coefs[acc*k:acc*k+k], win)
			}
			out[o] = toInt16(y)
			o++
		}
		acc -= l
	}
	r.pos, r.acc = pos, acc
	return dst[:n0+o]
}

// decimate is Process for filters with the per-residue layout; it writes to
// out and returns the count. acc is the ring the next input goes to: m-1
// down to 0, and an output is due after ring 0 — the same values the generic
// path's acc takes when l == 1, so MaxOut holds unchanged.
func (r *Resampler) decimate(out, in []int16) int {
	f := r.f
	kr, m := f.kr, f.m
	hist, rcoefs := r.hist[:2*f.k], f.rcoefs[:f.k]
	pos, acc := r.pos, r.acc
	o := 0
	for _, s := range in {
		x := float32(s)
		h := hist[2*kr*acc : 2*kr*acc+2*kr]
		h[pos] = x
		h[pos+kr] = x
		if acc > 0 {
			acc--
			continue
		}
		acc = m - 1
		pos++
		if pos == kr {
			pos = 0
		}
		y := f.ccoef * hist[2*kr*f.cring+pos+f.cidx]
		for ring := range m {
			if ring != f.cring {
				w := hist[2*kr*ring+pos : 2*kr*ring+pos+kr]
				y += dot(rcoefs[ring*kr:ring*kr+kr], w)
			}
		}
		out[o] = toInt16(y)
		o++
	}
	r.pos, r.acc = pos, acc
	return o
}

// Flush appends the last Delay samples, produced by feeding silence, so a
// clip's end is not cut off, and then resets the resampler for the next clip.
// For a clip of n samples, Process followed by Flush yields MaxOut(n)+Delay
// samples of which the first Delay are the filter's warm-up.
func (r *Resampler) Flush(dst []int16) []int16 {
	f := r.f
	if f == nil {
		return dst
	}
	var zeros [64]int16
	for want := len(dst) + f.delay; len(dst) < want; {
		// Feed just enough silence that the last call ends on the wanted
		// count; the state is discarded afterwards anyway.
		left := want - len(dst)
		n := min(len(zeros), max(1, (left*f.m)/f.l))
		dst = r.Process(dst, zeros[:n])
		if len(dst) > want {
			dst = dst[:want]
		}
	}
	r.Reset()
	return dst
}

// dot is the inner product of two slices, b at least as long as a. Eight
// products per iteration over four accumulators hide the add latency; the
// three-index reslices let the compiler drop the bounds checks.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa, bb := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += aa[0]*bb[0] + aa[4]*bb[4]
		s1 += aa[1]*bb[1] + aa[5]*bb[5]
		s2 += aa[2]*bb[2] + aa[6]*bb[6]
		s3 += aa[3]*bb[3] + aa[7]*bb[7]
	}
	// The tail goes to separate accumulators too: kept on one, its
	// dependent adds cost as much as a whole unrolled iteration.
	if i+4 <= len(a) {
		aa, bb := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		i += 4
	}
	switch len(a) - i {
	case 3:
		s2 += a[i+2] * b[i+2]
		fallthrough
	case 2:
		s1 += a[i+1] * b[i+1]
		fallthrough
	case 1:
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// toInt16 rounds to nearest, ties upward, saturating instead of wrapping.
func toInt16(y float32) int16 {
	y = min(max(y, math.MinInt16), math.MaxInt16)
	// The offset makes the value non-negative so truncation is floor; all
	// values involved are exact in float32.
	return int16(int32(y+32768.5) - 32768)
}
