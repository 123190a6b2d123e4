// Package wav reads and writes 16-bit PCM RIFF/WAVE audio: the clips servers
// send in playAudio, and the recordings of the demo and tests.
package wav

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Audio is decoded 16-bit PCM, channels interleaved.
type Audio struct {
	Rate     int
	Channels int
	Samples  []int16
}

// Layout is where a WAV file's audio is, and what it is.
type Layout struct {
	Rate       int
	Channels   int
	DataOffset int // of the data chunk's first sample
	DataBytes  int // whole sample frames only
}

// Frames is the number of samples per channel.
func (h Layout) Frames() int { return h.DataBytes / 2 / h.Channels }

// ParseHeader reads the header of a RIFF/WAVE file of 16-bit PCM that is
// total bytes long, from its first bytes (prefix), so the audio's length is
// known before the rest is decoded. Chunks other than "fmt " and "data" are
// skipped; a data chunk longer than the file (as streaming writers leave it)
// runs to the end of the file.
func ParseHeader(prefix []byte, total int) (Layout, error) {
	var h Layout
	b := prefix
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return h, errors.New("wav: not a RIFF/WAVE file")
	}
	var haveFmt bool
	for p := 12; p+8 <= total; {
		if p+8 > len(b) {
			return h, fmt.Errorf("wav: the header is longer than %d bytes", len(prefix))
		}
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		rest := total - (p + 8)
		if size < 0 || size > rest {
			if id != "data" {
				return h, fmt.Errorf("wav: chunk %q is cut short", id)
			}
			size = rest &^ 1
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return h, errors.New("wav: fmt chunk too short")
			}
			if p+8+min(size, 26) > len(b) {
				return h, fmt.Errorf("wav: the header is longer than %d bytes", len(prefix))
			}
			body := b[p+8:]
			format := binary.LittleEndian.Uint16(body[0:2])
			h.Channels = int(binary.LittleEndian.Uint16(body[2:4]))
			h.Rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the subformat says what it is
				format = binary.LittleEndian.Uint16(body[24:26])
			}
			if format != 1 || bits != 16 {
				return h, fmt.Errorf("wav: only 16-bit PCM is supported (format %d, %d bits)", format, bits)
			}
			if h.Channels < 1 || h.Channels > 2 {
				return h, fmt.Errorf("wav: only mono or stereo is supported (%d channels)", h.Channels)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return h, errors.New("wav: data chunk before fmt chunk")
			}
			h.DataOffset = p + 8
			h.DataBytes = size / 2 / h.Channels * h.Channels * 2
			return h, nil
		}
		p += 8 + size + size&1
	}
	if !haveFmt {
		return h, errors.New("wav: no fmt chunk")
	}
	return h, errors.New("wav: no data chunk")
}

// Parse decodes a RIFF/WAVE file of 16-bit PCM (see ParseHeader).
func Parse(b []byte) (Audio, error) {
	h, err := ParseHeader(b, len(b))
	if err != nil {
		return Audio{}, err
	}
	return Audio{Rate: h.Rate, Channels: h.Channels, Samples: Samples(b[h.DataOffset : h.DataOffset+h.DataBytes])}, nil
}

// Samples converts 16-bit little-endian PCM.
func Samples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// Mono returns the audio as one channel (stereo is averaged).
func (a Audio) Mono() []int16 {
	if a.Channels != 2 {
		return a.Samples
	}
	out := make([]int16, len(a.Samples)/2)
	for i := range out {
		out[i] = int16((int32(a.Samples[2*i]) + int32(a.Samples[2*i+1])) / 2)
	}
	return out
}

// Header returns a 44-byte header for dataBytes of 16-bit PCM.
func Header(rate, channels, dataBytes int) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataBytes))
	return h
}

// Encode returns a whole WAV file of the samples.
func Encode(rate, channels int, samples []int16) []byte {
	out := Header(rate, channels, 2*len(samples))
	out = append(out, make([]byte, 2*len(samples))...)
	for i, s := range samples {
		binary.LittleEndian.PutUint16(out[44+2*i:], uint16(s))
	}
	return out
}

// Write writes a whole WAV file of the samples to w.
func Write(w io.Writer, rate, channels int, samples []int16) error {
	_, err := w.Write(Encode(rate, channels, samples))
	return err
}
