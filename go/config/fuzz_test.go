package config

import "testing"

// FuzzParseListen: any config is accepted within the documented bounds or
// refused with an error; nothing crashes.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{
		`{"url":"ws://h/"}`,
		`{"url":"wss://h/x","mixType":"stereo","sampleRate":"16000","metadata":{"a":1},"wsAuth":{"username":"u","password":"p"}}`,
		`{"url":"ws://h","finishOnKey":"#*","maxLength":"NaN","timeout":-1}`,
		`{"url":"ws://h","actionHook":{"url":"http://x/","method":"put"},"bidirectionalAudio":{"streaming":true,"sampleRate":24000}}`,
		`{"url":"ws://h","reconnect":{"attempts":3},"tls":{"verify":false},"headers":{"Authorization":"Bearer x"}}`,
		`[]`, `{`, `{"url":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseListen(b, DefaultSettings())
		if err != nil {
			return
		}
		if l.URL == "" || l.MaxLength < 0 || l.Timeout < 0 || l.SampleRate <= 0 {
			t.Fatalf("accepted out of bounds: %+v", l)
		}
		if l.MixType != Mono && l.MixType != Stereo && l.MixType != Mixed {
			t.Fatalf("accepted mixType %q", l.MixType)
		}
		for _, r := range l.FinishOnKey {
			if !IsDTMF(r) {
				t.Fatalf("accepted finishOnKey %q", l.FinishOnKey)
			}
		}
	})
}
