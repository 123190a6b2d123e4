package freeswitch_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// pcm reads 16-bit little-endian samples.
func pcm(b []byte) []float64 {
	out := make([]float64, len(b)/2)
	for i := range out {
		out[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
	}
	return out
}

// toPCM writes samples as 16-bit little-endian bytes.
func toPCM(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// tone is n samples of a sine at freq Hz.
func tone(freq float64, rate, n int, amplitude float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amplitude * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return s
}

// deinterleave splits stereo samples into left and right.
func deinterleave(s []float64) (left, right []float64) {
	for i := 0; i+1 < len(s); i += 2 {
		left = append(left, s[i])
		right = append(right, s[i+1])
	}
	return
}

// toneShare is the share of the signal's energy at freq (Goertzel): about 1
// for a pure tone at freq, about 0 for silence or another frequency.
func toneShare(s []float64, rate int, freq float64) float64 {
	if len(s) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, x := range s {
		s0 := x + coeff*s1 - s2
		s2, s1 = s1, s0
		energy += x * x
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return power / (float64(len(s)) / 2 * energy)
}

// rms is the root mean square level of s.
func rms(s []float64) float64 {
	if len(s) == 0 {
		return 0
	}
	var e float64
	for _, x := range s {
		e += x * x
	}
	return math.Sqrt(e / float64(len(s)))
}

// readWAV returns the samples and rate of a 16-bit PCM mono WAV file.
func readWAV(path string) ([]float64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%s is not a WAV file", path)
	}
	var rate, channels, bits int
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8 : min(off+8+size, len(b))]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, 0, fmt.Errorf("%s: short fmt chunk", path)
			}
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if channels != 1 || bits != 16 {
				return nil, 0, fmt.Errorf("%s: %d channels, %d bits; want mono 16-bit", path, channels, bits)
			}
			return pcm(body), rate, nil
		}
		off += 8 + size + size%2
	}
	return nil, 0, fmt.Errorf("%s has no data chunk", path)
}

// loudRun finds the longest run of 20 ms blocks whose level is above
// threshold and returns its samples.
func loudRun(s []float64, rate int, threshold float64) []float64 {
	block := rate / 50
	bestStart, bestLen, start := 0, 0, -1
	for i := 0; i+block <= len(s); i += block {
		loud := rms(s[i:i+block]) > threshold
		switch {
		case loud && start < 0:
			start = i
		case !loud && start >= 0:
			if i-start > bestLen {
				bestStart, bestLen = start, i-start
			}
			start = -1
		}
	}
	if start >= 0 && len(s)-start > bestLen {
		bestStart, bestLen = start, len(s)-start
	}
	return s[bestStart : bestStart+bestLen]
}

// Tones the SIP calls play: the far end (the calling leg) and the near end's
// other party (what the answering leg plays to the caller).
const (
	farHz      = 1000.0
	nearHz     = 600.0
	toneAmp    = 8000.0 // peak; -12.3 dBFS
	mediaSecs  = 10     // a whole number of cycles of both tones: the loops are seamless
	levelSlack = 1.0
)

// writeMedia writes the WAV files the dialplan plays, one per codec rate:
// FreeSWITCH's resampling of a file while it plays slips a sample now and
// then, which would blur the measures.
func writeMedia(dir string) error {
	for _, rate := range []int{8000, 16000, 48000} {
		for name, hz := range map[string]float64{"far": farHz, "near": nearHz} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.wav", name, rate))
			if err := writeWAV(path, rate, tone(hz, rate, rate*mediaSecs, toneAmp)); err != nil {
				return err
			}
		}
	}
	return nil
}

// wavBytes is a 16-bit PCM mono WAV file.
func wavBytes(rate int, s []int16) []byte {
	data := toPCM(s)
	b := make([]byte, 44, 44+len(data))
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+len(data)))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(len(data)))
	return append(b, data...)
}

func writeWAV(path string, rate int, s []int16) error {
	return os.WriteFile(path, wavBytes(rate, s), 0o644)
}

// goertzelAmp is the amplitude of the component of s at freq.
func goertzelAmp(s []float64, rate int, freq float64) float64 {
	if len(s) == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2 float64
	for _, x := range s {
		s1, s2 = x+coeff*s1-s2, s1
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(s))
}

// peakHz is the frequency, to 10 Hz, with the most energy between 100 Hz
// and 4 kHz (below every Nyquist the tests use).
func peakHz(s []float64, rate int) float64 {
	best, bestAmp := 0.0, -1.0
	for f := 100.0; f <= 4000 && f < float64(rate)/2; f += 10 {
		if a := goertzelAmp(s, rate, f); a > bestAmp {
			best, bestAmp = f, a
		}
	}
	return best
}

// levelDB is a tone's amplitude in dB relative to the tones the calls play.
func levelDB(amp float64) float64 {
	return 20 * math.Log10(amp/toneAmp)
}
