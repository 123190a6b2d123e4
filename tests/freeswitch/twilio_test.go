package freeswitch_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/g711"
)

// twilioMsg is the part of a Twilio Media Streams message the test reads.
type twilioMsg struct {
	Event     string `json:"event"`
	StreamSid string `json:"streamSid"`
	Start     struct {
		StreamSid   string          `json:"streamSid"`
		Tracks      []string        `json:"tracks"`
		MediaFormat json.RawMessage `json:"mediaFormat"`
	} `json:"start"`
	Media struct {
		Track     string `json:"track"`
		Timestamp string `json:"timestamp"`
		Payload   string `json:"payload"`
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// TestTwilioOverSIP: a listen in Twilio mode on a real SIP call (PCMU),
// answered then parked like a voice bot. The server gets connected, start
// (µ-law 8 kHz, the inbound track) and media whose µ-law payloads decode to
// the caller's 1 kHz tone at its level; it answers with a second of 700 Hz as
// media messages and a mark: the caller hears the 700 Hz for 1 s ± 20 ms in
// one piece, and the mark comes back after it. The hangup sends stop, then
// close 1000.
func TestTwilioOverSIP(t *testing.T) {
	fs, srv := env(t)
	callSlot(t)
	c := codecs[0] // PCMU
	dest := "twilio-" + uniqueID(t)
	clip := make([]byte, 8000)
	for i, v := range tone(botHz, 8000, len(clip), toneAmp) {
		clip[i] = g711.EncodeMulaw(v)
	}

	var once sync.Once
	var sentAt time.Time
	media := 0
	srv.Handle("/"+dest, func(conn *Conn, f Frame) {
		var m twilioMsg
		if !f.Text || json.Unmarshal(f.Data, &m) != nil || m.Event != "media" {
			return
		}
		if media++; media < 50 {
			return
		}
		once.Do(func() {
			sentAt = time.Now()
			for i := 0; i < len(clip); i += 160 {
				conn.WriteText(fmt.Sprintf(`{"event":"media","streamSid":%q,"media":{"payload":%q}}`,
					m.StreamSid, base64.StdEncoding.EncodeToString(clip[i:i+160])))
			}
			conn.WriteText(fmt.Sprintf(`{"event":"mark","streamSid":%q,"mark":{"name":"bot-said"}}`, m.StreamSid))
		})
	})

	mark := fs.Events.Mark()
	far := sipCall(t, fs, dest, c)
	defer fs.API(t, "uuid_kill "+far)
	conn := srv.Accept(t, "/"+dest, 10*time.Second)
	msgs := func() []twilioMsg {
		var out []twilioMsg
		for _, s := range conn.Texts() {
			var m twilioMsg
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				t.Fatalf("a text frame that is not JSON: %q", s)
			}
			out = append(out, m)
		}
		return out
	}
	var markedAt time.Time
	WaitFor(t, "the mark's echo", 15*time.Second, func() bool {
		for _, m := range msgs() {
			if m.Event == "mark" && m.Mark.Name == "bot-said" {
				markedAt = time.Now()
				return true
			}
		}
		return false
	})
	if d := markedAt.Sub(sentAt); d < 900*time.Millisecond {
		t.Errorf("the mark came back %v after the audio before it was sent, before a second of it could play", d)
	}
	time.Sleep(300 * time.Millisecond)
	heard, rate := hangUpAndListen(t, fs, far, mark)
	WaitFor(t, "the socket to close", 10*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}

	all := msgs()
	if len(all) < 3 || all[0].Event != "connected" || all[1].Event != "start" || all[len(all)-1].Event != "stop" {
		t.Fatalf("messages %s … %s: want connected, start, …, stop", conn.Texts()[0], conn.Texts()[len(all)-1])
	}
	if st := all[1].Start; len(st.Tracks) != 1 || st.Tracks[0] != "inbound" ||
		string(st.MediaFormat) != `{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}` {
		t.Errorf("start: tracks %v, mediaFormat %s", st.Tracks, st.MediaFormat)
	}
	var caller []float64
	n := 0
	for _, m := range all {
		if m.Event != "media" {
			continue
		}
		if n++; n <= 50 || n > 100 { // the second second: past the call's start
			continue
		}
		b, err := base64.StdEncoding.DecodeString(m.Media.Payload)
		if err != nil || len(b) != 160 || m.Media.Track != "inbound" {
			t.Fatalf("media %d: track %q, %d bytes (%v), want inbound, 160 bytes", n, m.Media.Track, len(b), err)
		}
		for _, v := range g711.DecodeMulawFrame(nil, b) {
			caller = append(caller, float64(v))
		}
	}
	if peak := peakHz(caller, 8000); math.Abs(peak-farHz) > 10 {
		t.Errorf("the inbound track peaks at %.0f Hz, expected %.0f Hz", peak, farHz)
	}
	if db := levelDB(goertzelAmp(caller, 8000, farHz)); math.Abs(db) > levelSlack {
		t.Errorf("the inbound track's %.0f Hz tone at %+.2f dB, expected 0 ± %.0f dB", farHz, db, levelSlack)
	}
	start, end, pieces := soundSpan(heard, rate)
	ms := float64(end-start) * 1000 / float64(rate)
	if pieces != 1 || math.Abs(ms-1000) > 20 {
		t.Errorf("the caller heard %d piece(s) of sound, %.0f ms from first to last; want the 1000 ms of media in one piece ± 20 ms",
			pieces, ms)
	}
	if pieces > 0 {
		if peak := peakHz(heard[start:end], rate); math.Abs(peak-botHz) > 10 {
			t.Errorf("what the caller heard peaks at %.0f Hz, expected %.0f Hz", peak, botHz)
		}
	}
}
