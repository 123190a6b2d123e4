package wav

import (
	"slices"
	"testing"
)

// FuzzParse: any bytes parse or are refused, and what parses survives a
// round trip through Encode.
func FuzzParse(f *testing.F) {
	f.Add(Encode(8000, 1, []int16{0, 1, -1, 32767, -32768}))
	f.Add(Encode(48000, 2, []int16{5, 6}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		again, err := Parse(Encode(a.Rate, a.Channels, a.Samples))
		if err != nil || again.Rate != a.Rate || again.Channels != a.Channels || !slices.Equal(again.Samples, a.Samples) {
			t.Fatalf("round trip changed the audio: %v", err)
		}
	})
}
