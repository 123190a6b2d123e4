package e2e

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestSeveralListensOnOneCall: one call (8 kHz codec, a 1 kHz caller and a
// 600 Hz callee) with two listens at once, each to its own server: a
// recorder in mono at 8 kHz and a bot in stereo at 16 kHz. Both receive the
// right audio; stopping the bot at 1 s leaves the recorder streaming to the
// hangup.
func TestSeveralListensOnOneCall(t *testing.T) {
	t.Parallel()
	recSrv, botSrv := NewWSServer(t, nil), NewWSServer(t, nil)
	const dur = 3.0
	r := RunSim(t, Sim{
		Config: mustJSON(t, map[string]any{"url": recSrv.URL, "mixType": "mono", "sampleRate": 8000}),
		Caller: WriteWAV(t, "caller.wav", 8000, Sine(8000, 1000, -6, dur)),
		Callee: WriteWAV(t, "callee.wav", 8000, Sine(8000, 600, -6, dur)),
		Hangup: dur, Rate: 8000,
		Extra: []string{"--also", mustJSON(t, map[string]any{"url": botSrv.URL, "mixType": "stereo", "sampleRate": 16000,
			"bidirectionalAudio": map[string]any{"enabled": false}}), "--also-stop", "1"},
	})
	r.MustSucceed(t, 2)
	rec, bot := r.Call(t, 0), r.Call(t, 1)
	if rec.ReasonString() != "hangup" || bot.ReasonString() != "stop" {
		t.Fatalf("reasons: recorder %s (want hangup), bot %s (want stop)\n%s", rec.ReasonString(), bot.ReasonString(), r.Describe())
	}
	recConn := recSrv.WaitDone(t, 1, 5*time.Second)[0]
	botConn := botSrv.WaitDone(t, 1, 5*time.Second)[0]
	checkWireFrames(t, recConn, 8000, 1)
	checkWireFrames(t, botConn, 16000, 2)

	// The recorder: the caller alone, for the whole call.
	recAudio := recConn.Audio()
	if got := float64(len(recAudio)) / 8000; got < dur-0.1 {
		t.Errorf("the recorder got %.2f s of audio, want the whole %.0f s call", got, dur)
	}
	x := Trim(recAudio, 8000, 0.1, 0.1)
	if f := DominantFreq(x, 8000); math.Abs(f-1000) > 2 {
		t.Errorf("recorder: dominant frequency %.1f Hz, want the caller's 1000", f)
	}
	// The bot: the caller left and the callee right, at 16 kHz, up to its stop.
	ch := Deinterleave(botConn.Audio(), 2)
	if got := float64(len(ch[0])) / 16000; got < 0.9 || got > 1.2 {
		t.Errorf("the bot got %.2f s of audio, want about the 1 s before its stop", got)
	}
	left, right := Trim(ch[0], 16000, 0.1, 0.1), Trim(ch[1], 16000, 0.1, 0.1)
	for _, c := range []struct {
		name string
		x    []int16
		f    float64
	}{{"bot left", left, 1000}, {"bot right", right, 600}} {
		if f := DominantFreq(c.x, 16000); math.Abs(f-c.f) > 2 {
			t.Errorf("%s: dominant frequency %.1f Hz, want %.0f", c.name, f, c.f)
		}
		if db := ToneDBFS(c.x, 16000, c.f); math.Abs(db+6) > 1 {
			t.Errorf("%s: %.0f Hz at %.2f dBFS, want -6 ± 1", c.name, c.f, db)
		}
	}
}

// TestSeveralListensSecondPlayerRefused: on one call, a second listen whose
// config plays audio is refused; the first goes on.
func TestSeveralListensSecondPlayerRefused(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL}), Hangup: 1,
		Extra: []string{"--also", mustJSON(t, map[string]any{"url": srv.URL + "/bot2"})}})
	first, second := r.Call(t, 0), r.Call(t, 1)
	if first.ReasonString() != "hangup" {
		t.Errorf("the first listen ended with %s, want hangup\n%s", first.ReasonString(), r.Describe())
	}
	if !strings.Contains(second.Error, "another listen plays audio into this call already, and only one may") {
		t.Errorf("the second player: error %q, want the refusal\n%s", second.Error, r.Describe())
	}
	if n := len(srv.WaitDone(t, 1, 5*time.Second)); n != 1 {
		t.Errorf("%d connections, want the first listen's alone", n)
	}
}
