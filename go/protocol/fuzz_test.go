package protocol

import (
	"encoding/base64"
	"slices"
	"testing"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/wav"
)

// FuzzParse: no server frame may crash the parser, and what it accepts is
// within the documented bounds.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"playAudio","data":{"audioContent":"AAAA","audioContentType":"raw","sampleRate":"16000"}}`,
		`{"type":"playAudio","data":{"audioContent":"","audioContentType":"wav"}}`,
		`{"type":"killAudio"}`, `{"type":"disconnect"}`, `{"type":"mark","data":{"name":"x"}}`,
		`{"type":"clear"}`, `{"type":"error","data":{"error":"boom"}}`, `{"type":"transcription","data":{}}`,
		`{"type":7}`, `[]`, `null`, `{"type":"playAudio","data":{"audioContent":"@@","audioContentType":"raw","sampleRate":8000}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Parse(frame)
		if err != nil || m.Clip == nil {
			return
		}
		if !slices.Contains(config.PlayRates, m.Clip.Rate) {
			t.Fatalf("accepted a clip at %d Hz", m.Clip.Rate)
		}
		samples, err := m.Clip.Decode()
		if err != nil {
			return
		}
		if m.Clip.Channels != 1 && m.Clip.Channels != 2 || len(samples) != m.Clip.Frames*m.Clip.Channels {
			t.Fatalf("accepted a clip of %d channels, %d samples, %d frames", m.Clip.Channels, len(samples), m.Clip.Frames)
		}
	})
}

// FuzzClip: any audioContent, raw or WAV, decodes or is refused, never crashes.
func FuzzClip(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, true)
	f.Add(wav.Encode(8000, 1, []int16{1, -1, 300}), false)
	f.Add(wav.Encode(16000, 2, []int16{1, -1}), false)
	f.Fuzz(func(t *testing.T, content []byte, raw bool) {
		kind := "wav"
		if raw {
			kind = "raw"
		}
		frame := []byte(`{"type":"playAudio","data":{"audioContentType":"` + kind + `","sampleRate":8000,"audioContent":"` +
			base64.StdEncoding.EncodeToString(content) + `"}}`)
		m, err := Parse(frame)
		if err != nil {
			return
		}
		samples, err := m.Clip.Decode()
		if err != nil {
			t.Fatalf("%d bytes of valid base64: %v", len(content), err)
		}
		if raw && len(samples) != len(content)/2 || len(samples) != m.Clip.Frames*m.Clip.Channels {
			t.Fatalf("%d bytes of PCM gave %d samples, %d frames", len(content), len(samples), m.Clip.Frames)
		}
	})
}
