package config

import (
	"testing"
)

func TestEncodingDefaultsToL16(t *testing.T) {
	l := parse(t, `{"url":"ws://h"}`)
	if l.Encoding != L16 || l.StreamingEncoding != L16 {
		t.Errorf("encoding %q, bidirectionalAudio.encoding %q; want l16 for both", l.Encoding, l.StreamingEncoding)
	}
}

func TestOpusDefaults(t *testing.T) {
	for _, c := range []struct {
		js      string
		bitrate int
	}{
		{`{"url":"ws://h","encoding":"opus","sampleRate":16000}`, 32000},
		{`{"url":"ws://h","encoding":"opus","sampleRate":8000}`, 20000},
		{`{"url":"ws://h","encoding":"opus","sampleRate":48000}`, 48000},
		{`{"url":"ws://h","encoding":"OPUS","sampleRate":16000,"mixType":"stereo"}`, 64000},
		{`{"url":"ws://h","encoding":"opus","sampleRate":24000,"mixType":"mixed"}`, 40000},
	} {
		l := parse(t, c.js)
		want := Opus{Bitrate: c.bitrate, Application: OpusVoIP, Complexity: OpusDefaultComplexity}
		if l.Encoding != OpusCode || l.Opus != want {
			t.Errorf("%s: encoding %q, options %+v; want opus, %+v", c.js, l.Encoding, l.Opus, want)
		}
	}
}

func TestOpusOptions(t *testing.T) {
	want := Opus{Bitrate: 24000, Application: OpusAudio, FEC: true, DTX: true, Complexity: 9}
	for _, js := range []string{
		`{"url":"ws://h","encoding":"opus","opus":{"bitrate":24000,"application":"audio","fec":true,"dtx":"true","complexity":9}}`,
		`{"url":"ws://h","encoding":"opus","opus.bitrate":"24000","opus.application":"audio","opus.fec":"true","opus.dtx":true,"opus.complexity":9}`,
		`{"url":"ws://h","encoding":"opus","opus":"{\"bitrate\":24000,\"application\":\"audio\",\"fec\":true,\"dtx\":true,\"complexity\":9}"}`,
	} {
		if l := parse(t, js); l.Opus != want {
			t.Errorf("%s: %+v, want %+v", js, l.Opus, want)
		}
	}
	if l := parse(t, `{"url":"ws://h","encoding":"opus","opus":{"application":"lowdelay"}}`); l.Opus.Application != OpusLowDelay {
		t.Errorf("application %q, want lowdelay", l.Opus.Application)
	}
	l := parse(t, `{"url":"ws://h","bidirectionalAudio":{"streaming":true,"encoding":"opus"}}`)
	if l.StreamingEncoding != OpusCode || l.Encoding != L16 {
		t.Errorf("bidirectionalAudio.encoding %q, encoding %q; want opus, l16", l.StreamingEncoding, l.Encoding)
	}
}

func TestOpusRefusals(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"url":"ws://h","encoding":"opus","sampleRate":64000}`, `listen: "sampleRate" 64000 cannot be sent as Opus: it must be one of 8000, 16000, 24000, 48000`},
		{`{"url":"ws://h","encoding":"mp3"}`, `listen: "encoding" must be "l16", "mulaw", "alaw" or "opus" (got "mp3")`},
		{`{"url":"ws://h","encoding":1}`, `listen: "encoding" must be a string`},
		{`{"url":"ws://h","encoding":"opus","opus":{"bitrate":5999}}`, `listen: "opus.bitrate" must be between 6000 and 510000 (got 5999)`},
		{`{"url":"ws://h","encoding":"opus","opus.bitrate":510001}`, `listen: "opus.bitrate" must be between 6000 and 510000 (got 510001)`},
		{`{"url":"ws://h","encoding":"opus","opus":{"bitrate":32000.5}}`, `listen: "opus.bitrate" must be a whole number (got 32000.5)`},
		{`{"url":"ws://h","encoding":"opus","opus":{"application":"music"}}`, `listen: "opus.application" must be "voip", "audio" or "lowdelay" (got "music")`},
		{`{"url":"ws://h","encoding":"opus","opus":{"fec":"maybe"}}`, `listen: "opus.fec" must be true or false`},
		{`{"url":"ws://h","encoding":"opus","opus":{"dtx":2}}`, `listen: "opus.dtx" must be true or false`},
		{`{"url":"ws://h","encoding":"opus","opus":{"complexity":11}}`, `listen: "opus.complexity" must be between 0 and 10 (got 11)`},
		{`{"url":"ws://h","encoding":"opus","opus":{"vbr":true}}`, `listen: unknown key "opus.vbr"`},
		{`{"url":"ws://h","encoding":"opus","opus":[1]}`, `listen: "opus" must be an object {"bitrate", "application", "fec", "dtx", "complexity"}`},
		{`{"url":"ws://h","bidirectionalAudio":{"encoding":"pcm"}}`, `listen: "bidirectionalAudio.encoding" must be "l16" or "opus" (got "pcm")`},
		{`{"url":"ws://h","bidirectionalAudio":{"encoding":"mulaw"}}`, `listen: "bidirectionalAudio.encoding" must be "l16" or "opus" (got "mulaw")`},
		{`{"url":"ws://h","encoding":"opus","sampleRate":8000,"protocol":"twilio"}`,
			`listen: Twilio Media Streams are 8 kHz µ-law: "encoding" "opus" cannot be used with "protocol": "twilio"`},
		{`{"url":"ws://h","protocol":"twilio","bidirectionalAudio":{"encoding":"opus"}}`,
			`listen: Twilio Media Streams are 8 kHz µ-law both ways: "bidirectionalAudio.encoding" "opus" cannot be used with "protocol": "twilio"`},
	} {
		if got := parseErr(t, c.js); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.js, got, c.want)
		}
	}
}
