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

// SilenceLimit is the largest sum of squares of n samples whose mean square,
// relative to full scale, is at or below db dBFS (a full-scale square wave is
// 0 dBFS). The engine's C rings sum each caller frame as it is pushed and
// compare: an integer test per frame, with no logarithm on the media thread.
func SilenceLimit(n int, db float64) uint64 {
	return uint64(math.Floor(float64(n) * 32768 * 32768 * math.Pow(10, db/10)))
}
