package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestConcurrentCalls: 20 calls at once against one server: every call's
// audio arrives whole (frames == duration / 20 ms ± 1, the tone unbroken),
// nothing is dropped, each stream carries its own call's attributes.
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	const (
		calls       = 20
		callSeconds = 2.0
		codec       = 8000
		rate        = 16000
	)
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{
		Config:   mustJSON(t, map[string]any{"url": srv.URL, "sampleRate": rate}),
		Rate:     codec,
		Caller:   WriteWAV(t, "caller.wav", codec, Sine(codec, 1000, -6, callSeconds)),
		Calls:    calls,
		QuietLog: true,
	})
	r.MustSucceed(t, calls)
	conns := srv.WaitDone(t, calls, 10*time.Second)
	if len(conns) != calls {
		t.Fatalf("%d connections, want %d", len(conns), calls)
	}
	// switchsim's generated call attributes carry the call's index as callId.
	byCall := map[int]*WSConn{}
	sids := map[string]bool{}
	for _, c := range conns {
		frames := c.Frames()
		if len(frames) == 0 || frames[0].Kind != websocket.TextMessage {
			t.Fatalf("a connection did not start with a text frame")
		}
		var first struct {
			CallSid string `json:"callSid"`
			CallID  string `json:"callId"`
		}
		if err := json.Unmarshal(frames[0].Data, &first); err != nil {
			t.Fatalf("first frame %q: %v", frames[0].Data, err)
		}
		var i int
		if _, err := fmt.Sscan(first.CallID, &i); err != nil || byCall[i] != nil {
			t.Fatalf("first frame %s: callId missing or repeated", frames[0].Data)
		}
		if sids[first.CallSid] {
			t.Errorf("callSid %s on two streams", first.CallSid)
		}
		sids[first.CallSid] = true
		byCall[i] = c
	}
	for i := range calls {
		t.Run(fmt.Sprintf("call%d", i), func(t *testing.T) {
			call := r.Call(t, i)
			c := byCall[i]
			if c == nil {
				t.Fatalf("no stream for call %d", i)
			}
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup", call.ReasonString())
			}
			if call.FramesDropped == nil || *call.FramesDropped != 0 {
				t.Errorf("framesDropped %v, want 0", call.FramesDropped)
			}
			if n := len(call.EventsNamed("buffer_overrun")); n != 0 {
				t.Errorf("%d buffer_overrun events", n)
			}
			checkWireFrames(t, c, rate, 1)
			n, want := len(c.BinaryFrames()), int(callSeconds*50)
			if n < want-1 || n > want+1 {
				t.Errorf("%d audio frames, want %d ± 1", n, want)
			}
			if stop, ok := call.Stop(); ok {
				var sent int
				if stop.Field("framesSent", &sent) && sent != n {
					t.Errorf("stop event framesSent %d, server received %d", sent, n)
				}
			}
			if code, _ := c.CloseCode(); code != websocket.CloseNormalClosure {
				t.Errorf("close code %d, want 1000", code)
			}
			audio := c.Audio()
			checkContinuous(t, audio, rate, -6)
			if f := DominantFreq(Trim(audio, rate, 0.1, 0.1), rate); math.Abs(f-1000) > 2 {
				t.Errorf("dominant frequency %.2f Hz, want 1000", f)
			}
		})
	}
	t.Log(r.Summary)
}
