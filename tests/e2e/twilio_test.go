package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/g711"
)

// twMsg is one Twilio message as the server received it, every member raw
// so that each one's JSON type can be checked.
type twMsg struct {
	Raw    string
	Fields map[string]json.RawMessage
	Event  string
	At     time.Time
}

// twMessages parses every frame the server received; a binary frame, or a
// text frame that is not a JSON object with a string "event", is an error.
func twMessages(t *testing.T, c *WSConn) []twMsg {
	t.Helper()
	var out []twMsg
	for i, f := range c.Frames() {
		if f.Kind != websocket.TextMessage {
			t.Fatalf("frame %d is binary (%d bytes): Twilio streams are text only", i, len(f.Data))
		}
		m := twMsg{Raw: string(f.Data), At: f.At}
		if err := json.Unmarshal(f.Data, &m.Fields); err != nil {
			t.Fatalf("frame %d is not a JSON object: %s", i, f.Data)
		}
		if json.Unmarshal(m.Fields["event"], &m.Event) != nil {
			t.Fatalf("frame %d has no string \"event\": %s", i, f.Data)
		}
		out = append(out, m)
	}
	return out
}

// twShape checks that obj has exactly the members of shape, each of the JSON
// type shape names ("string", "number", "object", "array"); a nested shape
// is checked the same way. It returns the first mismatch, or "".
func twShape(obj map[string]json.RawMessage, shape map[string]any, path string) string {
	for k := range obj {
		if _, ok := shape[k]; !ok {
			return fmt.Sprintf("%s%s is not in Twilio's message", path, k)
		}
	}
	for k, want := range shape {
		v, ok := obj[k]
		if !ok {
			return fmt.Sprintf("%s%s is missing", path, k)
		}
		got := "number"
		switch v[0] {
		case '"':
			got = "string"
		case '{':
			got = "object"
		case '[':
			got = "array"
		case 't', 'f':
			got = "boolean"
		case 'n':
			got = "null"
		}
		var wantType string
		var nested map[string]any
		switch w := want.(type) {
		case string:
			wantType = w
		case map[string]any:
			wantType, nested = "object", w
		}
		if got != wantType {
			return fmt.Sprintf("%s%s is a %s (%s), Twilio sends a %s", path, k, got, v, wantType)
		}
		if nested != nil {
			var inner map[string]json.RawMessage
			json.Unmarshal(v, &inner)
			if e := twShape(inner, nested, path+k+"."); e != "" {
				return e
			}
		}
	}
	return ""
}

// Shapes of the messages, from Twilio's Media Streams message reference.
var (
	twConnectedShape = map[string]any{"event": "string", "protocol": "string", "version": "string"}
	twStartShape     = map[string]any{"event": "string", "sequenceNumber": "string", "streamSid": "string",
		"start": map[string]any{"accountSid": "string", "streamSid": "string", "callSid": "string", "tracks": "array",
			"customParameters": "object",
			"mediaFormat":      map[string]any{"encoding": "string", "sampleRate": "number", "channels": "number"}}}
	twMediaShape = map[string]any{"event": "string", "sequenceNumber": "string", "streamSid": "string",
		"media": map[string]any{"track": "string", "chunk": "string", "timestamp": "string", "payload": "string"}}
	twDTMFShape = map[string]any{"event": "string", "sequenceNumber": "string", "streamSid": "string",
		"dtmf": map[string]any{"track": "string", "digit": "string"}}
	twMarkShape = map[string]any{"event": "string", "sequenceNumber": "string", "streamSid": "string",
		"mark": map[string]any{"name": "string"}}
	twStopShape = map[string]any{"event": "string", "sequenceNumber": "string", "streamSid": "string",
		"stop": map[string]any{"accountSid": "string", "callSid": "string"}}
)

func twStr(raw json.RawMessage) string {
	var s string
	json.Unmarshal(raw, &s)
	return s
}

// twField reads a member of a nested object ("media.payload").
func twField(m twMsg, path string) string {
	obj := m.Fields
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		var inner map[string]json.RawMessage
		json.Unmarshal(obj[p], &inner)
		obj = inner
	}
	return twStr(obj[parts[len(parts)-1]])
}

// twStream is what a Twilio server made of a stream: the messages checked
// against Twilio's shapes and numbering, and each track's audio.
type twStream struct {
	msgs      []twMsg
	streamSid string
	start     map[string]json.RawMessage
	audio     map[string][]int16 // track -> decoded µ-law
	marks     []twMsg
	dtmf      []twMsg
}

var twSid = regexp.MustCompile(`^MZ[0-9a-f]{32}$`)

// twCheck checks the whole sequence: connected, start, then media, dtmf and
// mark messages, stop last; sequence numbers from 1 with no gap; per track,
// chunks from 1 with no gap, timestamps 20 ms apart from 0, 160-byte
// payloads; one streamSid everywhere.
func twCheck(t *testing.T, c *WSConn, tracks []string) twStream {
	t.Helper()
	s := twStream{msgs: twMessages(t, c), audio: map[string][]int16{}}
	if len(s.msgs) < 3 {
		t.Fatalf("%d messages, want connected, start, media…, stop", len(s.msgs))
	}
	if e := twShape(s.msgs[0].Fields, twConnectedShape, ""); s.msgs[0].Event != "connected" || e != "" ||
		s.msgs[0].Raw != `{"event":"connected","protocol":"Call","version":"1.0.0"}` {
		t.Fatalf("first message %s, want connected (%s)", s.msgs[0].Raw, e)
	}
	st := s.msgs[1]
	if st.Event != "start" {
		t.Fatalf("second message %s, want start", st.Raw)
	}
	if e := twShape(st.Fields, twStartShape, ""); e != "" {
		t.Fatalf("start: %s\n%s", e, st.Raw)
	}
	json.Unmarshal(st.Fields["start"], &s.start)
	s.streamSid = twStr(st.Fields["streamSid"])
	if !twSid.MatchString(s.streamSid) || twStr(s.start["streamSid"]) != s.streamSid {
		t.Fatalf("streamSid %q / start.streamSid %s: want one MZ and 32 hex digits", s.streamSid, s.start["streamSid"])
	}
	var gotTracks []string
	json.Unmarshal(s.start["tracks"], &gotTracks)
	if strings.Join(gotTracks, ",") != strings.Join(tracks, ",") {
		t.Errorf("start.tracks %v, want %v", gotTracks, tracks)
	}
	if got := string(s.start["mediaFormat"]); got != `{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}` {
		t.Errorf("start.mediaFormat %s", got)
	}
	last := s.msgs[len(s.msgs)-1]
	if e := twShape(last.Fields, twStopShape, ""); last.Event != "stop" || e != "" {
		t.Errorf("last message %s, want stop (%s)", last.Raw, e)
	} else if twField(last, "stop.callSid") != twStr(s.start["callSid"]) || twField(last, "stop.accountSid") != twStr(s.start["accountSid"]) {
		t.Errorf("stop %s does not name start's call and account", last.Raw)
	}
	chunks := map[string]int{}
	for i, m := range s.msgs[1:] {
		if seq := twStr(m.Fields["sequenceNumber"]); seq != strconv.Itoa(i+1) {
			t.Fatalf("message %d has sequenceNumber %q, want %d (contiguous from start's 1): %.200s", i+2, seq, i+1, m.Raw)
		}
		if sid := twStr(m.Fields["streamSid"]); sid != s.streamSid {
			t.Fatalf("message %d has streamSid %q, want %q", i+2, sid, s.streamSid)
		}
		shape := map[string]map[string]any{"start": twStartShape, "media": twMediaShape, "dtmf": twDTMFShape,
			"mark": twMarkShape, "stop": twStopShape}[m.Event]
		if shape == nil {
			t.Fatalf("message %d: event %q is not one Twilio sends", i+2, m.Event)
		}
		if e := twShape(m.Fields, shape, ""); e != "" {
			t.Fatalf("%s: %s\n%.300s", m.Event, e, m.Raw)
		}
		switch m.Event {
		case "media":
			track := twField(m, "media.track")
			chunks[track]++
			n := chunks[track]
			if got := twField(m, "media.chunk"); got != strconv.Itoa(n) {
				t.Fatalf("%s media %d has chunk %q, want %d", track, n, got, n)
			}
			if got := twField(m, "media.timestamp"); got != strconv.Itoa(20*(n-1)) {
				t.Fatalf("%s media %d has timestamp %q, want %d (20 ms a chunk)", track, n, got, 20*(n-1))
			}
			payload, err := base64.StdEncoding.DecodeString(twField(m, "media.payload"))
			if err != nil || len(payload) != 160 {
				t.Fatalf("%s media %d: payload of %d bytes (%v), want 20 ms of µ-law (160)", track, n, len(payload), err)
			}
			s.audio[track] = g711.DecodeMulawFrame(s.audio[track], payload)
		case "mark":
			s.marks = append(s.marks, m)
		case "dtmf":
			s.dtmf = append(s.dtmf, m)
		}
	}
	var gotAudio []string
	for k := range s.audio {
		gotAudio = append(gotAudio, k)
	}
	sort.Strings(gotAudio)
	if strings.Join(gotAudio, ",") != strings.Join(tracks, ",") {
		t.Errorf("media on tracks %v, want %v", gotAudio, tracks)
	}
	return s
}

func twConfig(t *testing.T, url string, extra map[string]any) string {
	m := map[string]any{"url": url, "protocol": "twilio"}
	for k, v := range extra {
		m[k] = v
	}
	return mustJSON(t, m)
}

// TestTwilioMessageSequence: a 2 s mono call with a 1 kHz caller tone and a
// digit reaches a Twilio server as connected, start, media…, dtmf, stop,
// every field named and typed as Twilio's reference has it, sequence numbers
// contiguous, timestamps 20 ms apart; the µ-law decodes to the caller's tone
// within 0.5 dB; the metadata and the call's attributes are customParameters
// (strings); the socket closes with 1000.
func TestTwilioMessageSequence(t *testing.T) {
	t.Parallel()
	const level = -6.0
	srv := NewWSServer(t, nil)
	caller := WriteWAV(t, "tone.wav", 8000, Sine(8000, 1000, level, 2))
	r := RunSim(t, Sim{
		Config: twConfig(t, srv.URL, map[string]any{"passDtmf": true, "metadata": map[string]any{"team": "sales", "n": 3}}),
		Call:   `{"callSid":"0a1b2c3d-0000-4000-8000-00000000abcd","from":"+15550100","to":"+15550199","direction":"inbound"}`,
		Caller: caller, DTMF: "5@1", QuietLog: true,
	})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("reason %s\n%s", call.ReasonString(), r.Describe())
	}
	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	s := twCheck(t, c, []string{"inbound"})
	if got := twStr(s.start["callSid"]); got != "CA0a1b2c3d00004000800000000000abcd" {
		t.Errorf("start.callSid %q, want the call's UUID as a call SID", got)
	}
	if got := string(s.start["customParameters"]); got != `{"from":"+15550100","to":"+15550199","direction":"inbound","n":"3","team":"sales"}` {
		t.Errorf("start.customParameters %s", got)
	}
	if len(s.dtmf) != 1 || twField(s.dtmf[0], "dtmf.digit") != "5" || twField(s.dtmf[0], "dtmf.track") != "inbound_track" {
		t.Errorf("dtmf messages %v, want one for 5 on inbound_track", s.dtmf)
	}
	audio := s.audio["inbound"]
	if n := len(audio) / 160; n < 99 || n > 101 {
		t.Errorf("%d media messages for a 2 s call, want 100 ± 1", n)
	}
	var sent int
	if stop, ok := call.Stop(); !ok || !stop.Field("framesSent", &sent) || sent != len(audio)/160 {
		t.Errorf("stop event framesSent %d, the server received %d media messages", sent, len(audio)/160)
	}
	mid := Trim(audio, 8000, 0.2, 0.2)
	if f := DominantFreq(mid, 8000); math.Abs(f-1000) > 2 {
		t.Errorf("inbound track at %.2f Hz, want 1000", f)
	}
	if l := RMSdBFS(mid); math.Abs(l-level) > 0.5 {
		t.Errorf("inbound track at %.2f dBFS, want %.1f ± 0.5", l, level)
	}
	if code, text := c.CloseCode(); code != websocket.CloseNormalClosure {
		t.Errorf("close %d %q, want 1000", code, text)
	}
}

// TestTwilioStereoTracks: with mixType stereo the caller is the inbound
// track and the other party the outbound one, as separate media messages of
// the same chunk and timestamp; mixed sends one inbound track with the sum.
func TestTwilioStereoTracks(t *testing.T) {
	t.Parallel()
	caller := WriteWAV(t, "caller.wav", 8000, Sine(8000, 1000, -12, 2))
	callee := WriteWAV(t, "callee.wav", 8000, Sine(8000, 700, -12, 2))
	stereo, mixed := NewWSServer(t, nil), NewWSServer(t, nil)
	results := RunSims(t, []Sim{
		{Config: twConfig(t, stereo.URL, map[string]any{"mixType": "stereo"}), Caller: caller, Callee: callee, QuietLog: true},
		{Config: twConfig(t, mixed.URL, map[string]any{"mixType": "mixed"}), Caller: caller, Callee: callee, QuietLog: true},
	})
	for _, r := range results {
		r.MustSucceed(t, 1)
	}
	s := twCheck(t, stereo.WaitDone(t, 1, 5*time.Second)[0], []string{"inbound", "outbound"})
	for track, hz := range map[string]float64{"inbound": 1000, "outbound": 700} {
		mid := Trim(s.audio[track], 8000, 0.2, 0.2)
		if f := DominantFreq(mid, 8000); math.Abs(f-hz) > 2 {
			t.Errorf("%s track at %.2f Hz, want %.0f", track, f, hz)
		}
		if l := ToneDBFS(mid, 8000, 1700-hz); l > -40 {
			t.Errorf("%s track carries the other party (%.1f dBFS)", track, l)
		}
	}
	// The two tracks of one 20 ms frame go together, inbound first.
	var media []twMsg
	for _, m := range s.msgs {
		if m.Event == "media" {
			media = append(media, m)
		}
	}
	for i := 0; i+1 < len(media); i += 2 {
		a, b := media[i], media[i+1]
		if twField(a, "media.track") != "inbound" || twField(b, "media.track") != "outbound" ||
			twField(a, "media.timestamp") != twField(b, "media.timestamp") {
			t.Fatalf("media %d and %d are not one frame's two tracks: %.120s / %.120s", i, i+1, a.Raw, b.Raw)
		}
	}
	m := twCheck(t, mixed.WaitDone(t, 1, 5*time.Second)[0], []string{"inbound"})
	mid := Trim(m.audio["inbound"], 8000, 0.2, 0.2)
	if a, b := ToneDBFS(mid, 8000, 1000), ToneDBFS(mid, 8000, 700); math.Abs(a+12) > 1 || math.Abs(b+12) > 1 {
		t.Errorf("mixed inbound track: 1 kHz at %.1f dBFS, 700 Hz at %.1f dBFS, want both -12", a, b)
	}
}

// twMedia is a server media message of µ-law samples.
func twMedia(samples []int16) []byte {
	codes := make([]byte, len(samples))
	g711.EncodeMulawFrame(codes, samples)
	return []byte(`{"event":"media","streamSid":"MZx","media":{"payload":"` + base64.StdEncoding.EncodeToString(codes) + `"}}`)
}

func twMark(name string) []byte {
	return []byte(`{"event":"mark","streamSid":"MZx","mark":{"name":"` + name + `"}}`)
}

// TestTwilioPlaybackMarkClear: the server streams 1 s of a 700 Hz tone as
// µ-law media messages of 20 ms, sent in real time, and a mark: the call
// plays 700 Hz, gap-free, and the mark comes back (as a Twilio mark
// message, and a mark event) only once the last sample of the tone has been
// played. Then 2 s at once, a second mark and, 300 ms later, a clear: the
// audio stops within a frame of the clear and the second mark is still
// answered; no error anywhere.
func TestTwilioPlaybackMarkClear(t *testing.T) {
	t.Parallel()
	tone := Sine(8000, 700, pbLevel, 3)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			base := time.Now()
			for i := 0; i < 50; i++ {
				if d := time.Until(base.Add(time.Duration(max(i-3, 0)) * 20 * time.Millisecond)); d > 0 {
					time.Sleep(d)
				}
				script.send(c, "audio", websocket.TextMessage, twMedia(tone[i*160:(i+1)*160]))
			}
			script.send(c, "m1", websocket.TextMessage, twMark("m1"))
			time.Sleep(1200 * time.Millisecond)
			script.send(c, "burst", websocket.TextMessage, twMedia(tone[8000:24000]))
			script.send(c, "m2", websocket.TextMessage, twMark("m2"))
			time.Sleep(300 * time.Millisecond)
			script.send(c, "clear", websocket.TextMessage, []byte(`{"event":"clear","streamSid":"MZx"}`))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: twConfig(t, srv.URL, nil), Hangup: 3.5})
	s := twCheck(t, c, []string{"inbound"})
	if errs := pt.call.EventsNamed("error"); len(errs) > 0 {
		t.Fatalf("error event %s\n%s", errs[0].JSON, desc)
	}
	var names []string
	for _, m := range s.marks {
		names = append(names, twField(m, "mark.name"))
	}
	if strings.Join(names, " ") != "m1 m2" {
		t.Fatalf("marks echoed %v, want m1 m2\n%s", names, desc)
	}
	if ev := pt.events("mark"); strings.Join(ev, " ") != "mark:m1" {
		t.Errorf("mark events %v, want m1 alone (m2 was cleared)", ev)
	}

	// The first second: 700 Hz, gap-free.
	onset, _ := pbSpan(x, 0, pbThreshold)
	if onset < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	end := pbRegionEnd(x, onset)
	pbCheckGapless(t, x, onset+1, end, pbLevel, "the streamed µ-law")
	mid := x[onset+pbFrame : end-pbFrame]
	if f := DominantFreq(mid, pbRate); math.Abs(f-700) > 2 {
		t.Errorf("played at %.2f Hz, want 700", f)
	}
	if l := ToneDBFS(mid, pbRate, 700); math.Abs(l-pbLevel) > 0.5 {
		t.Errorf("played 700 Hz at %.2f dBFS, want %.1f ± 0.5", l, pbLevel)
	}
	if n := end - onset; math.Abs(float64(n-8000)) > 40 {
		t.Errorf("the first stretch played %d samples, want 8000", n)
	}
	// m1 after its audio's last sample was played, not before.
	marks := pt.call.EventsNamed("mark")
	if len(marks) == 1 {
		pt.checkPulledThenNotified(t, marks[0], end-pbResampleSlack, end+pbResampleSlack, "m1")
	}
	// Audio frames sent before the echo: at least up to the frame where
	// the tone's last sample played.
	for i, m := range s.msgs {
		if m.Event == "mark" && twField(m, "mark.name") == "m1" {
			media := 0
			for _, p := range s.msgs[:i] {
				if p.Event == "media" {
					media++
				}
			}
			if media < end/pbFrame-1 {
				t.Errorf("m1 came back after %d media messages: before frame %d, where its audio ended, was captured", media, end/pbFrame)
			}
		}
	}

	// The burst, cut by the clear within one frame.
	kills := pt.call.EventsNamed("kill_audio")
	if len(kills) != 1 {
		t.Fatalf("%d kill_audio events, want 1\n%s", len(kills), desc)
	}
	bOnset, _ := pbSpan(x, end+1, pbThreshold)
	if bOnset < 0 {
		t.Fatalf("the burst was not played\n%s", desc)
	}
	bEnd := pbRegionEnd(x, bOnset)
	if bEnd-bOnset > 16000-8000 {
		t.Errorf("the burst played %d samples: the clear did not cut it", bEnd-bOnset)
	}
	cutMs := float64(bEnd) / 8
	if limit := float64(kills[0].T) + 20 + pt.lateMs + 1; cutMs > limit {
		t.Errorf("audio went on to %.1f ms, the clear was seen at %d ms: want silence within one frame (≤ %.1f ms)",
			cutMs, kills[0].T, limit)
	}
	pbCheckSilent(t, x, bEnd+1, len(x), "after the clear")
}

// TestTwilioBadInput: what a Twilio server sends wrong is refused with an
// error event naming it (a payload that is not base64, a media message with
// no payload, a binary frame, 130 s of audio at once: over maxQueuedSeconds,
// known from the base64's length) and the stream goes on: the good media after
// them plays and the mark after it is answered; nothing but Twilio messages
// goes to the server; an unknown event is passed to the host.
func TestTwilioBadInput(t *testing.T) {
	t.Parallel()
	tone := Sine(8000, 700, pbLevel, 0.5)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "bad64", websocket.TextMessage, []byte(`{"event":"media","streamSid":"MZx","media":{"payload":"@@@@"}}`))
			script.send(c, "nopayload", websocket.TextMessage, []byte(`{"event":"media","streamSid":"MZx","media":{"track":"outbound"}}`))
			script.send(c, "binary", websocket.BinaryMessage, make([]byte, 320))
			script.send(c, "toolong", websocket.TextMessage, twMedia(make([]int16, 130*8000)))
			script.send(c, "custom", websocket.TextMessage, []byte(`{"event":"transcript","text":"hi"}`))
			script.send(c, "audio", websocket.TextMessage, twMedia(tone))
			script.send(c, "m1", websocket.TextMessage, twMark("m1"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: twConfig(t, srv.URL, nil), Hangup: 1.5})
	if pt.call.ReasonString() != "hangup" {
		t.Errorf("reason %s, want hangup: the stream goes on", pt.call.ReasonString())
	}
	var errs []string
	for _, e := range pt.call.EventsNamed("error") {
		errs = append(errs, e.String("error"))
	}
	want := []string{
		`media: "media.payload" is not valid base64: illegal base64 data at input byte 0`,
		`media: "media.payload" is missing`,
		`binary frame refused: Twilio Media Streams carry audio in media messages`,
		`streamed audio refused: 130.0 s of audio would be waiting, over the limit of 120.0 s`,
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("error events\n%s\nwant\n%s\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"), desc)
	}
	if msgs := pt.call.EventsNamed("message"); len(msgs) != 1 || string(msgs[0].JSON) != `{"event":"transcript","text":"hi"}` {
		t.Errorf("message events %v, want the transcript", msgs)
	}
	s := twCheck(t, c, []string{"inbound"}) // Twilio messages only
	if len(s.marks) != 1 {
		t.Errorf("%d marks echoed, want 1\n%s", len(s.marks), desc)
	}
	onset, _ := pbSpan(x, 0, pbThreshold)
	if onset < 0 {
		t.Fatalf("the good media was not played\n%s", desc)
	}
	if f := DominantFreq(x[onset:onset+3200], pbRate); math.Abs(f-700) > 2 {
		t.Errorf("played %.2f Hz, want 700", f)
	}
}

// TestTwilioRefusesOtherRates: a Twilio listen at 16 kHz is refused when
// created, with a message saying why.
func TestTwilioRefusesOtherRates(t *testing.T) {
	t.Parallel()
	r := RunSim(t, Sim{Config: `{"url":"ws://127.0.0.1:9/x","protocol":"twilio","sampleRate":16000}`, Hangup: 0.2})
	want := `Twilio Media Streams are 8 kHz µ-law: "sampleRate" must be 8000 with "protocol": "twilio" (got 16000)`
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, want) || len(r.Calls) != 1 || !strings.Contains(r.Calls[0].Error, want) {
		t.Fatalf("exit %d, want 2 and %q\n%s", r.ExitCode, want, r.Describe())
	}
}

// TestG711Streams: with "encoding" mulaw or alaw, the first frame says so,
// every binary frame is 160 bytes (20 ms at 8 kHz, one byte a sample), and
// the bytes decode, through the standard's tables, to the caller's 1 kHz
// tone within 0.5 dB.
func TestG711Streams(t *testing.T) {
	t.Parallel()
	const level = -6.0
	caller := WriteWAV(t, "tone.wav", 8000, Sine(8000, 1000, level, 2))
	codecs := []struct {
		name string
		dec  func(byte) int16
	}{{"mulaw", g711.DecodeMulaw}, {"alaw", g711.DecodeAlaw}}
	var srvs []*WSServer
	var sims []Sim
	for _, c := range codecs {
		srv := NewWSServer(t, nil)
		srvs = append(srvs, srv)
		sims = append(sims, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "encoding": c.name}), Caller: caller, QuietLog: true})
	}
	results := RunSims(t, sims)
	for i, codec := range codecs {
		t.Run(codec.name, func(t *testing.T) {
			results[i].MustSucceed(t, 1)
			c := srvs[i].WaitDone(t, 1, 5*time.Second)[0]
			texts := c.TextFrames()
			if len(texts) == 0 || !strings.HasPrefix(texts[0], `{"sampleRate":8000,"mixType":"mono","encoding":"`+codec.name+`",`) {
				t.Fatalf("first frame %q, want the encoding after the rate and mix", texts)
			}
			var audio []int16
			for _, f := range c.BinaryFrames() {
				if len(f) != 160 {
					t.Fatalf("a binary frame of %d bytes, want 160", len(f))
				}
				for _, b := range f {
					audio = append(audio, codec.dec(b))
				}
			}
			mid := Trim(audio, 8000, 0.2, 0.2)
			if f := DominantFreq(mid, 8000); math.Abs(f-1000) > 2 {
				t.Errorf("%.2f Hz, want 1000", f)
			}
			if l := RMSdBFS(mid); math.Abs(l-level) > 0.5 {
				t.Errorf("%.2f dBFS, want %.1f ± 0.5", l, level)
			}
		})
	}
}

// TestG711PlayAudio: playAudio clips of "mulaw" and "alaw" audio play at
// their pitch and length, and are confirmed with playDone.
func TestG711PlayAudio(t *testing.T) {
	t.Parallel()
	tone := Sine(8000, 700, pbLevel, 0.5)
	mu, al := make([]byte, len(tone)), make([]byte, len(tone))
	g711.EncodeMulawFrame(mu, tone)
	g711.EncodeAlawFrame(al, tone)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "mu", websocket.TextMessage, pbPlayAny("mulaw", mu, nil, "mu"))
			script.send(c, "al", websocket.TextMessage, pbPlayAny("alaw", al, 8000, "al"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 1.6})
	if got := pt.events("play_done"); strings.Join(got, " ") != "play_done:mu play_done:al" {
		t.Fatalf("play_done %v\n%s", got, desc)
	}
	if n := pbCountText(c, "playDone"); n != 2 {
		t.Errorf("%d playDone frames, want 2", n)
	}
	onset, _ := pbSpan(x, 0, pbThreshold)
	if onset < 0 {
		t.Fatalf("nothing played\n%s", desc)
	}
	end := pbRegionEnd(x, onset)
	if n := end - onset; math.Abs(float64(n-8000)) > 20 {
		t.Errorf("played %d samples, want the two clips' 8000", n)
	}
	for _, half := range [][2]int{{onset + 160, onset + 3840}, {onset + 4160, end - 160}} {
		seg := x[half[0]:half[1]]
		if f := DominantFreq(seg, pbRate); math.Abs(f-700) > 3 {
			t.Errorf("played %.2f Hz, want 700", f)
		}
		if l := ToneDBFS(seg, pbRate, 700); math.Abs(l-pbLevel) > 0.5 {
			t.Errorf("played at %.2f dBFS, want %.1f", l, pbLevel)
		}
	}
}

// TestTwilioSimTimeline: listen-sim --wire against a Twilio server shows
// the opening messages in full, and the media messages both ways counted
// per second like binary frames (by their payload's bytes), not 50 lines a
// second; the mark echo in full.
func TestTwilioSimTimeline(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		if _, ok := c.WaitFor(5*time.Second, func(f Frame) bool { return strings.Contains(string(f.Data), `"event":"start"`) }); ok {
			c.Send(websocket.TextMessage, twMedia(make([]int16, 1600)))
			c.Send(websocket.TextMessage, twMark("m1"))
		}
		<-done
	})
	r := RunSim(t, Sim{Config: twConfig(t, srv.URL, nil), Hangup: 2, QuietLog: true, Readable: true,
		Expect: "hangup", Extra: []string{"--wire"}})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Describe())
	}
	out := r.Stdout
	timelineLine(t, out, `→ first frame \{"event":"connected","protocol":"Call","version":"1\.0\.0"\}$`)
	timelineLine(t, out, `→ \{"event":"start","sequenceNumber":"1","start":\{`)
	timelineLine(t, out, `→ media message with a payload of 160 bytes \(the first\)$`)
	timelineLine(t, out, `→ audio 50 frames, 8000 bytes in 0-1 s$`)
	if !regexp.MustCompile(`→ audio 50 frames, 8000 bytes in 1-2 s\n *2\.[0-9]+ → \{"event":"stop"`).MatchString(out) {
		t.Errorf("the last second's audio is not told before the stop message:\n%s", out)
	}
	timelineLine(t, out, `← media message with a payload of 1600 bytes \(the first\)$`)
	timelineLine(t, out, `→ \{"event":"mark","streamSid":"MZ[0-9a-f]{32}","sequenceNumber":"[0-9]+","mark":\{"name":"m1"\}\}$`)
	timelineLine(t, out, `→ \{"event":"stop","sequenceNumber":"[0-9]+"`)
	if n := strings.Count(out, `"event":"media"`); n != 0 {
		t.Errorf("%d media messages shown in full", n)
	}
}

// TestTwilioReconnect: a Twilio server that closes the socket with 1011 at
// 1 s is redialled; the new connection opens with connected and start (the
// same streamSid, numbering from "1" again, the resumption figures in
// customParameters as strings), its media chunks count from "1" again and
// their timestamps go on in the stream's time, from startMs, so the two
// connections' timestamps cover the whole call.
func TestTwilioReconnect(t *testing.T) {
	t.Parallel()
	var srv *WSServer
	srv = NewWSServer(t, func(c *WSConn) {
		if len(srv.Conns()) == 1 {
			done := c.ReadInBackground()
			media := 0
			c.WaitFor(5*time.Second, func(f Frame) bool {
				if strings.HasPrefix(string(f.Data), `{"event":"media"`) {
					media++
				}
				return media >= 50
			})
			c.CloseWith(websocket.CloseInternalServerErr, "bye")
			<-done
			return
		}
		c.ReadAll()
	})
	r := RunSim(t, Sim{Config: twConfig(t, srv.URL, map[string]any{"reconnect": map[string]any{"attempts": 2, "backoffMs": 100}}),
		Hangup: 3, QuietLog: true})
	r.MustSucceed(t, 1)
	conns := srv.WaitDone(t, 2, 5*time.Second)
	first, second := twMessages(t, conns[0]), twMessages(t, conns[1])
	if len(second) < 3 || second[0].Event != "connected" || second[1].Event != "start" || twStr(second[1].Fields["sequenceNumber"]) != "1" {
		t.Fatalf("the new connection opens with %.200s / %.300s", second[0].Raw, second[1].Raw)
	}
	if twStr(first[1].Fields["streamSid"]) != twStr(second[1].Fields["streamSid"]) {
		t.Errorf("streamSid changed across the reconnect")
	}
	var start struct {
		CustomParameters map[string]string `json:"customParameters"`
	}
	json.Unmarshal(second[1].Fields["start"], &start)
	p := start.CustomParameters
	if p["resumed"] != "true" || p["reconnects"] != "1" || p["startMs"] == "" {
		t.Fatalf("customParameters %v, want the resumption figures", p)
	}
	startMs, _ := strconv.Atoi(p["startMs"])
	covered := map[int]bool{}
	for i, msgs := range [][]twMsg{first, second} {
		chunk := 0
		for k, m := range msgs[1:] {
			if seq := twStr(m.Fields["sequenceNumber"]); seq != strconv.Itoa(k+1) {
				t.Fatalf("connection %d: message %d has sequenceNumber %s", i, k+2, seq)
			}
			if m.Event != "media" {
				continue
			}
			chunk++
			ts, _ := strconv.Atoi(twField(m, "media.timestamp"))
			if twField(m, "media.chunk") != strconv.Itoa(chunk) {
				t.Fatalf("connection %d: media %d has chunk %s", i, chunk, twField(m, "media.chunk"))
			}
			if i == 1 && chunk == 1 && ts != startMs {
				t.Errorf("the new connection's first media is at %d ms, its start said startMs %d", ts, startMs)
			}
			covered[ts] = true
		}
	}
	for ms := 0; ms < 2900; ms += 20 {
		if !covered[ms] {
			t.Fatalf("no media with timestamp %d on either connection", ms)
		}
	}
}

// TestTwilioFlood: a Twilio server that floods the call with unknown events
// (with raw CR/LF in them) and then with media that is not base64 gets
// the same bounds as any server: message and error events within
// maxEventsPerSecond (the rest counted in suppressed), every value clean,
// and after maxRefusals refusals within a minute the listen ends with
// server_error, saying why; nothing but Twilio messages reaches the server.
func TestTwilioFlood(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		if _, ok := c.WaitFor(5*time.Second, func(f Frame) bool { return strings.Contains(string(f.Data), `"event":"start"`) }); ok {
			for i := 0; i < 2000; i++ {
				if c.Send(websocket.TextMessage, []byte("{\"event\":\"noise\",\r\n\"text\":\"FORGED "+strconv.Itoa(i)+"\"}")) != nil {
					break
				}
			}
			for i := 0; i < 2000; i++ {
				if c.Send(websocket.TextMessage, []byte(`{"event":"media","media":{"payload":"\u0000\r\n@@"}}`)) != nil {
					break
				}
			}
		}
		<-done
	})
	r := RunSim(t, Sim{Config: twConfig(t, srv.URL, nil), Hangup: 3, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	stop, _ := call.Stop()
	want := `the server sent 101 messages that were refused within a minute, over the limit of 100 (maxRefusals); the last: media: "media.payload" is not valid base64: it holds a line break`
	if call.ReasonString() != "server_error" || stop.String("error") != want {
		t.Fatalf("reason %s, error %q; want server_error, %q", call.ReasonString(), stop.String("error"), want)
	}
	bound := hosEventRateBound(20, 3)
	for _, name := range []string{"message", "error"} {
		told, delivered, _ := hosEventsTold(call, name)
		if delivered > bound {
			t.Errorf("%d %s events delivered, over the bound of %d", delivered, name, bound)
		}
		if name == "message" && told != 2000 {
			t.Errorf("%d message events delivered or counted as suppressed, want the 2000 sent", told)
		}
	}
	hosCheckClean(t, call)
	for _, e := range call.EventsNamed("message") {
		if strings.ContainsAny(string(e.JSON), "\r\n") {
			t.Fatalf("a message event holds a raw line break: %q", e.JSON)
		}
	}
	twCheck(t, srv.WaitDone(t, 1, 5*time.Second)[0], []string{"inbound"})
}
