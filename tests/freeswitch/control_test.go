package freeswitch_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSIPControl: the API on a live SIP call. uuid_listen pause stops the
// caller's audio (none of it reaches the server until resume), send_text
// reaches the server as sent, and listen_reload leaves the call and its
// stream alone.
func TestSIPControl(t *testing.T) {
	fs, srv := env(t)
	t.Parallel()
	callSlot(t)
	c := codecs[0]
	const what = "control PCMU@8000 mono→8000"
	dest := fmt.Sprintf("tone-%s-mono-8000", uniqueID(t))
	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, c)
	defer fs.API(t, "uuid_kill "+far)
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	near := nearLeg(t, fs, mark, dest)
	WaitFor(t, what+": 1 s of audio", 10*time.Second, func() bool { return len(conn.Binaries()) >= 50 })

	if out := fs.API(t, "uuid_listen "+near+" pause"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("%s: pause: %q", what, out)
	}
	paused := len(conn.Binaries())
	time.Sleep(time.Second)
	during := len(conn.Binaries())
	if out := fs.API(t, "uuid_listen "+near+" resume"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("%s: resume: %q", what, out)
	}
	WaitFor(t, what+": audio after resume", 10*time.Second, func() bool { return len(conn.Binaries()) >= during+50 })
	bins := conn.Binaries()
	// Frames captured before the pause may still arrive: 300 ms of them.
	for i := paused + 15; i < during; i++ {
		if lvl := rms(pcm(bins[i])); lvl > 100 {
			t.Errorf("%s: frame %d, sent while paused, has the caller's audio (rms %.0f)", what, i, lvl)
			break
		}
	}
	var after []float64
	for _, b := range bins[len(bins)-25:] {
		after = append(after, pcm(b)...)
	}
	if peak := peakHz(after, 8000); math.Abs(peak-farHz) > 10 {
		t.Errorf("%s: after resume the audio peaks at %.0f Hz, expected %.0f Hz", what, peak, farHz)
	}

	note := `{"type":"note","text":"hello from the switch"}`
	if out := fs.API(t, "uuid_listen "+near+" send_text "+note); !strings.HasPrefix(out, "+OK") {
		t.Errorf("%s: send_text: %q", what, out)
	}
	WaitFor(t, what+": the text sent", 5*time.Second, func() bool {
		for _, s := range conn.Texts() {
			if s == note {
				return true
			}
		}
		return false
	})

	n := len(conn.Binaries())
	if out := fs.API(t, "listen_reload"); !strings.HasPrefix(out, "+OK") {
		t.Errorf("%s: listen_reload during a call: %q", what, out)
	}
	WaitFor(t, what+": audio after listen_reload", 10*time.Second, func() bool { return len(conn.Binaries()) >= n+25 })
	st := decodeJSON(t, "listen_status", fs.API(t, "listen_status "+near+" listen"))
	if st["state"] != "streaming" {
		t.Errorf("%s: listen_status after listen_reload %v, want the stream going on", what, st)
	}
	for _, ev := range fs.Events.Since(mark) {
		if ev.Name() == "listen::stop" && ev.Get("Unique-ID") == near {
			t.Errorf("%s: the listen stopped during the control calls: %s", what, ev.Body)
		}
	}
}

// TestSIPDTMF: RFC 2833 digits sent by the far end reach the server as
// passDtmf frames and '#' (finishOnKey) ends the listen, the channel
// variables telling the dialplan why.
func TestSIPDTMF(t *testing.T) {
	fs, srv := env(t)
	t.Parallel()
	callSlot(t)
	for _, c := range []codec{codecs[0], codecs[2]} {
		what := "DTMF " + c.label
		dest := "dtmf-" + uniqueID(t) + strings.ToLower(c.label[:4])
		mark := fs.Events.Mark()
		far := sipCall(t, fs, dest, c)
		defer fs.API(t, "uuid_kill "+far)
		conn := srv.Accept(t, "/"+dest, 10*time.Second)
		near := nearLeg(t, fs, mark, dest)
		WaitFor(t, what+": audio", 10*time.Second, func() bool { return len(conn.Binaries()) >= 10 })
		// The far leg's digits go out as RFC 2833 events (dtmf-type rfc2833).
		fs.API(t, "uuid_send_dtmf "+far+" 42")
		WaitFor(t, what+": the DTMF frames for 4 and 2", 10*time.Second, func() bool {
			var got []string
			for _, s := range conn.Texts() {
				var m map[string]any
				if json.Unmarshal([]byte(s), &m) == nil && m["event"] == "dtmf" {
					got = append(got, fmt.Sprint(m["dtmf"]))
				}
			}
			return strings.Join(got, "") == "42"
		})
		fs.API(t, "uuid_send_dtmf "+far+" #")
		stop := fs.Events.WaitEvent(t, what+": listen::stop", mark, 10*time.Second, named("listen::stop", near))
		if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "finishOnKey" || sb["digits"] != "#" {
			t.Errorf("%s: listen::stop %s, want reason finishOnKey and digits #", what, stop.Body)
		}
		for name, want := range map[string]string{"listen_reason": "finishOnKey", "listen_digits": "#"} {
			if v := getvar(t, fs, near, name); v != want {
				t.Errorf("%s: %s = %q, want %q", what, name, v, want)
			}
		}
		WaitFor(t, what+": the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
		if code := conn.CloseCode(); code != 1000 {
			t.Errorf("%s: close code %d, want 1000", what, code)
		}
	}
}

// TestSIPBridge: listen_start in stereo on a SIP leg (L16 at 16 kHz) that
// then bridges to another SIP leg (PCMU): the caller's tone is on the left,
// the bridged party's on the right, each at its level; the server's clip
// replaces, for its length, what the caller hears of the bridged party.
func TestSIPBridge(t *testing.T) {
	fs, srv := env(t)
	t.Parallel()
	callSlot(t)
	c := codecs[1]
	const what = "bridge L16@16000 stereo→16000"
	dest := "bridge-" + uniqueID(t)
	clip := fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":8000,"id":"br1"}}`,
		base64.StdEncoding.EncodeToString(toPCM(tone(clipHz, 8000, 8000*clipMs/1000, toneAmp))))
	var once sync.Once
	bridged := make(chan struct{})
	srv.Handle("/"+dest, func(conn *Conn, f Frame) {
		select {
		case <-bridged:
			once.Do(func() { conn.WriteText(clip) })
		default:
		}
	})
	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, c)
	defer fs.API(t, "uuid_kill "+far)
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	near := nearLeg(t, fs, mark, dest)
	WaitFor(t, what+": the bridge", 10*time.Second, func() bool {
		v := getvar(t, fs, near, "bridge_uuid")
		return v != "" && v != "_undef_"
	})
	n := len(conn.Binaries())
	WaitFor(t, what+": 1.5 s of bridged audio", 10*time.Second, func() bool { return len(conn.Binaries()) >= n+75 })
	bins := conn.Binaries()
	close(bridged)
	var audio []float64
	for _, b := range bins[len(bins)-50:] {
		if len(b) != 16000/50*2*2 {
			t.Fatalf("%s: a frame of %d bytes, want %d (20 ms)", what, len(b), 16000/50*2*2)
		}
		audio = append(audio, pcm(b)...)
	}
	left, right := deinterleave(audio)
	for _, ch := range []struct {
		name  string
		s     []float64
		hz    float64
		other float64
	}{{"left channel (caller)", left, farHz, nearHz}, {"right channel (bridged party)", right, nearHz, farHz}} {
		if peak := peakHz(ch.s, 16000); math.Abs(peak-ch.hz) > 10 {
			t.Errorf("%s: %s peak %.0f Hz, expected %.0f Hz", what, ch.name, peak, ch.hz)
		}
		if db := levelDB(goertzelAmp(ch.s, 16000, ch.hz)); math.Abs(db) > levelSlack {
			t.Errorf("%s: %s level %+.2f dB, expected 0 ± %.0f dB", what, ch.name, db, levelSlack)
		}
		if db := levelDB(goertzelAmp(ch.s, 16000, ch.other)); db > -30 {
			t.Errorf("%s: %s has the %.0f Hz tone at %+.1f dB, expected none", what, ch.name, ch.other, db)
		}
	}

	WaitFor(t, what+": playDone", 10*time.Second, func() bool { return containsText(conn.Texts(), `"playDone"`) })
	time.Sleep(200 * time.Millisecond)
	heard, rate := hangUpAndListen(t, fs, far, mark)
	clipBlocks, partyBlocks := 0, 0
	for i := 0; i+rate/50 <= len(heard); i += rate / 50 {
		block := heard[i : i+rate/50]
		switch {
		case rms(block) < 1000:
		case toneShare(block, rate, clipHz) > 0.8:
			clipBlocks++
		case toneShare(block, rate, nearHz) > 0.8:
			partyBlocks++
		}
	}
	if ms := clipBlocks * 20; ms < clipMs-40 || ms > clipMs+40 {
		t.Errorf("%s: the caller heard %d ms of the %.0f Hz clip, expected %d ms", what, ms, clipHz, clipMs)
	}
	if partyBlocks < 50 {
		t.Errorf("%s: the caller heard %d ms of the bridged party, expected seconds", what, partyBlocks*20)
	}
}
