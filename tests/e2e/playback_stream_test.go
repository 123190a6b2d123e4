package e2e

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// pbStreamConfig turns on streamed playback of 16 kHz binary frames.
var pbStreamConfig = map[string]any{
	"bidirectionalAudio": map[string]any{"enabled": true, "streaming": true, "sampleRate": 16000},
}

// pbMark is a mark message.
func pbMark(name string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "mark", "data": map[string]any{"name": name}})
	return b
}

// pbResampleSlack is the uncertainty, in samples, of where the audio sent
// before a mark ends in --played: the tone's onset is found by a threshold
// (a sine from phase 0 crosses 200 within a sample or two). A mark may not
// play out before that audio has (the streaming resampler's 28-sample group
// delay, if not accounted for, makes marks a frame early).
const pbResampleSlack = 4

// TestStreamedPlayback: with bidirectionalAudio.streaming, 16 kHz binary
// frames (a 440 Hz tone sent in real time in 20 ms frames, one of them with
// an odd byte count whose byte is carried into the next ones) play as one
// continuous 440 Hz tone. Marks sent after 0.4 s, 0.8 s and 1.0 s of audio
// come back as "playout", in order, once the audio before each has played
// (checked against --played); after a further 1 s burst, two marks and a
// clear, those marks come back as "cleared", kill_audio reports them, and
// the call goes silent within a frame.
func TestStreamedPlayback(t *testing.T) {
	t.Parallel()
	const (
		hz      = 440.0
		rtFrame = 640 // bytes in 20 ms at 16 kHz
	)
	tone := pbLE(Sine(16000, hz, pbLevel, 2.2))
	// The real-time part: 50 frames; the audio of frames 10 and 11 goes
	// as 641 + 1 + 638 bytes, so one frame ends in half a sample and the
	// next is that sample's other half alone.
	type chunk struct {
		from, to int
		slot     int // 20 ms slot it is sent in
	}
	var chunks []chunk
	for i := 0; i < 50; i++ {
		switch i {
		case 10:
			chunks = append(chunks, chunk{from: 6400, to: 7041, slot: i},
				chunk{from: 7041, to: 7042, slot: i})
		case 11:
			chunks = append(chunks, chunk{from: 7042, to: 7680, slot: i})
		default:
			chunks = append(chunks, chunk{from: i * rtFrame, to: (i + 1) * rtFrame, slot: i})
		}
	}
	marks := map[int]string{19: "m1", 39: "m2", 49: "mEnd"} // after frame i
	markAfter := map[string]int{"m1": 20 * 160, "m2": 40 * 160, "mEnd": 50 * 160}
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			// Three frames ahead (a server's usual cushion), then one every 20 ms.
			base := time.Now()
			for _, ch := range chunks {
				if d := time.Until(base.Add(time.Duration(max(ch.slot-3, 0)) * 20 * time.Millisecond)); d > 0 {
					time.Sleep(d)
				}
				script.send(c, "audio", websocket.BinaryMessage, tone[ch.from:ch.to])
				if name, ok := marks[ch.slot]; ok && ch.to%rtFrame == 0 {
					script.send(c, name, websocket.TextMessage, pbMark(name))
				}
			}
			// Then a second of audio at once, two marks, and a clear while
			// it plays.
			script.send(c, "burst", websocket.BinaryMessage, tone[50*rtFrame:100*rtFrame])
			script.send(c, "m3", websocket.TextMessage, pbMark("m3"))
			script.send(c, "m4", websocket.TextMessage, pbMark("m4"))
			time.Sleep(200 * time.Millisecond)
			script.send(c, "clear", websocket.TextMessage, []byte(`{"type":"clear"}`))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, pbStreamConfig), Hangup: 2.2})
	clock := newPBClock(t, c)

	if errs := pbOfType(pbText(c), "error"); len(errs) > 0 {
		t.Errorf("error frame %s: streamed audio refused\n%s", errs[0].Raw, desc)
	}
	// Mark answers, in order, with the right events.
	var got []string
	var answers []pbMsg
	for _, m := range pbOfType(pbText(c), "mark") {
		got = append(got, m.str("name")+":"+m.str("event"))
		answers = append(answers, m)
	}
	want := []string{"m1:playout", "m2:playout", "mEnd:playout", "m3:cleared", "m4:cleared"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("mark answers %q, want %q\n%s", got, want, desc)
	}
	if ev := pt.events("mark"); strings.Join(ev, " ") != "mark:m1 mark:m2 mark:mEnd" {
		t.Errorf("mark events %q, want m1, m2, mEnd (cleared marks are not played out)", ev)
	}
	kills := pt.call.EventsNamed("kill_audio")
	if len(kills) != 1 {
		t.Fatalf("%d kill_audio events, want 1 (the clear)\n%s", len(kills), desc)
	}
	var cleared, clips int
	if !kills[0].Field("marksCleared", &cleared) || cleared != 2 || !kills[0].Field("clipsDiscarded", &clips) || clips != 0 {
		t.Errorf("kill_audio %s, want marksCleared 2, clipsDiscarded 0", kills[0].JSON)
	}

	// The played tone: from its onset to the clear, continuous, 440 Hz, clean.
	onset, _ := pbSpan(x, 0, pbThreshold)
	if onset < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	end := pbRegionEnd(x, onset)
	pbCheckSilent(t, x, end+1, len(x), "after the clear")
	pbCheckGapless(t, x, onset+1, end, pbLevel, "streamed audio")
	mid := x[onset+pbFrame : end-pbFrame]
	if f := DominantFreq(mid, pbRate); math.Abs(f-hz) > 2 {
		t.Errorf("streamed audio at %.2f Hz, want %.0f ± 2", f, hz)
	}
	// A byte lost or misplaced would turn the rest into noise: the level of
	// the 440 Hz line and the total level must agree.
	if l, line := RMSdBFS(mid), ToneDBFS(mid, pbRate, hz); math.Abs(l-pbLevel) > 1 || math.Abs(l-line) > 0.5 {
		t.Errorf("streamed audio at %.2f dBFS of which the 440 Hz line is %.2f dBFS; want both %.0f: damaged samples",
			l, line, pbLevel)
	}
	// Per 100 ms, so a stretch of damage after the odd frame is not averaged away.
	for s := onset + pbFrame; s+800 <= end-pbFrame; s += 800 {
		if l, line := RMSdBFS(x[s:s+800]), ToneDBFS(x[s:s+800], pbRate, hz); l-line > 0.5 {
			t.Errorf("at %.2f s the audio is %.1f dB louder than its 440 Hz line: damaged samples", float64(s)/pbRate, l-line)
		}
	}

	// Each mark played out once the audio sent before it had played: the
	// tone's onset plus that audio's length, less the resampler's delay.
	for i, name := range []string{"m1", "m2", "mEnd"} {
		lastHi := onset + markAfter[name] - 1
		lastLo := lastHi - pbResampleSlack
		ev := pt.call.EventsNamed("mark")[i]
		pt.checkPulledThenNotified(t, ev, lastLo, lastHi, "mark "+name)
		pt.checkWire(t, clock, answers[i], lastLo, lastHi, "mark "+name)
		t.Logf("mark %s: audio before it ends at sample %d (%.1f ms), event at %d ms, on the wire at %.1f ms",
			name, lastHi, float64(lastHi)/8, ev.T, clock.ms(answers[i].At))
	}
	// The clear: silent within a frame of acting on it.
	kill := kills[0]
	if float64((end/pbFrame+1)*20) > float64(kill.T)+1+20 {
		t.Errorf("audio played on until frame %d (%d ms) after the clear was acted on at %d ms", end/pbFrame, end/pbFrame*20, kill.T)
	}
	clearSent := clock.ms(script.sentAt(t, "clear"))
	if float64(end/pbFrame*20)+pt.lateMs < clearSent-40 {
		t.Errorf("audio stopped at frame %d (%d ms), well before the server sent clear (call time %.1f ms)",
			end/pbFrame, end/pbFrame*20, clearSent)
	}
	for _, m := range answers[3:] {
		if at := clock.ms(m.At); at < clearSent-pbClockSlack {
			t.Errorf("%s reached the server at %.1f ms, before the clear was sent (%.1f ms)", m.Raw, at, clearSent)
		}
	}
	t.Logf("tone [%d, %d] (%.3f s), clear sent at %.1f ms, kill_audio at %d ms, late %.1f ms",
		onset, end, float64(end-onset)/pbRate, clearSent, kill.T, pt.lateMs)
}

// TestStreamedOneFrameClip: in streaming mode a server sends a whole 3 s
// clip as ONE binary frame (and a mark after it): all 3 s play, continuous,
// and the mark plays out when they have.
func TestStreamedOneFrameClip(t *testing.T) {
	t.Parallel()
	const hz, sec = 440.0, 3.0
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "clip", websocket.BinaryMessage, pbLE(Sine(16000, hz, pbLevel, sec)))
			script.send(c, "end", websocket.TextMessage, pbMark("end"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, pbStreamConfig), Hangup: 3.6})

	if errs := pbOfType(pbText(c), "error"); len(errs) > 0 {
		t.Errorf("error frame %s\n%s", errs[0].Raw, desc)
	}
	onset, last := pbSpan(x, 0, pbThreshold)
	if onset < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	// All of it: nothing may be lost (the onset is found to a few samples);
	// at most a frame more (a filter's ringing).
	if n, want := last+1-onset, int(sec*pbRate); n < want-pbResampleSlack || n > want+pbFrame {
		t.Errorf("%d samples (%.4f s) played, want all %d (+%d at most): the clip did not play completely\n%s",
			n, float64(n)/pbRate, want, pbFrame, desc)
	}
	pbCheckGapless(t, x, onset+1, last, pbLevel, "the 3 s frame")
	if f := DominantFreq(x[onset:last], pbRate); math.Abs(f-hz) > 2 {
		t.Errorf("played at %.2f Hz, want %.0f", f, hz)
	}
	marks := pbOfType(pbText(c), "mark")
	if len(marks) != 1 || marks[0].str("name") != "end" || marks[0].str("event") != "playout" {
		t.Fatalf("mark answers %v, want one: end, playout\n%s", marks, desc)
	}
	if ev := pt.call.EventsNamed("mark"); len(ev) == 1 {
		pt.checkPulledThenNotified(t, ev[0], last-pbResampleSlack, last, "mark after the 3 s frame")
		pt.checkWire(t, newPBClock(t, c), marks[0], last-pbResampleSlack, last, "mark after the 3 s frame")
	} else {
		t.Errorf("%d mark events, want 1", len(ev))
	}
	t.Logf("played [%d, %d]: %.3f s", onset, last, float64(last+1-onset)/pbRate)
}

// TestRefusedBinaryWhenNotStreaming: without bidirectionalAudio.streaming,
// binary frames from the server are refused, each with an error frame
// naming streaming, and never buffered: nothing plays, even after a
// playAudio-free wait, and the stream goes on.
func TestRefusedBinaryWhenNotStreaming(t *testing.T) {
	t.Parallel()
	const frames = 10
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			tone := pbLE(Sine(8000, 440, pbLevel, 0.2))
			for i := 0; i < frames; i++ {
				script.send(c, "audio", websocket.BinaryMessage, tone[i*320:(i+1)*320])
			}
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 1.2})
	pbCheckSilent(t, x, 0, len(x), "binary frames while streaming is off")
	if pt.call.SamplesPlayed != 0 {
		t.Errorf("samplesPlayed %d, want 0", pt.call.SamplesPlayed)
	}
	errs := pbOfType(pbText(c), "error")
	if len(errs) != frames {
		t.Errorf("%d error frames for %d refused binary frames, want one each\n%s", len(errs), frames, desc)
	}
	for _, e := range errs {
		if text := e.str("error"); !strings.Contains(text, "streaming") {
			t.Errorf("error frame %s does not say that streaming is off", e.Raw)
			break
		}
	}
	if n := len(pt.call.EventsNamed("error")); n != frames {
		t.Errorf("%d error events, want %d", n, frames)
	}
	if len(errs) > 0 && len(c.BinaryFrames()) <= errs[len(errs)-1].Binary {
		t.Errorf("no audio reached the server after the last error frame: the stream did not go on")
	}
	if pt.call.ReasonString() != "hangup" {
		t.Errorf("stop reason %s, want hangup", pt.call.ReasonString())
	}
}

// TestStreamClearDropsHalfSample: a clear discards everything streamed
// before it, including half a sample left by an odd-sized frame: fresh,
// well-formed audio sent after the clear plays as a clean tone, whole, and
// its mark plays out after it.
func TestStreamClearDropsHalfSample(t *testing.T) {
	t.Parallel()
	const hz = 440.0
	tone := pbLE(Sine(16000, hz, pbLevel, 0.3))
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "odd", websocket.BinaryMessage, tone[:6401]) // 0.2 s and half a sample
			time.Sleep(100 * time.Millisecond)
			script.send(c, "clear", websocket.TextMessage, []byte(`{"type":"clear"}`))
			time.Sleep(200 * time.Millisecond)
			script.send(c, "fresh", websocket.BinaryMessage, tone) // 0.3 s, whole samples
			script.send(c, "m", websocket.TextMessage, pbMark("m"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, pbStreamConfig), Hangup: 1.2})
	clock := newPBClock(t, c)

	if errs := pbOfType(pbText(c), "error"); len(errs) > 0 {
		t.Errorf("error frame %s\n%s", errs[0].Raw, desc)
	}
	// The fresh audio: the first audible stretch starting after the server
	// sent it.
	from := int(math.Max(clock.ms(script.sentAt(t, "fresh"))-pbClockSlack, 0) * pbRate / 1000)
	if first := pbNonZeroFrom(x, int(math.Max(clock.ms(script.sentAt(t, "clear"))+pt.lateMs+25, 0)*pbRate/1000)); first >= 0 && first < from {
		t.Errorf("audio at %.3f s, after the clear and before the fresh audio was sent", float64(first)/pbRate)
	}
	onset, _ := pbSpan(x, from, pbThreshold)
	if onset < 0 {
		t.Fatalf("the audio sent after the clear did not play\n%s", desc)
	}
	end := pbRegionEnd(x, onset)
	if n, want := end+1-onset, int(0.3*pbRate); n < want-pbFrame || n > want+pbFrame {
		t.Errorf("%d samples (%.3f s) played after the clear, want %d ± %d", n, float64(n)/pbRate, want, pbFrame)
	}
	for s := onset + pbFrame/2; s+pbFrame <= end-pbFrame/2; s += pbFrame {
		if l, line := RMSdBFS(x[s:s+pbFrame]), ToneDBFS(x[s:s+pbFrame], pbRate, hz); math.Abs(l-pbLevel) > 1 || math.Abs(l-line) > 0.5 {
			t.Errorf("the 20 ms at %.3f s after the clear: %.2f dBFS, its 440 Hz line %.2f dBFS; want both %.0f: misaligned samples",
				float64(s)/pbRate, l, line, pbLevel)
			break
		}
	}
	marks := pbOfType(pbText(c), "mark")
	if len(marks) != 1 || marks[0].str("name") != "m" || marks[0].str("event") != "playout" {
		t.Errorf("mark answers %v, want m: playout\n%s", marks, desc)
	}
	t.Logf("fresh audio [%d, %d]", onset, end)
}
