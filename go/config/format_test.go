package config

import "testing"

// The protocol, the encoding and the rate are settled together.
func TestFormat(t *testing.T) {
	s16 := DefaultSettings()
	s16.SampleRate = 16000
	sTwilio := DefaultSettings()
	sTwilio.Protocol = Twilio
	for _, c := range []struct {
		js                 string
		s                  Settings
		protocol, encoding string
		rate               int
		streaming          bool
	}{
		{`{"url":"ws://h"}`, DefaultSettings(), Jambonz, L16, 8000, false},
		{`{"url":"ws://h","encoding":"mulaw"}`, DefaultSettings(), Jambonz, Mulaw, 8000, false},
		{`{"url":"ws://h","encoding":"alaw","sampleRate":"8000"}`, DefaultSettings(), Jambonz, Alaw, 8000, false},
		// The settings' default rate gives way to G.711's only one.
		{`{"url":"ws://h","encoding":"alaw"}`, s16, Jambonz, Alaw, 8000, false},
		{`{"url":"ws://h","protocol":"twilio"}`, s16, Twilio, Mulaw, 8000, true},
		{`{"url":"ws://h","protocol":"twilio","encoding":"mulaw","sampleRate":8000}`, DefaultSettings(), Twilio, Mulaw, 8000, true},
		{`{"url":"ws://h"}`, sTwilio, Twilio, Mulaw, 8000, true},
		{`{"url":"ws://h","protocol":"jambonz"}`, sTwilio, Jambonz, L16, 8000, false},
		{`{"url":"ws://h","encoding":"opus","sampleRate":48000}`, DefaultSettings(), Jambonz, OpusCode, 48000, false},
		{`{"url":"ws://h","encoding":"MuLaw"}`, s16, Jambonz, Mulaw, 8000, false},
	} {
		l, err := ParseListen([]byte(c.js), c.s)
		if err != nil {
			t.Errorf("%s: %v", c.js, err)
			continue
		}
		if l.Protocol != c.protocol || l.Encoding != c.encoding || l.SampleRate != c.rate || l.Streaming != c.streaming {
			t.Errorf("%s: protocol %q encoding %q rate %d streaming %v, want %q %q %d %v", c.js,
				l.Protocol, l.Encoding, l.SampleRate, l.Streaming, c.protocol, c.encoding, c.rate, c.streaming)
		}
	}
}

func TestFormatErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"url":"ws://h","protocol":"twilio","sampleRate":16000}`,
			`listen: Twilio Media Streams are 8 kHz µ-law: "sampleRate" must be 8000 with "protocol": "twilio" (got 16000)`},
		{`{"url":"ws://h","protocol":"twilio","encoding":"alaw"}`,
			`listen: Twilio Media Streams are 8 kHz µ-law: "encoding" "alaw" cannot be used with "protocol": "twilio"`},
		{`{"url":"ws://h","protocol":"twilio","bidirectionalAudio":{"sampleRate":16000}}`,
			`listen: Twilio Media Streams are 8 kHz µ-law both ways: "bidirectionalAudio.sampleRate" must be 8000 with "protocol": "twilio" (got 16000)`},
		{`{"url":"ws://h","protocol":"Twilio"}`, `listen: "protocol" must be "jambonz" or "twilio" (got "Twilio")`},
		{`{"url":"ws://h","protocol":1}`, `listen: "protocol" must be a string`},
		{`{"url":"ws://h","encoding":"pcm"}`, `listen: "encoding" must be "l16", "mulaw", "alaw" or "opus" (got "pcm")`},
		{`{"url":"ws://h","encoding":"mulaw","sampleRate":16000}`,
			`listen: "encoding" "mulaw" is G.711, 8 kHz only: "sampleRate" must be 8000 (got 16000)`},
		{`{"url":"ws://h","encoding":"alaw","sampleRate":"48000"}`,
			`listen: "encoding" "alaw" is G.711, 8 kHz only: "sampleRate" must be 8000 (got 48000)`},
	} {
		if got := parseErr(t, c.in); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}
