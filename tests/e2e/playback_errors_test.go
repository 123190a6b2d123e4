package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pbWAV8 is a WAV file of 8-bit unsigned PCM (a format the engine refuses).
func pbWAV8(rate int, n int) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1)) // PCM
	w(uint16(1)) // mono
	w(uint32(rate))
	w(uint32(rate)) // byte rate
	w(uint16(1))    // block align
	w(uint16(8))    // bits
	b.WriteString("data")
	w(uint32(n))
	for i := 0; i < n; i++ {
		b.WriteByte(byte(128 + 100*math.Sin(2*math.Pi*600*float64(i)/float64(rate))))
	}
	return b.Bytes()
}

// pbBigPlay is a playAudio text frame of exactly size bytes (valid JSON,
// valid base64).
func pbBigPlay(size int) []byte {
	head := `{"type":"playAudio","data":{"audioContentType":"raw","sampleRate":8000,"audioContent":"`
	tail := `"}}`
	n := (size - len(head) - len(tail)) / 4 * 4
	b64 := base64.StdEncoding.EncodeToString(make([]byte, n/4*3))
	out := head + b64 + tail
	return []byte(out + strings.Repeat(" ", size-len(out)))
}

// TestBadPlaybackInput: each malformed thing a server may send gets an error
// frame naming the problem (and an error event), and the stream goes on:
// audio keeps reaching the server after it, and a valid playAudio sent next
// plays and gets its playDone.
func TestBadPlaybackInput(t *testing.T) {
	t.Parallel()
	raw := func(data map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"type": "playAudio", "data": data})
		return b
	}
	cases := []struct {
		name     string
		bad      []byte
		settings string
		word     string  // the error text names the problem with it
		okSec    float64 // the valid clip sent after
	}{
		{"invalid-base64", raw(map[string]any{"audioContent": "@@not*base64@@", "audioContentType": "raw", "sampleRate": 8000}),
			"", "base64", 0.3},
		{"wav-8-bit", raw(map[string]any{"audioContent": base64.StdEncoding.EncodeToString(pbWAV8(8000, 800)), "audioContentType": "wav"}),
			"", "16-bit PCM", 0.3},
		{"unknown-content-type", raw(map[string]any{"audioContent": base64.StdEncoding.EncodeToString(pbLE(Sine(8000, 600, -6, 0.1))),
			"audioContentType": "mp3", "sampleRate": 8000}), "", "audioContentType", 0.3},
		{"missing-audioContent", raw(map[string]any{"audioContentType": "raw", "sampleRate": 8000}),
			"", "audioContent", 0.3},
		// The valid clip must fit under the limit too: 50 ms.
		{"frame-over-limit", pbBigPlay(4096), `{"maxTextBytes":2048}`, "limit", 0.05},
		{"invalid-json", []byte(`{"type":"playAudio","data":{"audioContent":`), "", "JSON", 0.3},
	}
	const hz = 600.0
	scripts := make([]*pbScript, len(cases))
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	paths := make([]string, len(cases))
	for i, tc := range cases {
		script := newPBScript()
		scripts[i] = script
		servers[i] = NewWSServer(t, func(c *WSConn) {
			done, ok := pbAfterFirstFrame(c, script)
			if ok && pbWaitBinary(c, 5, 2*time.Second) {
				script.send(c, "bad", websocket.TextMessage, tc.bad)
				if !pbWaitText(c, "error", 1, 2*time.Second) {
					script.failf("no error frame within 2 s of the bad input")
				}
				// Let some audio pass, then a valid clip.
				n := len(c.BinaryFrames())
				pbWaitBinary(c, n+3, 2*time.Second)
				script.send(c, "ok", websocket.TextMessage, pbPlayRaw(Sine(8000, hz, pbLevel, tc.okSec), 8000, "ok"))
			}
			<-done
		})
		paths[i] = pbPlayedPath(t)
		sims[i] = Sim{Config: pbConfig(t, servers[i].URL, nil), Settings: tc.settings, Played: paths[i],
			Hangup: 1.4, QuietLog: true}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPBTimes(t, results[i])
			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			scripts[i].check(t)
			desc := pbDescribe(pt, c)
			msgs := pbText(c)
			errs := pbOfType(msgs, "error")
			if len(errs) != 1 {
				t.Fatalf("%d error frames, want 1\n%s", len(errs), desc)
			}
			text := errs[0].str("error")
			if !strings.Contains(text, tc.word) {
				t.Errorf("error frame %s does not name the problem (%q)", errs[0].Raw, tc.word)
			}
			if ev := pt.call.EventsNamed("error"); len(ev) != 1 || ev[0].String("error") != text {
				t.Errorf("error events %v, want one with the frame's text %q", ev, text)
			}
			if after := len(c.BinaryFrames()) - errs[0].Binary; after < 10 {
				t.Errorf("only %d audio frames reached the server after the error frame: the stream did not go on", after)
			}
			if pt.call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup\n%s", pt.call.ReasonString(), desc)
			}
			pds := pbOfType(msgs, "playDone")
			if len(pds) != 1 || pds[0].str("id") != "ok" {
				t.Errorf("playDone frames %v, want one for \"ok\" (the bad input must play nothing)\n%s", pds, desc)
			}
			x := pbPlayed(t, paths[i])
			start := pbNonZeroFrom(x, 0)
			if start < 0 {
				t.Fatalf("the valid clip after the error did not play\n%s", desc)
			}
			okSent := newPBClock(t, c).ms(scripts[i].sentAt(t, "ok"))
			if ms := float64(start) / pbRate * 1000; ms < okSent-pbClockSlack {
				t.Errorf("audio at %.1f ms, before the valid clip was sent (%.1f ms): the bad input played", ms, okSent)
			}
			_, last := pbSpan(x, start, pbThreshold)
			if n, want := last+1-start, int(tc.okSec*pbRate); n < want-pbFrame || n > want+pbFrame {
				t.Errorf("%d samples played, want %d ± %d", n, want, pbFrame)
			}
			if f := DominantFreq(x[start:last+1], pbRate); math.Abs(f-hz) > 3 {
				t.Errorf("played at %.2f Hz, want %.0f", f, hz)
			}
			t.Logf("error: %s", text)
		})
	}
}

// TestRefusedPlaybackOff: when the host creates the stream without playback
// (switchsim --flags no-playback) or the config turns it off, playAudio,
// binary frames, killAudio and marks are refused, each with an error frame
// saying bidirectional audio is off; nothing plays and the stream goes on.
func TestRefusedPlaybackOff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		flags  string
		config map[string]any
	}{
		{"host-flag-no-playback", "no-playback", nil},
		{"config-disableBidirectionalAudio", "", map[string]any{"disableBidirectionalAudio": true}},
		{"config-bidirectionalAudio-enabled-false", "", map[string]any{"bidirectionalAudio": map[string]any{"enabled": false, "streaming": true}}},
	}
	sends := []struct {
		label string
		kind  int
		data  []byte
	}{
		{"playAudio", websocket.TextMessage, pbPlayRaw(Sine(8000, 600, pbLevel, 0.3), 8000, "x")},
		{"binary", websocket.BinaryMessage, pbLE(Sine(8000, 600, pbLevel, 0.02))},
		{"binary2", websocket.BinaryMessage, pbLE(Sine(8000, 600, pbLevel, 0.02))},
		{"mark", websocket.TextMessage, pbMark("m")},
		{"killAudio", websocket.TextMessage, []byte(`{"type":"killAudio"}`)},
	}
	scripts := make([]*pbScript, len(cases))
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	paths := make([]string, len(cases))
	for i, tc := range cases {
		script := newPBScript()
		scripts[i] = script
		servers[i] = NewWSServer(t, func(c *WSConn) {
			done, ok := pbAfterFirstFrame(c, script)
			if ok {
				for _, s := range sends {
					script.send(c, s.label, s.kind, s.data)
				}
			}
			<-done
		})
		paths[i] = pbPlayedPath(t)
		sims[i] = Sim{Config: pbConfig(t, servers[i].URL, tc.config), Flags: tc.flags, Played: paths[i],
			Hangup: 1.0, QuietLog: true}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pt := newPBTimes(t, results[i])
			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			scripts[i].check(t)
			desc := pbDescribe(pt, c)
			x := pbPlayed(t, paths[i])
			pbCheckSilent(t, x, 0, len(x), "playback off")
			if pt.call.SamplesPlayed != 0 {
				t.Errorf("samplesPlayed %d, want 0", pt.call.SamplesPlayed)
			}
			msgs := pbText(c)
			errs := pbOfType(msgs, "error")
			if len(errs) != len(sends) {
				t.Errorf("%d error frames, want %d (one per message sent)\n%s", len(errs), len(sends), desc)
			}
			for j, e := range errs {
				if !strings.Contains(e.str("error"), "bidirectional audio is off") {
					t.Errorf("error frame %s does not say bidirectional audio is off", e.Raw)
				}
				// A refused clip is named by its id.
				if j < len(sends) && sends[j].label == "playAudio" && e.str("id") != "x" {
					t.Errorf("error frame %s refusing the clip does not name its id x", e.Raw)
				}
				if j < len(sends) {
					if w := strings.TrimSuffix(sends[j].label, "2"); w != "binary" && !strings.Contains(e.str("error"), w) {
						t.Errorf("error frame %d %s does not name what it refused (%s)", j, e.Raw, w)
					}
				}
			}
			if n := len(pbOfType(msgs, "playDone")) + len(pbOfType(msgs, "mark")); n != 0 {
				t.Errorf("%d playDone/mark frames, want none", n)
			}
			for _, name := range []string{"play_start", "play_done", "mark", "kill_audio"} {
				if ev := pt.call.EventsNamed(name); len(ev) != 0 {
					t.Errorf("%s event %s with playback off", name, ev[0].JSON)
				}
			}
			if len(errs) > 0 && len(c.BinaryFrames())-errs[len(errs)-1].Binary < 10 {
				t.Errorf("audio stopped reaching the server after the errors: the stream did not go on")
			}
			if pt.call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup", pt.call.ReasonString())
			}
		})
	}
}

// TestMessageFromServer: server messages of a type the engine does not act
// on (e.g. a transcription) reach the host as "message" events carrying
// their JSON, in order, and are not refused.
func TestMessageFromServer(t *testing.T) {
	t.Parallel()
	msgs := []string{
		`{"type":"transcription","data":{"text":"hi"}}`,
		`{"type":"myEvent","data":{"n":[1,2,3],"nested":{"ok":true}},"extra":"kept"}`,
	}
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			for i, m := range msgs {
				script.send(c, fmt.Sprint(i), websocket.TextMessage, []byte(m))
			}
		}
		<-done
	})
	pt, c, desc, _ := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 0.8})
	ev := pt.call.EventsNamed("message")
	if len(ev) != len(msgs) {
		t.Fatalf("%d message events, want %d\n%s", len(ev), len(msgs), desc)
	}
	for i, m := range msgs {
		var want, got any
		json.Unmarshal([]byte(m), &want)
		if err := json.Unmarshal(ev[i].JSON, &got); err != nil {
			t.Errorf("message event %d is not JSON: %s", i, ev[i].JSON)
			continue
		}
		if mustJSON(t, got) != mustJSON(t, want) {
			t.Errorf("message event %d is %s, want %s", i, ev[i].JSON, m)
		}
	}
	if errs := pbOfType(pbText(c), "error"); len(errs) > 0 {
		t.Errorf("error frame %s for a message the engine only passes on", errs[0].Raw)
	}
	if e := pt.call.EventsNamed("error"); len(e) > 0 {
		t.Errorf("error event %s", e[0].JSON)
	}
	if pt.call.ReasonString() != "hangup" {
		t.Errorf("stop reason %s, want hangup", pt.call.ReasonString())
	}
}
