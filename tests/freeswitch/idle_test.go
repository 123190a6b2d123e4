package freeswitch_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	botHz   = 700.0 // the voice bot's clip
	botMs   = 1000
	botRate = 16000 // the rate the server sends at
)

// TestVoiceBot: the voice-bot dialplans of the README over real SIP calls.
// With listen_start then park (or sleep 10000), the channel writes no frames
// of its own, yet the server's audio plays: a 1 s clip at 700 Hz, sent as
// playAudio or streamed as binary frames followed by a mark, is heard by the
// caller for 1 s ± 20 ms in one piece; playDone (or the mark) comes after it
// and samplesPlayed counts it. The blocking listen plays it too; a
// listen_start without bidirectional audio refuses the clip, naming it.
func TestVoiceBot(t *testing.T) {
	fs, srv := env(t)
	for _, tc := range []struct {
		ext      string // the uas extension: what the channel does
		streamed bool
	}{
		{"park", false}, {"sleep", false}, {"park", true}, {"sleep", true}, {"block", false}, {"noplay", false},
	} {
		tc := tc
		name := tc.ext
		if tc.streamed {
			name += "/streamed"
		} else {
			name += "/playAudio"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			callSlot(t)
			voiceBotCall(t, fs, srv, tc.ext, tc.streamed)
		})
	}
}

func voiceBotCall(t *testing.T, fs *Switch, srv *WSServer, ext string, streamed bool) {
	c := codecs[0] // PCMU
	what := fmt.Sprintf("%s %s", ext, c.label)
	dest := fmt.Sprintf("%s-%s", ext, uniqueID(t))
	clip := tone(botHz, botRate, botRate*botMs/1000, toneAmp)

	// One second into the stream the server sends its audio once.
	var once sync.Once
	var sentAt time.Time
	srv.Handle("/"+dest, func(conn *Conn, f Frame) {
		if f.Text || len(conn.Binaries()) < 50 {
			return
		}
		once.Do(func() {
			sentAt = time.Now()
			if !streamed {
				conn.WriteText(fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":%d,"id":"bot1"}}`,
					base64.StdEncoding.EncodeToString(toPCM(clip)), botRate))
				return
			}
			for i := 0; i < len(clip); i += botRate / 50 {
				conn.WriteBinary(toPCM(clip[i : i+botRate/50]))
			}
			conn.WriteText(`{"type":"mark","data":{"name":"end-of-clip"}}`)
		})
	})

	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, c)
	defer fs.API(t, "uuid_kill "+far)
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	near := nearLeg(t, fs, mark, dest)

	answer := `"playDone"`
	if streamed {
		answer = `"event":"playout"`
	}
	if ext == "noplay" {
		answer = `"error"`
	}
	var answeredAt time.Time
	WaitFor(t, what+": "+answer, 15*time.Second, func() bool {
		if containsText(conn.Texts(), answer) {
			answeredAt = time.Now()
			return true
		}
		return false
	})
	if ext != "noplay" {
		// The answer follows the audio: a second of it had to play first.
		if d := answeredAt.Sub(sentAt); d < 900*time.Millisecond {
			t.Errorf("%s: %s came %v after the audio was sent, before a second of it could play", what, answer, d)
		}
	}
	time.Sleep(300 * time.Millisecond) // what comes after the clip, to show it ended
	heard, rate := hangUpAndListen(t, fs, far, mark)
	stop := fs.Events.WaitEvent(t, what+": listen::stop", mark, 10*time.Second, named("listen::stop", near))
	sb := decodeJSON(t, "listen::stop body", stop.Body)

	if ext == "noplay" {
		var refusal string
		for _, s := range conn.Texts() {
			if strings.Contains(s, `"error"`) {
				refusal = s
			}
		}
		if !strings.Contains(refusal, "bidirectional audio is off") || !strings.Contains(refusal, `"id":"bot1"`) {
			t.Errorf("%s: refusal %s, want an error frame saying bidirectional audio is off, naming the clip bot1", what, refusal)
		}
		if lvl := rms(heard); lvl > 100 {
			t.Errorf("%s: the caller heard sound (rms %.0f) from a listen without playback", what, lvl)
		}
		return
	}

	start, end, pieces := soundSpan(heard, rate)
	ms := float64(end-start) * 1000 / float64(rate)
	if pieces != 1 || math.Abs(ms-botMs) > 20 {
		t.Errorf("%s: the caller heard %d piece(s) of sound, %.0f ms from first to last; want the %d ms clip in one piece ± 20 ms",
			what, pieces, ms, botMs)
	}
	if pieces > 0 {
		if peak := peakHz(heard[start:end], rate); math.Abs(peak-botHz) > 10 {
			t.Errorf("%s: what the caller heard peaks at %.0f Hz, expected %.0f Hz", what, peak, botHz)
		}
	}
	want := float64(botMs * c.rate / 1000)
	if got, _ := sb["samplesPlayed"].(float64); math.Abs(got-want) > float64(c.rate/50) {
		t.Errorf("%s: samplesPlayed %v, expected %.0f (the clip at %d Hz)", what, sb["samplesPlayed"], want, c.rate)
	}
}

// soundSpan finds the sound in s, in 5 ms blocks louder than silence: the
// first and last sample of it, and how many separate pieces it is in.
func soundSpan(s []float64, rate int) (start, end, pieces int) {
	block := rate / 200
	start, end = -1, -1
	for i := 0; i+block <= len(s); i += block {
		if rms(s[i:i+block]) < 1000 {
			continue
		}
		if end != i {
			pieces++
		}
		if start < 0 {
			start = i
		}
		end = i + block
	}
	if start < 0 {
		return 0, 0, 0
	}
	return start, end, pieces
}

// TestVoiceBotLateListen: a listen started by uuid_listen on a channel that
// is parked already has no frames to play into (park chose, when it started,
// to write none): the server's clip is refused with an error frame naming
// it, and the host gets an error event, rather than a clip that never plays
// and a playDone that never comes.
func TestVoiceBotLateListen(t *testing.T) {
	fs, srv := env(t)
	t.Parallel()
	callSlot(t)
	const what = "late listen on a parked channel"
	dest := "parked-" + uniqueID(t)
	clip := tone(botHz, botRate, botRate/2, toneAmp)
	srv.Handle("/"+dest, func(conn *Conn, f Frame) {
		if !f.Text && len(conn.Binaries()) == 10 {
			conn.WriteText(fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":%d,"id":"late1"}}`,
				base64.StdEncoding.EncodeToString(toPCM(clip)), botRate))
		}
	})
	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, codecs[0])
	defer fs.API(t, "uuid_kill "+far)
	ans := fs.Events.WaitEvent(t, "the answer of "+dest, mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "CHANNEL_ANSWER" && e.Get("Caller-Destination-Number") == dest && e.Get("Call-Direction") == "inbound"
	})
	near := ans.Get("Unique-ID")
	time.Sleep(300 * time.Millisecond) // park is running
	if out := fs.API(t, "uuid_listen "+near+` start {"url":"`+srv.URL+"/"+dest+`","bidirectionalAudio":{"enabled":true}}`); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("%s: uuid_listen start: %q", what, out)
	}
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	WaitFor(t, what+": the refusal of the clip", 10*time.Second, func() bool { return containsText(conn.Texts(), `"id":"late1"`) })
	for _, s := range conn.Texts() {
		if strings.Contains(s, `"late1"`) && (!strings.Contains(s, `"type":"error"`) || !strings.Contains(s, "not played")) {
			t.Errorf("%s: %s, want an error frame saying the clip was not played", what, s)
		}
		if strings.Contains(s, "playDone") {
			t.Errorf("%s: playDone %s for a clip nobody heard", what, s)
		}
	}
	ev := fs.Events.WaitEvent(t, what+": listen::error", mark, 5*time.Second, named("listen::error", near))
	if !strings.Contains(ev.Body, `"late1"`) {
		t.Errorf("%s: listen::error %s, want it to name the clip late1", what, ev.Body)
	}
}
