// Package pcm holds the sample-level operations on 16-bit PCM the engine
// needs per frame: mixing with saturation, interleaving and the little-endian
// wire form. None of them allocate.
package pcm

import "math"

// Clip saturates v to the int16 range: loud inputs clip, never wrap around.
func Clip(v int32) int16 {
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// Mix writes a+b, saturated, into dst; all three have the same length.
func Mix(dst, a, b []int16) {
	b = b[:len(a)]
	dst = dst[:len(a)]
	for i := range a {
		dst[i] = Clip(int32(a[i]) + int32(b[i]))
	}
}

// Interleave writes left and right as stereo pairs into dst (2 × len(left)).
func Interleave(dst, left, right []int16) {
	right = right[:len(left)]
	dst = dst[:2*len(left)]
	for i := range left {
		dst[2*i] = left[i]
		dst[2*i+1] = right[i]
	}
}

// PutLE encodes samples as 16-bit little-endian into dst (2 × len(samples)).
func PutLE(dst []byte, samples []int16) {
	dst = dst[:2*len(samples)]
	for i, s := range samples {
		dst[2*i] = byte(s)
		dst[2*i+1] = byte(uint16(s) >> 8)
	}
}

// FromLE decodes 16-bit little-endian bytes (an even count) into dst.
func FromLE(dst []int16, b []byte) []int16 {
	for i := 0; i+1 < len(b); i += 2 {
		dst = append(dst, int16(uint16(b[i])|uint16(b[i+1])<<8))
	}
	return dst
}

// Energy returns the mean square of samples relative to full scale, in dBFS
// (a full-scale square wave is 0 dBFS; digital silence is -inf).
func Energy(samples []int16) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	return 10 * math.Log10(sum/float64(len(samples))/(32768.0*32768.0))
}
