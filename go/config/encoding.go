package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Encodings of the audio sent, and of streamed audio received.
const (
	L16      = "l16"   // 16-bit little-endian PCM
	Mulaw    = "mulaw" // G.711 µ-law
	Alaw     = "alaw"  // G.711 A-law
	OpusCode = "opus"  // one Opus packet per frame
)

// SentEncodings are the values of "encoding"; StreamedEncodings those of
// "bidirectionalAudio.encoding", the server's binary frames.
var (
	SentEncodings     = []string{L16, Mulaw, Alaw, OpusCode}
	StreamedEncodings = []string{L16, OpusCode}
)

// G711Rate is the only rate of the G.711 encodings.
const G711Rate = 8000

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

func encoding(raw json.RawMessage, key string, allowed []string) (string, error) {
	e, err := str(raw, key)
	if err != nil {
		return "", err
	}
	e = strings.ToLower(e)
	if !slices.Contains(allowed, e) {
		quoted := make([]string, len(allowed))
		for i, a := range allowed {
			quoted[i] = strconv.Quote(a)
		}
		last := len(quoted) - 1
		return "", fmt.Errorf(`listen: %q must be %s or %s (got %q)`, key, strings.Join(quoted[:last], ", "), quoted[last], e)
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

// checkFormat settles the protocol, encoding and rate together, once every
// key is read: G.711 and Twilio Media Streams are 8 kHz, so a rate given
// otherwise is refused and the settings' default rate gives way; Opus has
// its own rates and a bitrate that depends on the rate and the channels.
func (l *Listen) checkFormat(rateGiven bool) error {
	if l.Protocol == Twilio {
		if l.Encoding != L16 && l.Encoding != Mulaw {
			return fmt.Errorf(`listen: Twilio Media Streams are 8 kHz µ-law: "encoding" %q cannot be used with "protocol": "twilio"`, l.Encoding)
		}
		if rateGiven && l.SampleRate != G711Rate {
			return fmt.Errorf(`listen: Twilio Media Streams are 8 kHz µ-law: "sampleRate" must be 8000 with "protocol": "twilio" (got %d)`, l.SampleRate)
		}
		if l.StreamingRate != G711Rate {
			return fmt.Errorf(`listen: Twilio Media Streams are 8 kHz µ-law both ways: "bidirectionalAudio.sampleRate" must be 8000 with "protocol": "twilio" (got %d)`, l.StreamingRate)
		}
		if l.StreamingEncoding != L16 {
			return fmt.Errorf(`listen: Twilio Media Streams are 8 kHz µ-law both ways: "bidirectionalAudio.encoding" %q cannot be used with "protocol": "twilio"`, l.StreamingEncoding)
		}
		// The server's audio comes as media messages, played as they come.
		l.Encoding, l.Streaming = Mulaw, true
	}
	switch l.Encoding {
	case Mulaw, Alaw:
		if rateGiven && l.SampleRate != G711Rate {
			return fmt.Errorf(`listen: "encoding" %q is G.711, 8 kHz only: "sampleRate" must be 8000 (got %d)`, l.Encoding, l.SampleRate)
		}
		l.SampleRate = G711Rate
	case OpusCode:
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
	}
	return nil
}
