package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Encodings of the audio sent, and of streamed audio received.
const (
	L16      = "l16"
	OpusCode = "opus"
)

// OpusRates are the sampleRate values an Opus stream may have (the rates of
// libopus's encoder from 8 kHz up; 64000 is not one).
var OpusRates = []int{8000, 16000, 24000, 48000}

// Opus applications (opus.application).
const (
	OpusVoIP     = "voip"
	OpusAudio    = "audio"
	OpusLowDelay = "lowdelay"
)

// Opus are the encoder's options.
type Opus struct {
	Bitrate     int // bits per second; 0 until the default for the rate and channels is set
	Application string
	FEC         bool // in-band forward error correction
	DTX         bool // discontinuous transmission: a packet of a byte or two in silence
	Complexity  int
}

// Ranges and defaults of the Opus options.
const (
	OpusMinBitrate        = 6000   // libopus's floor
	OpusMaxBitrate        = 510000 // libopus's ceiling
	OpusDefaultComplexity = 0      // the cheapest: 16 kHz mono costs about 40 µs a frame (scripts/bench)
)

// opusDefaultBitrate is 32 kbit/s for 16 kHz mono, the rate at which speech
// is wideband and clean; narrower bands need less, and a stereo stream
// carries two unrelated voices, so twice as much.
func opusDefaultBitrate(rate, channels int) int {
	perChannel := map[int]int{8000: 20000, 16000: 32000, 24000: 40000, 48000: 48000}[rate]
	return perChannel * channels
}

func encoding(raw json.RawMessage, key string) (string, error) {
	e, err := str(raw, key)
	if err != nil {
		return "", err
	}
	e = strings.ToLower(e)
	if e != L16 && e != OpusCode {
		return "", fmt.Errorf(`listen: %q must be "l16" or "opus" (got %q)`, key, e)
	}
	return e, nil
}

func (l *Listen) setOpus(raw json.RawMessage) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return fmt.Errorf(`listen: "opus" must be an object {"bitrate", "application", "fec", "dtx", "complexity"}`)
	}
	for _, k := range sortedKeys(o) {
		if err := l.setOpusKey("opus."+k, o[k]); err != nil {
			return err
		}
	}
	return nil
}

func (l *Listen) setOpusKey(key string, raw json.RawMessage) error {
	var err error
	switch key {
	case "opus.bitrate":
		l.Opus.Bitrate, err = integer(raw, key, OpusMinBitrate, OpusMaxBitrate)
	case "opus.application":
		l.Opus.Application, err = str(raw, key)
		if a := l.Opus.Application; err == nil && a != OpusVoIP && a != OpusAudio && a != OpusLowDelay {
			err = fmt.Errorf(`listen: %q must be "voip", "audio" or "lowdelay" (got %q)`, key, a)
		}
	case "opus.fec":
		l.Opus.FEC, err = boolean(raw, key)
	case "opus.dtx":
		l.Opus.DTX, err = boolean(raw, key)
	case "opus.complexity":
		l.Opus.Complexity, err = integer(raw, key, 0, 10)
	default:
		err = fmt.Errorf("listen: unknown key %q", key)
	}
	return err
}

// checkEncoding settles what depends on the encoding and the rate together,
// once every key is read.
func (l *Listen) checkEncoding() error {
	if l.Encoding != OpusCode {
		return nil
	}
	if !slices.Contains(OpusRates, l.SampleRate) {
		return fmt.Errorf(`listen: "sampleRate" %d cannot be sent as Opus: it must be one of 8000, 16000, 24000, 48000`, l.SampleRate)
	}
	if l.Opus.Bitrate == 0 {
		channels := 1
		if l.MixType == Stereo {
			channels = 2
		}
		l.Opus.Bitrate = opusDefaultBitrate(l.SampleRate, channels)
	}
	return nil
}
