package config

import (
	"strings"
	"testing"
	"time"
)

func TestTranscribeDefaultsFromSettings(t *testing.T) {
	s, err := ParseSettings([]byte(`{"transcribe":{"recognizer":{"vendor":"custom","url":"wss://stt.example/x","auth":{"apiKey":"sk"},"interim":true},"finalTimeoutMs":800}}`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseListen([]byte(`{"url":"ws://h/x","transcribe":{"recognizer":{"language":"es-ES"}}}`), s)
	if err != nil {
		t.Fatal(err)
	}
	want := Transcribe{FinalTimeout: 800 * time.Millisecond, Recognizer: Recognizer{Vendor: "custom", URL: "wss://stt.example/x",
		APIKey: "sk", Language: "es-ES", Interim: true, Channels: PartyCaller, SampleRate: 8000, Punctuate: true,
		Reconnect: Reconnect{Backoff: DefaultBackoff, Stable: DefaultStable}}}
	if *l.Transcribe != want {
		t.Fatalf("got %+v\nwant %+v", *l.Transcribe, want)
	}
	if *s.Transcribe == *l.Transcribe {
		t.Fatal("the listen changed the settings' defaults")
	}
	// Another vendor does not inherit the settings' endpoint and key.
	_, err = ParseListen([]byte(`{"url":"ws://h/x","transcribe":{"recognizer":{"vendor":"deepgram"}}}`), s)
	if err == nil || !strings.Contains(err.Error(), `"transcribe.recognizer.auth.apiKey" is required`) {
		t.Fatalf("error %v, want the key required", err)
	}
	// A listen without transcribe has none, whatever the settings.
	if l, _ := ParseListen([]byte(`{"url":"ws://h/x"}`), s); l.Transcribe != nil || l.HearsOther() {
		t.Fatalf("transcribe %+v without the key", l.Transcribe)
	}
}

func TestTranscribeErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"transcribe":[]`, `"transcribe" must be an object`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"},"url":"http://a"}}`, `"transcribe.recognizer.url" must be a ws://`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"key":"k"}}}`, `unknown key "transcribe.recognizer.auth.key"`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"}},"transcriptionHook":"ftp://x"}`, `"transcribe.transcriptionHook" must be an http://`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"}},"finalTimeoutMs":-1}`, `"transcribe.finalTimeoutMs" must be between 0 and 60000`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"},"interim":"maybe"}}`, `"transcribe.recognizer.interim" must be true or false`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"},"reconnect":{"attempts":101}}}`, `"transcribe.recognizer.reconnect.attempts" must be between 0 and 100`},
		{`"transcribe":{"recognizer":{"vendor":"x","auth":{"apiKey":"k"},"reconnect":{"tries":1}}}`, `unknown key "transcribe.recognizer.reconnect.tries"`},
	} {
		_, err := ParseListen([]byte(`{"url":"ws://h/x",`+c.in+`}`), DefaultSettings())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestTranscribeInAString(t *testing.T) {
	// Profiles and dialplans hand objects over as JSON in a string.
	l, err := ParseListen([]byte(`{"url":"ws://h/x","transcribe":"{\"recognizer\":{\"vendor\":\"deepgram\",\"auth\":{\"apiKey\":\"k\"},\"channels\":\"both\"}}"}`), DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if l.Transcribe.Recognizer.Channels != PartyBoth || !l.HearsOther() {
		t.Fatalf("%+v", l.Transcribe)
	}
}

func TestProfilesCheckedOverTheSettingsTranscribe(t *testing.T) {
	profile := `"profiles":{"fr":{"transcribe":{"recognizer":{"language":"fr-FR"}}}}`
	if _, err := ParseSettings([]byte(`{` + profile + `,"transcribe":{"recognizer":{"vendor":"deepgram","auth":{"apiKey":"k"}}}}`)); err != nil {
		t.Fatalf("a profile completed by the settings' transcribe: %v", err)
	}
	_, err := ParseSettings([]byte(`{` + profile + `}`))
	if err == nil || !strings.Contains(err.Error(), `profile "fr": "transcribe.recognizer.vendor" is required`) {
		t.Fatalf("error %v, want the profile's missing vendor", err)
	}
}
