package resample

import "fmt"

// Clip rates: Clip converts whole clips between any two whole rates in this
// range (files come at 11025, 22050, 44100 Hz as often as at the codec rates).
const (
	ClipMinRate = 8000
	ClipMaxRate = 192000
)

// Clip resamples a whole clip, tail included, aligned with the input: the
// filter's delay would shift the clip late and cut its end, so the leading
// delay is dropped and the tail flushed instead. The result has
// len(in)*to/from samples.
func Clip(in []int16, from, to int) ([]int16, error) {
	for _, r := range [2]int{from, to} {
		if r < ClipMinRate || r > ClipMaxRate {
			return nil, fmt.Errorf("resample: unsupported rate %d Hz (allowed: %d..%d)", r, ClipMinRate, ClipMaxRate)
		}
	}
	r := newPair(from, to)
	out := r.Process(make([]int16, 0, r.MaxOut(len(in))+r.Delay()+64), in)
	out = r.Flush(out)
	if d := r.Delay(); d < len(out) {
		out = out[d:]
	}
	want := int(int64(len(in)) * int64(to) / int64(from))
	if len(out) > want {
		out = out[:want]
	}
	return out, nil
}
