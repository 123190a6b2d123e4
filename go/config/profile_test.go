package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func settingsWithProfiles(t *testing.T) Settings {
	t.Helper()
	s, err := ParseSettings([]byte(`{"profiles":{
		"rec":  {"url":"wss://rec.example.com/calls","mixType":"stereo","sampleRate":16000},
		"bot":  {"url":"${bot_url}","bidirectionalAudio":{"enabled":true,"streaming":true}},
		"bare": {}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func resolve(t *testing.T, arg string, s Settings) map[string]any {
	t.Helper()
	b, err := Resolve(arg, s)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", arg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("Resolve(%q) gave invalid JSON %s", arg, b)
	}
	return m
}

func TestResolveJSONPassesThrough(t *testing.T) {
	in := ` {"url":"ws://h", "mixType":"mono"} `
	b, err := Resolve(in, DefaultSettings())
	if err != nil || string(b) != `{"url":"ws://h", "mixType":"mono"}` {
		t.Fatalf("got %s %v", b, err)
	}
}

func TestResolveProfileWithOverrides(t *testing.T) {
	s := settingsWithProfiles(t)
	got := resolve(t, "profile=rec", s)
	want := map[string]any{"url": "wss://rec.example.com/calls", "mixType": "stereo", "sampleRate": 16000.0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("profile alone: %v", got)
	}
	// key=value values stay strings (numeric and boolean keys accept strings);
	// a value that is a JSON object or list is taken as JSON.
	got = resolve(t, `profile=rec sampleRate=8000 passDtmf=true finishOnKey=#* url=wss://other/x metadata={"k":[1]} subprotocols=["p"]`, s)
	want = map[string]any{"url": "wss://other/x", "mixType": "stereo", "sampleRate": "8000", "passDtmf": "true", "finishOnKey": "#*",
		"metadata": map[string]any{"k": []any{1.0}}, "subprotocols": []any{"p"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("key=value overrides: %v", got)
	}
	b, _ := Resolve(`profile=rec sampleRate=8000 passDtmf=true finishOnKey=#* url=wss://other/x metadata={"k":[1]} subprotocols=["p"]`, s)
	if l, err := ParseListen(b, s); err != nil || l.SampleRate != 8000 || !l.PassDtmf || string(l.Metadata) != `{"k":[1]}` || !reflect.DeepEqual(l.Subprotocols, []string{"p"}) {
		t.Fatalf("ParseListen(%s): %+v %v", b, l, err)
	}
	got = resolve(t, `profile=rec {"mixType":"mixed","metadata":{"a":1}}`, s)
	want = map[string]any{"url": "wss://rec.example.com/calls", "mixType": "mixed", "sampleRate": 16000.0, "metadata": map[string]any{"a": 1.0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON overrides: %v", got)
	}
	// The profile itself is not changed by overrides.
	if got := resolve(t, "profile=rec", s); got["mixType"] != "stereo" {
		t.Fatalf("profile changed by an earlier override: %v", got)
	}
	// The result is a valid listen.
	b, _ = Resolve(`profile=bare url=ws://h:1/x timeout=5`, s)
	l, err := ParseListen(b, s)
	if err != nil || l.URL != "ws://h:1/x" || l.Timeout != 5*time.Second {
		t.Fatalf("ParseListen(%s): %+v %v", b, l, err)
	}
}

func TestResolveErrors(t *testing.T) {
	s := settingsWithProfiles(t)
	cases := []struct{ in, want string }{
		{"wss://h/x", `listen: the argument must be the listen JSON or "profile=NAME [key=value ...]" (got "wss://h/x")`},
		{"", `listen: the argument must be the listen JSON or "profile=NAME [key=value ...]" (got "")`},
		{"profile=nope", `listen: no profile named "nope" in the module configuration`},
		{"profile=rec mixType", `listen: override "mixType" is not key=value`},
		{"profile=rec =5", `listen: override "=5" is not key=value`},
	}
	for _, c := range cases {
		_, err := Resolve(c.in, s)
		if err == nil || err.Error() != c.want {
			t.Errorf("Resolve(%q): %v, want %s", c.in, err, c.want)
		}
	}
	if _, err := Resolve(`profile=rec {"mixType":`, s); err == nil || !strings.HasPrefix(err.Error(), "listen: profile overrides are not valid JSON: ") {
		t.Errorf("bad JSON overrides: %v", err)
	}
}

func TestProfilesCheckedAtLoad(t *testing.T) {
	_, err := ParseSettings([]byte(`{"profiles":{"p":{"url":"ws://h","sampleRate":12345}}}`))
	if err == nil || err.Error() != `listen settings: profile "p": "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got 12345)` {
		t.Fatalf("got %v", err)
	}
	_, err = ParseSettings([]byte(`{"profiles":{"p":{"bogus":1}}}`))
	if err == nil || err.Error() != `listen settings: profile "p": unknown key "bogus"` {
		t.Fatalf("got %v", err)
	}
	_, err = ParseSettings([]byte(`{"profiles":{"p":"ws://h"}}`))
	if err == nil || !strings.HasPrefix(err.Error(), `listen settings: "profiles" must be an object of objects: `) {
		t.Fatalf("got %v", err)
	}
	// Channel variables are left for the call.
	if _, err := ParseSettings([]byte(`{"profiles":{"p":{"url":"${u}","sampleRate":"${rate}"}}}`)); err != nil {
		t.Fatalf("channel variables refused at load: %v", err)
	}
}

func TestObjectKeysAsStrings(t *testing.T) {
	l := parse(t, `{"url":"ws://h","metadata":"{\"a\":1}","wsAuth":"{\"username\":\"u\"}",
		"actionHook":"{\"url\":\"http://app/x\",\"method\":\"PUT\"}","bidirectionalAudio":" {\"enabled\":false}"}`)
	if string(l.Metadata) != `{"a":1}` || l.Username != "u" || l.ActionHook == nil || l.ActionHook.Method != "PUT" || l.Playback {
		t.Fatalf("object-in-string keys: %+v", l)
	}
	// A plain string actionHook is still a URL.
	if l := parse(t, `{"url":"ws://h","actionHook":"http://app/y"}`); l.ActionHook.URL != "http://app/y" {
		t.Fatalf("%+v", l.ActionHook)
	}
}

func TestResolveDigitStringsStayStrings(t *testing.T) {
	s := settingsWithProfiles(t)
	for _, arg := range []string{"profile=rec finishOnKey=1", "profile=rec wsAuth.password=1234", "profile=rec wsAuth.username=true"} {
		b, err := Resolve(arg, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseListen(b, s); err != nil {
			t.Errorf("Resolve(%q) then ParseListen: %v", arg, err)
		}
	}
}
