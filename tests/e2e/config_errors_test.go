package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConfigErrors: each bad listen config is refused by
// listen_stream_create with a message naming what is wrong; switchsim exits
// with 2 and shows the message on stderr and in the call's "error".
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		config string
		want   []string // all must appear in the message
	}{
		{"unknown-key", `{"url":"ws://127.0.0.1:9/x","bogusKey":1}`, []string{`unknown key "bogusKey"`}},
		{"malformed-json", `{"url":"ws://127.0.0.1:9/x",`, []string{"not valid JSON"}},
		{"not-an-object", `["url"]`, []string{"JSON"}},
		{"missing-url", `{"mixType":"mono"}`, []string{`"url"`, "required"}},
		{"sampleRate-12345", `{"url":"ws://127.0.0.1:9/x","sampleRate":12345}`,
			[]string{`"sampleRate"`, "8000, 16000, 24000, 48000, 64000", "12345"}},
		{"mixType-quad", `{"url":"ws://127.0.0.1:9/x","mixType":"quad"}`,
			[]string{`"mixType"`, `"mono"`, `"stereo"`, `"mixed"`, "quad"}},
		{"url-http", `{"url":"http://x"}`, []string{`"url"`, "ws://", "http://x"}},
		{"opus-at-64000", `{"url":"ws://127.0.0.1:9/x","encoding":"opus","sampleRate":64000}`,
			[]string{`"sampleRate" 64000 cannot be sent as Opus`, "8000, 16000, 24000, 48000"}},
		{"opus-bitrate", `{"url":"ws://127.0.0.1:9/x","encoding":"opus","opus":{"bitrate":1000000}}`,
			[]string{`"opus.bitrate" must be between 6000 and 510000 (got 1000000)`}},
		{"opus-application", `{"url":"ws://127.0.0.1:9/x","encoding":"opus","opus.application":"music"}`,
			[]string{`"opus.application" must be "voip", "audio" or "lowdelay" (got "music")`}},
		{"opus-with-twilio", `{"url":"ws://127.0.0.1:9/x","protocol":"twilio","encoding":"opus"}`,
			[]string{`Twilio Media Streams are 8 kHz µ-law: "encoding" "opus" cannot be used with "protocol": "twilio"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := RunSim(t, Sim{Config: tc.config, Hangup: 0.2})
			if r.ExitCode != 2 {
				t.Errorf("exit code %d, want 2", r.ExitCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr does not contain %q", w)
				}
			}
			if len(r.Calls) != 1 {
				t.Fatalf("%d call lines, want 1\n%s", len(r.Calls), r.Describe())
			}
			call := r.Calls[0]
			for _, w := range tc.want {
				if !strings.Contains(call.Error, w) {
					t.Errorf("call error %q does not contain %q", call.Error, w)
				}
			}
			if len(call.Events) != 0 || call.Reason != nil {
				t.Errorf("a refused stream has events %v, reason %s", call.Events, call.ReasonString())
			}
			if t.Failed() {
				t.Log(r.Describe())
			} else {
				t.Logf("error: %s", call.Error)
			}
		})
	}
}

// TestConnectFailed: a server that cannot be reached, or that refuses the
// upgrade, gives a "connect_failed" event saying why and the stop reason
// "connect_failed"; the call itself is not an error for switchsim.
func TestConnectFailed(t *testing.T) {
	t.Parallel()
	refuser := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(refuser.Close)
	cases := []struct {
		name, url string
		want      []string // in the connect_failed event's error
	}{
		{"unreachable", "ws://127.0.0.1:1", []string{"127.0.0.1:1"}},
		{"upgrade-refused", "ws" + strings.TrimPrefix(refuser.URL, "http") + "/listen", []string{"401"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": tc.url}), Hangup: 1})
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			failed := call.EventsNamed("connect_failed")
			if len(failed) != 1 {
				t.Fatalf("%d connect_failed events, want 1\n%s", len(failed), r.Describe())
			}
			reason := failed[0].String("error")
			if reason == "" {
				t.Errorf("connect_failed event %s has no error text", failed[0].JSON)
			}
			for _, w := range tc.want {
				if !strings.Contains(reason, w) {
					t.Errorf("connect_failed error %q does not contain %q", reason, w)
				}
			}
			if call.ReasonString() != "connect_failed" {
				t.Errorf("stop reason %s, want connect_failed", call.ReasonString())
			}
			stop, ok := call.Stop()
			if !ok {
				t.Fatalf("no stop event\n%s", r.Describe())
			}
			if stop.T < failed[0].T {
				t.Errorf("stop event (t=%d) before connect_failed (t=%d)", stop.T, failed[0].T)
			}
			if stop.String("error") == "" {
				t.Errorf("stop event %s has no error text", stop.JSON)
			}
			if len(call.EventsNamed("connect")) != 0 {
				t.Errorf("a connect event for a stream that failed to connect")
			}
			t.Logf("connect_failed: %s", failed[0].JSON)
		})
	}
}
