package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hostileFlood is a server that keeps sending everything that makes the
// engine touch a stream's playback ring (clips, marks, kills, streamed
// audio) and never answers the client's close frame: the stream ends while
// its reader still has frames to work through.
func hostileFlood(c *WSConn) {
	c.SetCloseHandler(func(int, string) error { return nil })
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	clip := limClip("c", 8000, 0.05)
	audio := make([]byte, 320)
	for i := 0; ; i++ {
		var err error
		switch i % 4 {
		case 0:
			err = c.SendJSON(clip)
		case 1:
			err = c.SendJSON(map[string]any{"type": "mark", "data": map[string]any{"name": fmt.Sprint("m", i)}})
		case 2:
			err = c.SendJSON(map[string]any{"type": "killAudio"})
		case 3:
			err = c.Send(websocket.BinaryMessage, audio)
		}
		if err != nil {
			return
		}
		if i%16 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestHostileCloseIgnoredFlood: hangups (stop, then destroy) while a server
// floods the stream with playback messages and ignores the close frame. Every
// listen ends with one stop event; under the AddressSanitizer build (see
// scripts/test) a goroutine touching a freed stream's rings fails the run.
func TestHostileCloseIgnoredFlood(t *testing.T) {
	srv := NewWSServer(t, hostileFlood)
	cfg := fmt.Sprintf(`{"url":%q,"bidirectionalAudio":{"enabled":true,"streaming":true,"sampleRate":8000}}`, srv.URL)
	const calls = 16
	for round := 0; round < 3; round++ {
		r := RunSim(t, Sim{Config: cfg, Calls: calls, Hangup: 0.6 + 0.2*float64(round), Wait: 10, QuietLog: true})
		r.MustSucceed(t, calls)
		for i, c := range r.Calls {
			stops := 0
			for _, e := range c.Events {
				if e.Name == "stop" {
					stops++
				}
			}
			if stops != 1 {
				t.Fatalf("round %d call %d: %d stop events, want 1\n%s", round, i, stops, r.Describe())
			}
			if c.Reason == nil || *c.Reason != "hangup" {
				t.Fatalf("round %d call %d: reason %v, want hangup\n%s", round, i, c.Reason, r.Describe())
			}
		}
	}
}

// TestHostileStalledServerFinishOnKey: the server reads the first frame and
// then nothing, so the engine's writer blocks on a full socket. A caller's
// "#" must still end the listen (finishOnKey) at once, with the digit
// reported in a dtmf event and in the outcome; maxLength and the silence
// timeout must still fire on media time.
func TestHostileStalledServerRules(t *testing.T) {
	srv := NewWSServer(t, func(c *WSConn) {
		c.ReadMessage() // the first frame
		<-c.Quit()
	}, WithReceiveBuffer(4096))
	tone := WriteWAV(t, "tone.wav", 8000, Sine(8000, 440, -12, 12))
	silence := WriteWAV(t, "quiet.wav", 8000, Sine(8000, 440, -90, 12))
	// 48 kHz stereo fills a small send buffer within the first second.
	base := fmt.Sprintf(`"url":%q,"sampleRate":48000,"mixType":"stereo"`, srv.URL)
	sims := []Sim{
		{Config: `{` + base + `,"finishOnKey":"#"}`, Caller: tone, DTMF: "#@4", Hangup: 10, Wait: 10},
		{Config: `{` + base + `,"maxLength":4}`, Caller: tone, Hangup: 10, Wait: 10},
		{Config: `{` + base + `,"timeout":4}`, Caller: silence, Hangup: 10, Wait: 10},
	}
	want := []struct {
		reason string
		atMs   int64
	}{{"finishOnKey", 4000}, {"maxLength", 4000}, {"timeout", 4000}}
	for i, r := range RunSims(t, sims) {
		r.MustSucceed(t, 1)
		c := r.Call(t, 0)
		var stop, dtmf *Event
		for j := range c.Events {
			switch c.Events[j].Name {
			case "stop":
				stop = &c.Events[j]
			case "dtmf":
				dtmf = &c.Events[j]
			}
		}
		if stop == nil {
			t.Fatalf("%s: no stop event\n%s", want[i].reason, r.Describe())
		}
		var body struct {
			Reason string `json:"reason"`
			Digits string `json:"digits"`
		}
		json.Unmarshal(stop.JSON, &body)
		if body.Reason != want[i].reason {
			t.Errorf("%s: stop reason %q\n%s", want[i].reason, body.Reason, r.Describe())
		}
		// The rule fires on media time, and the stalled writer is given up at
		// once: the stop event follows within 100 ms (plus a frame of pacing).
		if late := stop.T - want[i].atMs; late < -40 || late > 150 {
			t.Errorf("%s: stop event at %d ms, want %d ms + at most 150 ms\n%s", want[i].reason, stop.T, want[i].atMs, r.Describe())
		}
		if want[i].reason == "finishOnKey" {
			if body.Digits != "#" {
				t.Errorf("finishOnKey: digits %q, want \"#\"", body.Digits)
			}
			if dtmf == nil || !strings.Contains(string(dtmf.JSON), `"#"`) {
				t.Errorf("finishOnKey: the # has no dtmf event\n%s", r.Describe())
			}
		}
	}
}
