package recorder

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/oggfile"
	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/wavfile"
)

// Formats of the recordings (the -format flag).
const (
	FormatWAV = "wav"
	FormatOgg = "ogg"
)

// track is a recording's audio file: 16-bit PCM in, whole sample frames,
// written as WAV or as Ogg/Opus.
type track interface {
	// Write appends pcm; packet, when not nil, is the Opus packet pcm is
	// the whole of, which an Ogg/Opus file keeps as received.
	Write(pcm, packet []byte) error
	Silence(frames int64) error
	Frames() int64 // sample frames written
	Bytes() int64  // of the file: the audio of a WAV, the whole of an Ogg/Opus file
	// room is how many more sample frames fit under maxBytes (an
	// Ogg/Opus file's size is known only once encoded: it takes any
	// while under).
	room(maxBytes int64) int64
	Flush() error
	Sync() error
	Close() error
}

// wavTrack is a WAV file.
type wavTrack struct {
	*wavfile.Writer
	frameBytes int64
}

func (t wavTrack) Write(pcm, _ []byte) error { return t.Writer.Write(pcm) }
func (t wavTrack) Bytes() int64              { return t.DataBytes() }
func (t wavTrack) room(maxBytes int64) int64 { return (maxBytes - t.DataBytes()) / t.frameBytes }

// oggRates are the rates libopus encodes; a PCM stream at another rate is
// recorded as WAV whatever the format asked.
var oggRates = []int{8000, 12000, 16000, 24000, 48000}

// encoderDelay is libopus's lookahead with the voip and audio
// applications, at any rate, in 48 kHz samples (2.5 ms plus 4 ms of delay
// compensation): the pre-skip of the packets the engine sends (its
// opus.application is voip unless set) and of those encoded here.
const encoderDelay = 312

// oggBitrate is the bitrate per channel at which PCM audio is encoded. At
// 32 kbit/s a 16 kHz stereo call's tones came out 0.8 to 0.9 dB low
// (complexity 0); at 48 kbit/s within 0.05 dB, still a sixth of the PCM.
const oggBitrate = 48000

// oggTrack is an Ogg/Opus file. Opus packets go in as received; PCM (a PCM
// stream, silence for gaps, audio cut by a resumption) is encoded in 20 ms
// packets by an encoder of its own, made when first needed.
type oggTrack struct {
	w              *oggfile.Writer
	rate, channels int
	scale          int64 // 48 kHz granule samples per sample frame
	enc            *opus.Encoder
	pending        []int16 // PCM short of a whole packet
	frames         int64
}

func createOgg(path string, rate, channels int) (*oggTrack, error) {
	w, err := oggfile.Create(path, rate, channels, encoderDelay, "mod_listen listen-recorder")
	if err != nil {
		return nil, err
	}
	return &oggTrack{w: w, rate: rate, channels: channels, scale: int64(oggfile.Rate / rate)}, nil
}

func (t *oggTrack) packetSamples() int { return t.rate / 1000 * opus.FrameMs * t.channels }

func (t *oggTrack) Write(pcm, packet []byte) error {
	n := int64(len(pcm) / (2 * t.channels))
	if packet != nil && len(t.pending) == 0 {
		if err := t.w.WritePacket(packet, int(n*t.scale)); err != nil {
			return err
		}
		t.frames += n
		return nil
	}
	for i := 0; i+1 < len(pcm); i += 2 {
		t.pending = append(t.pending, int16(binary.LittleEndian.Uint16(pcm[i:])))
		if len(t.pending) == t.packetSamples() {
			if err := t.encode(); err != nil {
				return err
			}
		}
	}
	t.frames += n
	return nil
}

func (t *oggTrack) Silence(frames int64) error {
	for left := frames * int64(t.channels); left > 0; {
		k := min(left, int64(t.packetSamples()-len(t.pending)))
		t.pending = append(t.pending, make([]int16, k)...)
		left -= k
		if len(t.pending) == t.packetSamples() {
			if err := t.encode(); err != nil {
				return err
			}
		}
	}
	t.frames += frames
	return nil
}

// encode writes the pending whole packet.
func (t *oggTrack) encode() error {
	if t.enc == nil {
		enc, err := opus.NewEncoder(t.rate, t.channels, config.Opus{Bitrate: oggBitrate * t.channels,
			Application: config.OpusVoIP, Complexity: config.OpusDefaultComplexity})
		if err != nil {
			return err
		}
		t.enc = enc
	}
	p, err := t.enc.Encode(t.pending)
	if err != nil {
		return err
	}
	t.pending = t.pending[:0]
	return t.w.WritePacket(p, oggfile.Rate/1000*opus.FrameMs)
}

func (t *oggTrack) Frames() int64 { return t.frames }
func (t *oggTrack) Bytes() int64  { return t.w.Bytes() }
func (t *oggTrack) room(maxBytes int64) int64 {
	if t.w.Bytes() >= maxBytes {
		return 0
	}
	return math.MaxInt64
}
func (t *oggTrack) Flush() error { return t.w.Flush() }
func (t *oggTrack) Sync() error  { return t.w.Sync() }

// Close encodes what is pending, and silence until the packets cover the
// encoder's delay, so that the file's end (its last granule position)
// falls exactly after the last sample frame written.
func (t *oggTrack) Close() error {
	end := encoderDelay + t.frames*t.scale
	var err error
	for err == nil && (len(t.pending) > 0 || t.w.Samples() < end) {
		t.pending = append(t.pending, make([]int16, t.packetSamples()-len(t.pending))...)
		err = t.encode()
	}
	if cerr := t.w.Close(end); err == nil {
		err = cerr
	}
	return err
}

// oggTakes says whether a stream at rate can be recorded as Ogg/Opus.
func oggTakes(rate int) bool { return slices.Contains(oggRates, rate) }
