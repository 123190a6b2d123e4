package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, js string) *Listen {
	t.Helper()
	l, err := ParseListen([]byte(js), DefaultSettings())
	if err != nil {
		t.Fatalf("ParseListen(%s): %v", js, err)
	}
	return l
}

func parseErr(t *testing.T, js string) string {
	t.Helper()
	l, err := ParseListen([]byte(js), DefaultSettings())
	if err == nil {
		t.Fatalf("ParseListen(%s) accepted: %+v", js, l)
	}
	if l != nil {
		t.Fatalf("ParseListen(%s) returned a config with its error", js)
	}
	return err.Error()
}

func TestDefaults(t *testing.T) {
	l := parse(t, `{"verb":"listen","url":"wss://rec.example.com/calls"}`)
	want := &Listen{
		URL:               "wss://rec.example.com/calls",
		Protocol:          "jambonz",
		MixType:           "mono",
		SampleRate:        8000,
		Encoding:          L16,
		Opus:              Opus{Application: OpusVoIP, Complexity: OpusDefaultComplexity},
		Subprotocols:      []string{"audio.jambonz.org", "audio.drachtio.org"},
		Playback:          true,
		StreamingRate:     8000,
		StreamingEncoding: L16,
		JitterMs:          40,
		SilenceDb:         -45,
		TLS:               TLS{Verify: true},
		Reconnect:         Reconnect{Attempts: 0, Backoff: 500 * time.Millisecond, Stable: 5 * time.Second},
		PingInterval:      10 * time.Second,
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", l, want)
	}
}

func TestDefaultsFollowSettings(t *testing.T) {
	s := DefaultSettings()
	s.SampleRate = 16000
	s.Subprotocols = []string{"x.proto"}
	s.JitterMs = 100
	s.SilenceThreshold = -60
	l, err := ParseListen([]byte(`{"url":"ws://h"}`), s)
	if err != nil {
		t.Fatal(err)
	}
	if l.SampleRate != 16000 || !reflect.DeepEqual(l.Subprotocols, []string{"x.proto"}) || l.JitterMs != 100 || l.SilenceDb != -60 {
		t.Fatalf("settings not used as defaults: %+v", l)
	}
}

func TestEveryKey(t *testing.T) {
	l := parse(t, `{
		"verb": "listen",
		"url": "ws://10.0.0.1:8080/x?y=1",
		"protocol": "jambonz",
		"mixType": "stereo",
		"sampleRate": 16000,
		"encoding": "opus",
		"opus": {"bitrate": 48000, "application": "audio", "fec": true, "dtx": true, "complexity": 3},
		"metadata": {"a": 1, "b": "two"},
		"wsAuth": {"username": "u", "password": "p"},
		"subprotocols": ["one", " two "],
		"passDtmf": true,
		"finishOnKey": "#*",
		"maxLength": 3600,
		"timeout": 2.5,
		"silenceThresholdDb": -50,
		"playBeep": true,
		"actionHook": "https://app.example.com/hook",
		"bidirectionalAudio": {"enabled": true, "streaming": true, "sampleRate": 32000, "encoding": "opus", "jitterMs": 60},
		"transcribe": {"recognizer": {"vendor": "deepgram", "auth": {"apiKey": "k"}, "channels": "callee"}, "forward": "true"},
		"eventHook": "/x",
		"pingIntervalMs": 2500
	}`)
	want := &Listen{
		URL:               "ws://10.0.0.1:8080/x?y=1",
		Protocol:          "jambonz",
		MixType:           "stereo",
		SampleRate:        16000,
		Encoding:          OpusCode,
		Opus:              Opus{Bitrate: 48000, Application: OpusAudio, FEC: true, DTX: true, Complexity: 3},
		Metadata:          []byte(`{"a": 1, "b": "two"}`),
		Username:          "u",
		Password:          "p",
		Subprotocols:      []string{"one", "two"},
		PassDtmf:          true,
		FinishOnKey:       "#*",
		MaxLength:         time.Hour,
		Timeout:           2500 * time.Millisecond,
		PlayBeep:          true,
		ActionHook:        &Hook{URL: "https://app.example.com/hook", Method: "POST"},
		Playback:          true,
		PlaybackAsked:     true,
		Streaming:         true,
		StreamingRate:     32000,
		StreamingEncoding: OpusCode,
		JitterMs:          60,
		SilenceDb:         -50,
		TLS:               TLS{Verify: true},
		Reconnect:         Reconnect{Backoff: 500 * time.Millisecond, Stable: 5 * time.Second},
		PingInterval:      2500 * time.Millisecond,
		Transcribe: &Transcribe{Forward: true, FinalTimeout: 2 * time.Second, Recognizer: Recognizer{
			Vendor: "deepgram", APIKey: "k", Language: "en-US", Channels: "callee", SampleRate: 8000, Punctuate: true,
			Reconnect: Reconnect{Backoff: 500 * time.Millisecond, Stable: 5 * time.Second}}},
	}
	ign := l.IgnoredKeys
	l.IgnoredKeys = nil
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("\n got %+v\nwant %+v", l, want)
	}
	if len(ign) != 1 || ign[0] != "eventHook" {
		t.Fatalf("IgnoredKeys %v, want eventHook", ign)
	}
}

func TestStringsForNumbersAndBooleans(t *testing.T) {
	l := parse(t, `{"url":"wss://h","sampleRate":"16000","maxLength":"30","timeout":" 5 ",
		"passDtmf":"true","playBeep":"TRUE","silenceThresholdDb":"-40",
		"bidirectionalAudio":{"enabled":"false","streaming":"1","sampleRate":"24000","jitterMs":"20"}}`)
	if l.SampleRate != 16000 || l.MaxLength != 30*time.Second || l.Timeout != 5*time.Second ||
		!l.PassDtmf || !l.PlayBeep || l.SilenceDb != -40 ||
		l.Playback || !l.Streaming || l.StreamingRate != 24000 || l.JitterMs != 20 {
		t.Fatalf("strings not read as numbers/booleans: %+v", l)
	}
}

func TestEachSampleRate(t *testing.T) {
	for _, r := range []string{"8000", "16000", "24000", "48000", "64000"} {
		l := parse(t, `{"url":"ws://h","sampleRate":`+r+`}`)
		if want := map[string]int{"8000": 8000, "16000": 16000, "24000": 24000, "48000": 48000, "64000": 64000}[r]; l.SampleRate != want {
			t.Errorf("sampleRate %s gave %d", r, l.SampleRate)
		}
	}
}

func TestMixTypes(t *testing.T) {
	for _, m := range []string{"mono", "stereo", "mixed"} {
		if l := parse(t, `{"url":"ws://h","mixType":"`+m+`"}`); l.MixType != m {
			t.Errorf("mixType %s gave %s", m, l.MixType)
		}
	}
}

func TestWsAuthDottedKeys(t *testing.T) {
	l := parse(t, `{"url":"ws://h","wsAuth.username":"alice","wsAuth.password":"s3cret"}`)
	if l.Username != "alice" || l.Password != "s3cret" {
		t.Fatalf("dotted wsAuth: %q %q", l.Username, l.Password)
	}
}

func TestActionHookObject(t *testing.T) {
	l := parse(t, `{"url":"ws://h","actionHook":{"url":"http://app/x","method":"put","username":"u","password":"p"}}`)
	want := &Hook{URL: "http://app/x", Method: "PUT", Username: "u", Password: "p"}
	if !reflect.DeepEqual(l.ActionHook, want) {
		t.Fatalf("got %+v, want %+v", l.ActionHook, want)
	}
	l = parse(t, `{"url":"ws://h","actionHook":{"url":"https://app/x"}}`)
	if l.ActionHook.Method != "POST" {
		t.Fatalf("default method %q", l.ActionHook.Method)
	}
	l = parse(t, `{"url":"ws://h","actionHook":null}`)
	if l.ActionHook != nil {
		t.Fatalf("null actionHook gave %+v", l.ActionHook)
	}
}

func TestSubprotocolsString(t *testing.T) {
	l := parse(t, `{"url":"ws://h","subprotocols":"a.b, c.d ,"}`)
	if !reflect.DeepEqual(l.Subprotocols, []string{"a.b", "c.d"}) {
		t.Fatalf("got %q", l.Subprotocols)
	}
}

func TestDisableBidirectionalAudio(t *testing.T) {
	l := parse(t, `{"url":"ws://h","disableBidirectionalAudio":true}`)
	if l.Playback {
		t.Fatal("disableBidirectionalAudio:true left playback on")
	}
	l = parse(t, `{"url":"ws://h","bidirectionalAudio":{"enabled":false}}`)
	if l.Playback {
		t.Fatal("bidirectionalAudio.enabled:false left playback on")
	}
}

func TestDisableWinsWhateverTheOrder(t *testing.T) {
	// Keys must not be applied in Go's random map order.
	for i := 0; i < 50; i++ {
		l := parse(t, `{"url":"ws://h","disableBidirectionalAudio":true,"bidirectionalAudio":{"enabled":true}}`)
		if l.Playback {
			t.Fatalf("run %d: disableBidirectionalAudio:true with bidirectionalAudio.enabled:true gave playback on", i)
		}
		l = parse(t, `{"wsAuth.username":"dotted","url":"ws://h","wsAuth":{"username":"object"}}`)
		if l.Username != "dotted" {
			t.Fatalf("run %d: wsAuth.username %q, want the dotted key to win every time", i, l.Username)
		}
		// With two faults the same one is named every time.
		if got, want := parseErr(t, `{"url":"ws://h","zzz":1,"mixType":"x","aaa":2}`), `listen: unknown key "aaa"`; got != want {
			t.Fatalf("run %d: %s, want %s", i, got, want)
		}
	}
}

func TestMetadataNull(t *testing.T) {
	if l := parse(t, `{"url":"ws://h","metadata":null}`); l.Metadata != nil {
		t.Fatalf("metadata null gave %s", l.Metadata)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"url":"ws://h","foo":1}`, `listen: unknown key "foo"`},
		{`{"url":"ws://h"`, `listen: config is not valid JSON: unexpected end of JSON input`},
		{`null`, `listen: config must be a JSON object`},
		{`{}`, `listen: "url" is required`},
		{`{"verb":"listen"}`, `listen: "url" is required`},
		{`{"verb":"dial","url":"ws://h"}`, `listen: "verb" must be "listen" (got "dial")`},
		{`{"url":"http://h/x"}`, `listen: "url" must be a ws:// or wss:// URL (got "http://h/x")`},
		{`{"url":"wss://"}`, `listen: "url" must be a ws:// or wss:// URL (got "wss://")`},
		{`{"url":"h/x"}`, `listen: "url" must be a ws:// or wss:// URL (got "h/x")`},
		{`{"url":42}`, `listen: "url" must be a string`},
		{`{"url":"ws://h","sampleRate":12345}`, `listen: "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got 12345)`},
		{`{"url":"ws://h","sampleRate":32000}`, `listen: "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got 32000)`},
		{`{"url":"ws://h","sampleRate":"12345"}`, `listen: "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got "12345")`},
		{`{"url":"ws://h","sampleRate":"fast"}`, `listen: "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got "fast")`},
		{`{"url":"ws://h","mixType":"quad"}`, `listen: "mixType" must be "mono", "stereo" or "mixed" (got "quad")`},
		{`{"url":"ws://h","mixType":"Mono"}`, `listen: "mixType" must be "mono", "stereo" or "mixed" (got "Mono")`},
		{`{"url":"ws://h","mixType":2}`, `listen: "mixType" must be a string`},
		{`{"url":"ws://h","maxLength":-1}`, `listen: "maxLength" must not be negative (got -1)`},
		{`{"url":"ws://h","timeout":-0.5}`, `listen: "timeout" must not be negative (got -0.5)`},
		{`{"url":"ws://h","maxLength":"ten"}`, `listen: "maxLength" must be a number`},
		{`{"url":"ws://h","timeout":100000}`, `listen: "timeout" must be between 0 and 86400 (got 100000)`},
		{`{"url":"ws://h","finishOnKey":"#x"}`, `listen: "finishOnKey" may hold only DTMF keys 0-9 * # A-D (got "#x")`},
		{`{"url":"ws://h","finishOnKey":"a"}`, `listen: "finishOnKey" may hold only DTMF keys 0-9 * # A-D (got "a")`},
		{`{"url":"ws://h","finishOnKey":"1 2"}`, `listen: "finishOnKey" may hold only DTMF keys 0-9 * # A-D (got "1 2")`},
		{`{"url":"ws://h","passDtmf":"yes"}`, `listen: "passDtmf" must be true or false`},
		{`{"url":"ws://h","playBeep":1}`, `listen: "playBeep" must be true or false`},
		{`{"url":"ws://h","actionHook":"ftp://h/x"}`, `listen: "actionHook" must be an http:// or https:// URL (got "ftp://h/x")`},
		{`{"url":"ws://h","actionHook":"/relative"}`, `listen: "actionHook" must be an http:// or https:// URL (got "/relative")`},
		{`{"url":"ws://h","actionHook":{"method":"POST"}}`, `listen: "actionHook" must be an http:// or https:// URL (got "")`},
		{`{"url":"ws://h","actionHook":{"url":"http://a","method":"GET"}}`, `listen: "actionHook.method" must be "POST" or "PUT" (got "GET")`},
		{`{"url":"ws://h","actionHook":{"url":"http://a","token":"x"}}`, `listen: unknown key "actionHook.token"`},
		{`{"url":"ws://h","actionHook":{"url":7}}`, `listen: "actionHook.url" must be a string`},
		{`{"url":"ws://h","actionHook":7}`, `listen: "actionHook" must be a URL or an object {"url", "method", "username", "password"}`},
		{`{"url":"ws://h","wsAuth":"u:p"}`, `listen: "wsAuth" must be an object {"username", "password"}`},
		{`{"url":"ws://h","wsAuth":{"user":"u"}}`, `listen: unknown key "wsAuth.user"`},
		{`{"url":"ws://h","wsAuth":{"password":1}}`, `listen: "wsAuth.password" must be a string`},
		{`{"url":"ws://h","wsAuth.username":false}`, `listen: "wsAuth.username" must be a string`},
		{`{"url":"ws://h","metadata":[1]}`, `listen: "metadata" must be a JSON object`},
		{`{"url":"ws://h","metadata":"x"}`, `listen: "metadata" must be a JSON object`},
		{`{"url":"ws://h","subprotocols":5}`, `listen: "subprotocols" must be a string or a list of strings`},
		{`{"url":"ws://h","silenceThresholdDb":3}`, `listen: "silenceThresholdDb" must be between -96 and 0 (got 3)`},
		{`{"url":"ws://h","bidirectionalAudio":true}`, `listen: "bidirectionalAudio" must be an object {"enabled", "streaming", "sampleRate", "encoding", "jitterMs"}`},
		{`{"url":"ws://h","bidirectionalAudio":{"rate":8000}}`, `listen: unknown key "bidirectionalAudio.rate"`},
		{`{"url":"ws://h","bidirectionalAudio":{"sampleRate":44100}}`, `listen: "bidirectionalAudio.sampleRate" must be one of 8000, 16000, 24000, 32000, 48000, 64000 (got 44100)`},
		{`{"url":"ws://h","bidirectionalAudio":{"jitterMs":2001}}`, `listen: "bidirectionalAudio.jitterMs" must be between 0 and 2000 (got 2001)`},
		{`{"url":"ws://h","bidirectionalAudio":{"jitterMs":10.5}}`, `listen: "bidirectionalAudio.jitterMs" must be a whole number (got 10.5)`},
		{`{"url":"ws://h","bidirectionalAudio":{"streaming":"on"}}`, `listen: "bidirectionalAudio.streaming" must be true or false`},
		{`{"url":"ws://h","disableBidirectionalAudio":"maybe"}`, `listen: "disableBidirectionalAudio" must be true or false`},
	}
	for _, c := range cases {
		if got := parseErr(t, c.in); got != c.want {
			t.Errorf("ParseListen(%s):\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func TestNonObjectRefused(t *testing.T) {
	// Valid JSON of the wrong shape is not "not valid JSON".
	for _, in := range []string{`[1,2]`, `"listen"`, `42`, `true`, `null`} {
		if got, want := parseErr(t, in), "listen: config must be a JSON object"; got != want {
			t.Errorf("ParseListen(%s): %s, want %s", in, got, want)
		}
		if _, err := ParseSettings([]byte(in)); err == nil || err.Error() != "listen: settings must be a JSON object" {
			t.Errorf("ParseSettings(%s): %v", in, err)
		}
	}
}

func TestNegativeAsStringSaysNegative(t *testing.T) {
	if got, want := parseErr(t, `{"url":"ws://h","maxLength":"-5"}`), `listen: "maxLength" must not be negative (got -5)`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got, want := parseErr(t, `{"url":"ws://h","timeout":"-0.25"}`), `listen: "timeout" must not be negative (got -0.25)`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestNaNRefused(t *testing.T) {
	// NaN passes a plain range check (every comparison is false): it must
	// not become a duration of -2562047h.
	cases := []struct{ in, want string }{
		{`{"url":"ws://h","maxLength":"NaN"}`, `listen: "maxLength" must be between 0 and 86400 (got NaN)`},
		{`{"url":"ws://h","timeout":"nan"}`, `listen: "timeout" must be between 0 and 86400 (got NaN)`},
		{`{"url":"ws://h","silenceThresholdDb":"NaN"}`, `listen: "silenceThresholdDb" must be between -96 and 0 (got NaN)`},
		{`{"url":"ws://h","maxLength":"Inf"}`, `listen: "maxLength" must be between 0 and 86400 (got +Inf)`},
		{`{"url":"ws://h","bidirectionalAudio":{"jitterMs":"NaN"}}`, `listen: "bidirectionalAudio.jitterMs" must be between 0 and 2000 (got NaN)`},
	}
	for _, c := range cases {
		if got := parseErr(t, c.in); got != c.want {
			t.Errorf("ParseListen(%s):\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if _, err := ParseSettings([]byte(`{"bufferSeconds":"NaN"}`)); err == nil || err.Error() != `listen: "bufferSeconds" must be between 0.1 and 60 (got NaN)` {
		t.Errorf("bufferSeconds NaN: %v", err)
	}
}

func TestURLErrorsHideCredentials(t *testing.T) {
	for _, in := range []string{
		`{"url":"http://alice:s3cret@rec.example.com/x"}`,
		`{"url":"ws://h","actionHook":"ftp://bob:s3cret@app.example.com/hook"}`,
		`{"url":"ws://h","actionHook":{"url":"mailto:x","password":"s3cret"}}`,
	} {
		if got := parseErr(t, in); strings.Contains(got, "s3cret") {
			t.Errorf("ParseListen(%s): error shows the password: %s", in, got)
		}
	}
	if got, want := parseErr(t, `{"url":"http://alice:s3cret@rec.example.com/x?token=t0k"}`),
		`listen: "url" must be a ws:// or wss:// URL (got "http://rec.example.com/x?…")`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestZeroIsAllowedForLengths(t *testing.T) {
	l := parse(t, `{"url":"ws://h","maxLength":0,"timeout":"0"}`)
	if l.MaxLength != 0 || l.Timeout != 0 {
		t.Fatalf("%v %v", l.MaxLength, l.Timeout)
	}
}

func TestIsDTMF(t *testing.T) {
	for _, r := range "0123456789*#ABCD" {
		if !IsDTMF(r) {
			t.Errorf("IsDTMF(%q) = false", r)
		}
	}
	for _, r := range "abcdE+ x/:" {
		if IsDTMF(r) {
			t.Errorf("IsDTMF(%q) = true", r)
		}
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	for _, in := range []string{"", "  \n", "{}"} {
		s, err := ParseSettings([]byte(in))
		if err != nil {
			t.Fatalf("ParseSettings(%q): %v", in, err)
		}
		if !reflect.DeepEqual(s, DefaultSettings()) {
			t.Fatalf("ParseSettings(%q) = %+v", in, s)
		}
	}
	d := DefaultSettings()
	want := Settings{
		SampleRate: 8000, Protocol: "jambonz", Subprotocols: []string{"audio.jambonz.org", "audio.drachtio.org"},
		BufferSeconds: 1, JitterMs: 40, MaxTextBytes: 4 << 20, MaxQueuedClips: 10,
		HookTimeout: 5 * time.Second, HookRetries: 2, ConnectTimeout: 5 * time.Second,
		FlushTimeout: 2 * time.Second, MaxStreams: 4096, TLS: TLS{Verify: true},
		MaxClipSeconds: 120, MaxQueuedSeconds: 120,
		SilenceThreshold: -45, LogLevel: 6,

		MaxRefusals: 100, MaxQueuedMarks: 100, MaxServerBytes: 256 << 20, MaxEventsPerSecond: 20,

		MaxListensPerChannel: 4, ShutdownGrace: 5 * time.Second,
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("DefaultSettings\n got %+v\nwant %+v", d, want)
	}
}

func TestParseSettingsEveryKey(t *testing.T) {
	s, err := ParseSettings([]byte(`{"sampleRate":"16000","protocol":"twilio","subprotocols":"a,b","bufferSeconds":2.5,
		"jitterMs":"80","maxTextBytes":2048,"maxQueuedClips":3,"hookTimeoutMs":1500,"hookRetries":0,
		"connectTimeoutMs":"250","flushTimeoutMs":0,"maxStreams":100,"caFile":"/etc/ca.pem",
		"tlsVerify":"false","silenceThresholdDb":-30.5,"logLevel":7,
		"maxRefusals":5,"maxQueuedMarks":"7","maxServerBytes":2097152,"maxEventsPerSecond":3,
		"metrics-listen":"127.0.0.1:9464","max-listens-per-channel":"2","shutdown-grace-seconds":30}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		SampleRate: 16000, Protocol: "twilio", Subprotocols: []string{"a", "b"}, BufferSeconds: 2.5, JitterMs: 80,
		MaxTextBytes: 2048, MaxQueuedClips: 3, HookTimeout: 1500 * time.Millisecond, HookRetries: 0,
		ConnectTimeout: 250 * time.Millisecond, FlushTimeout: 0, MaxStreams: 100,
		TLS: TLS{CAFile: "/etc/ca.pem", Verify: false}, MaxClipSeconds: 120, MaxQueuedSeconds: 120, SilenceThreshold: -30.5, LogLevel: 7,

		MaxRefusals: 5, MaxQueuedMarks: 7, MaxServerBytes: 2 << 20, MaxEventsPerSecond: 3,

		MetricsListen: "127.0.0.1:9464", MaxListensPerChannel: 2, ShutdownGrace: 30 * time.Second,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("\n got %+v\nwant %+v", s, want)
	}
}

func TestParseSettingsErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"bogus":1}`, `listen settings: unknown key "bogus"`},
		{`{`, `listen: settings is not valid JSON: unexpected end of JSON input`},
		{`null`, `listen: settings must be a JSON object`},
		{`{"sampleRate":11025}`, `listen: "sampleRate" must be one of 8000, 16000, 24000, 48000, 64000 (got 11025)`},
		{`{"bufferSeconds":0}`, `listen: "bufferSeconds" must be between 0.1 and 60 (got 0)`},
		{`{"jitterMs":-1}`, `listen: "jitterMs" must be between 0 and 2000 (got -1)`},
		{`{"maxTextBytes":100}`, `listen: "maxTextBytes" must be between 1024 and 1073741824 (got 100)`},
		{`{"maxQueuedClips":0}`, `listen: "maxQueuedClips" must be between 1 and 1000 (got 0)`},
		{`{"hookTimeoutMs":50}`, `listen: "hookTimeoutMs" must be between 100 and 600000 (got 50)`},
		{`{"hookRetries":11}`, `listen: "hookRetries" must be between 0 and 10 (got 11)`},
		{`{"connectTimeoutMs":"x"}`, `listen: "connectTimeoutMs" must be a number`},
		{`{"maxStreams":1.5}`, `listen: "maxStreams" must be a whole number (got 1.5)`},
		{`{"caFile":1}`, `listen: "caFile" must be a string`},
		{`{"tlsVerify":"nope"}`, `listen: "tlsVerify" must be true or false`},
		{`{"logLevel":8}`, `listen: "logLevel" must be between 0 and 7 (got 8)`},
		{`{"protocol":"plivo"}`, `listen: "protocol" must be "jambonz" or "twilio" (got "plivo")`},

		{`{"maxRefusals":0}`, `listen: "maxRefusals" must be between 1 and 1000000 (got 0)`},
		{`{"maxQueuedMarks":0}`, `listen: "maxQueuedMarks" must be between 1 and 10000 (got 0)`},
		{`{"maxServerBytes":1000}`, `listen: "maxServerBytes" must be between 1048576 and 1099511627776 (got 1000)`},
		{`{"maxEventsPerSecond":0}`, `listen: "maxEventsPerSecond" must be between 1 and 10000 (got 0)`},
	}
	for _, c := range cases {
		_, err := ParseSettings([]byte(c.in))
		if err == nil {
			t.Errorf("ParseSettings(%s) accepted", c.in)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("ParseSettings(%s):\n got %s\nwant %s", c.in, err, c.want)
		}
	}
}

func TestCheckCodecRate(t *testing.T) {
	for _, r := range []int{8000, 16000, 24000, 32000, 48000} {
		if err := CheckCodecRate(r); err != nil {
			t.Errorf("CheckCodecRate(%d): %v", r, err)
		}
	}
	for _, r := range []int{0, -8000, 11025, 44100, 64000, 96000} {
		err := CheckCodecRate(r)
		if err == nil {
			t.Errorf("CheckCodecRate(%d) accepted", r)
			continue
		}
		if r == 44100 {
			if got, want := err.Error(), "listen: codec rate 44100 Hz is not supported (8000, 16000, 24000, 32000 or 48000)"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		}
	}
}

func TestSecondsFractions(t *testing.T) {
	l := parse(t, `{"url":"ws://h","maxLength":0.02}`)
	if l.MaxLength != 20*time.Millisecond {
		t.Fatalf("maxLength 0.02 gave %v", l.MaxLength)
	}
}

func TestProductionSettingsErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"metrics-listen":"9464"}`:            `"metrics-listen" must be host:port (e.g. 127.0.0.1:9464), not "9464"`,
		`{"max-listens-per-channel":0}`:        `"max-listens-per-channel"`,
		`{"shutdown-grace-seconds":"forever"}`: `"shutdown-grace-seconds"`,
	} {
		if _, err := ParseSettings([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", in, err, want)
		}
	}
}
