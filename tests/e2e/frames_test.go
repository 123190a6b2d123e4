package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// jsonKeys returns the top-level keys of a JSON object in the order they
// appear (duplicates included), or an error if it is not one.
func jsonKeys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return keys, nil
}

// checkWireFrames checks the frame sequence of one stream: exactly one text
// frame, first, then binary frames of exactly 20 ms each. It returns the
// first frame's text.
func checkWireFrames(t *testing.T, c *WSConn, rate, channels int) string {
	t.Helper()
	frames := c.Frames()
	if len(frames) == 0 {
		t.Fatal("the server received no frame")
	}
	if frames[0].Kind != websocket.TextMessage {
		t.Fatalf("first frame is kind %d (%d bytes), want a text frame before any audio", frames[0].Kind, len(frames[0].Data))
	}
	want := 20 * rate / 1000 * channels * 2
	bad := 0
	for i, f := range frames[1:] {
		switch {
		case f.Kind != websocket.BinaryMessage:
			t.Errorf("frame %d is kind %d (%q), want binary audio after the first frame", i+1, f.Kind, f.Data)
		case len(f.Data) != want:
			if bad++; bad <= 5 {
				t.Errorf("binary frame %d has %d bytes, want %d (20 ms × %d Hz × %d ch × 2 bytes)",
					i+1, len(f.Data), want, rate, channels)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d binary frames of the wrong size in all, of %d", bad, len(frames)-1)
	}
	return string(frames[0].Data)
}

// TestFirstFrame: the first frame is the JSON text frame with sampleRate,
// mixType, the call's attributes and the metadata merged last (its keys
// win, shallow), in that key order; every later frame is 20 ms of audio.
func TestFirstFrame(t *testing.T) {
	t.Parallel()
	const call = `{"callSid":"abc","from":"+1555","to":"+1666"}`
	wantKeys := []string{"sampleRate", "mixType", "callSid", "from", "to", "tag", "nested"}
	cases := []struct {
		name       string
		mix        string
		rate       int // sampleRate
		codec      int
		channels   int
		configRate string // sampleRate as written in the config ("" leaves the default, 8000)
		call       string
		wantKeys   []string
	}{
		{"stereo-16000", "stereo", 16000, 8000, 2, "16000", call, wantKeys},
		{"mono-default-8000", "mono", 8000, 16000, 1, "", call, wantKeys},
		// A nested call attribute is replaced whole by the metadata's (a
		// shallow merge), and keeps its place among the call's attributes.
		{"mixed-48000-string-nested", "mixed", 48000, 8000, 1, `"48000"`,
			`{"callSid":"abc","from":"+1555","to":"+1666","nested":{"x":1,"to":"call-to"}}`,
			[]string{"sampleRate", "mixType", "callSid", "from", "to", "nested", "tag"}},
	}
	// metadata: "from" overrides the call's, "to" is not touched, a nested
	// object is kept whole (shallow merge).
	metadata := `{"from":"meta-from","tag":"t1","nested":{"to":"nested-to","n":[1,2]}}`
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = NewWSServer(t, nil)
		cfg := fmt.Sprintf(`{"url":%q,"mixType":%q,"metadata":%s`, servers[i].URL, tc.mix, metadata)
		if tc.configRate != "" {
			cfg += `,"sampleRate":` + tc.configRate
		}
		cfg += "}"
		sims[i] = Sim{Config: cfg, Call: tc.call, Rate: tc.codec, Hangup: 1,
			Caller: WriteWAV(t, "caller.wav", tc.codec, Sine(tc.codec, 1000, -6, 1)),
			Callee: WriteWAV(t, "callee.wav", tc.codec, Sine(tc.codec, 600, -6, 1))}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			conns := servers[i].WaitDone(t, 1, 5*time.Second)
			if len(conns) != 1 {
				t.Fatalf("%d connections, want 1", len(conns))
			}
			first := checkWireFrames(t, conns[0], tc.rate, tc.channels)
			keys, err := jsonKeys([]byte(first))
			if err != nil {
				t.Fatalf("first frame %q: %v", first, err)
			}
			if !reflect.DeepEqual(keys, tc.wantKeys) {
				t.Errorf("first frame keys %v, want %v (sampleRate, mixType, call attributes, then metadata; no duplicates)\n%s",
					keys, tc.wantKeys, first)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(first), &got); err != nil {
				t.Fatalf("first frame %q: %v", first, err)
			}
			want := map[string]any{
				"sampleRate": float64(tc.rate), "mixType": tc.mix,
				"callSid": "abc", "from": "meta-from", "to": "+1666", "tag": "t1",
				"nested": map[string]any{"to": "nested-to", "n": []any{1.0, 2.0}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("first frame\n got %s\nwant %v", first, want)
			}
			if n := len(conns[0].BinaryFrames()); n < 45 {
				t.Errorf("%d audio frames for a 1 s call", n)
			}
		})
	}
}
