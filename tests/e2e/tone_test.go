package e2e

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestToneThroughEveryRate: a 1 kHz tone at -6 dBFS comes out of a mono
// stream as a 1 kHz tone at -6 dBFS (±1 dB) for every sampleRate, from the
// codec rates 8000 and 16000, and all of a 2 s call arrives: 2 s ± one frame
// of audio, stop reason "hangup", close code 1000.
func TestToneThroughEveryRate(t *testing.T) {
	t.Parallel()
	const (
		callSeconds = 2.0
		toneHz      = 1000.0
		levelDB     = -6.0
	)
	type run struct {
		codec, rate int
		srv         *WSServer
	}
	var runs []run
	var sims []Sim
	for _, codec := range []int{8000, 16000} {
		caller := WriteWAV(t, "tone.wav", codec, Sine(codec, toneHz, levelDB, callSeconds))
		for _, rate := range []int{8000, 16000, 24000, 48000, 64000} {
			srv := NewWSServer(t, nil)
			runs = append(runs, run{codec, rate, srv})
			sims = append(sims, Sim{
				Config: mustJSON(t, map[string]any{"url": srv.URL, "sampleRate": rate}),
				Rate:   codec, Caller: caller, QuietLog: true,
			})
		}
	}
	results := RunSims(t, sims)
	for i, rn := range runs {
		t.Run(fmt.Sprintf("codec%d-to-%d", rn.codec, rn.rate), func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup\n%s", call.ReasonString(), r.Describe())
			}
			if call.FramesDropped == nil {
				t.Errorf("no framesDropped in the result\n%s", r.Describe())
			} else if *call.FramesDropped != 0 {
				t.Errorf("framesDropped %d, want 0", *call.FramesDropped)
			}
			c := rn.srv.WaitDone(t, 1, 5*time.Second)[0]
			checkWireFrames(t, c, rn.rate, 1)
			if code, text := c.CloseCode(); code != websocket.CloseNormalClosure {
				t.Errorf("close code %d %q, want 1000", code, text)
			}

			frames := len(c.BinaryFrames())
			want := int(callSeconds * 50)
			if frames < want-1 || frames > want+1 {
				t.Errorf("%d audio frames (%.3f s) for a %.0f s call, want %d ± 1", frames, float64(frames)/50, callSeconds, want)
			}
			if call.DurationMs == nil || math.Abs(float64(*call.DurationMs)-callSeconds*1000) > 20 {
				t.Errorf("stop event durationMs %v, want %.0f ± 20", call.DurationMs, callSeconds*1000)
			}
			if stop, ok := call.Stop(); ok {
				var sent int
				if stop.Field("framesSent", &sent) && sent != frames {
					t.Errorf("stop event says framesSent %d, the server received %d", sent, frames)
				}
			}

			audio := c.Audio()
			mid := Trim(audio, rn.rate, 0.2, 0.2)
			if f := DominantFreq(mid, rn.rate); math.Abs(f-toneHz) > 2 {
				t.Errorf("dominant frequency %.2f Hz, want %.0f ± 2", f, toneHz)
			}
			if l := RMSdBFS(mid); math.Abs(l-levelDB) > 1 {
				t.Errorf("level %.2f dBFS (RMS), want %.1f ± 1", l, levelDB)
			}
			if l := ToneDBFS(mid, rn.rate, toneHz); math.Abs(l-levelDB) > 1 {
				t.Errorf("level of the 1 kHz line %.2f dBFS, want %.1f ± 1", l, levelDB)
			}
			// The tone must run from start to end: a gap or a lost stretch
			// shows as a quiet 20 ms window.
			checkContinuous(t, audio, rn.rate, levelDB)
			t.Logf("%d frames, %.2f Hz, %.2f dBFS", frames, DominantFreq(mid, rn.rate), RMSdBFS(mid))
		})
	}
}

// checkContinuous fails if any whole 20 ms window of x, away from the first
// and last 20 ms (room for a resampler's ramps), is more than 3 dB off level:
// audio lost, replaced by silence, or cut out of the stream or its end.
func checkContinuous(t *testing.T, x []int16, rate int, levelDB float64) {
	t.Helper()
	w := rate / 50
	edge := w
	bad := 0
	for start := edge; start+w <= len(x)-edge; start += w {
		if l := RMSdBFS(x[start : start+w]); math.Abs(l-levelDB) > 3 {
			if bad++; bad <= 3 {
				t.Errorf("window at %.3f s is at %.1f dBFS, want %.1f: audio missing or damaged",
					float64(start)/float64(rate), l, levelDB)
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d damaged 20 ms windows in all", bad)
	}
}
