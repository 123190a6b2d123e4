package freeswitch_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/opus"
)

const (
	callerHz = 1000.0 // the "caller" extension's tone
	agentHz  = 600.0  // the "agent" extension's tone
	clipHz   = 500.0  // the clip the server plays on /bot
	clipRate = 8000
	clipMs   = 800
)

// TestFreeSWITCH runs mod_listen inside a real FreeSWITCH: loading, the
// blocking listen of a voice bot, and listen_start across a bridge.
func TestFreeSWITCH(t *testing.T) {
	fs, srv := env(t)
	oggClip, err := os.ReadFile("../../go/oggopus/testdata/stereo48k.opus")
	if err != nil {
		t.Fatal(err)
	}
	clip := base64.StdEncoding.EncodeToString(toPCM(tone(clipHz, clipRate, clipRate*clipMs/1000, 8000)))
	playAudio := func(id string) string {
		return fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"raw","sampleRate":"%d","id":%q}}`,
			clip, clipRate, id)
	}
	// One second into the stream the bot answers with a clip.
	srv.Handle("/bot", func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 50 {
			c.WriteText(playAudio("clip1"))
		}
	})
	// The recorder of a bridged call plays a clip after two seconds.
	srv.Handle("/rec", func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 100 {
			c.WriteText(playAudio("clip2"))
		}
	})
	// A custom speech recognizer: a transcript after half a second of
	// audio, and the last one after "stop", then it closes.
	srv.Handle("/stt", func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 25 {
			c.WriteText(`{"type":"transcription","is_final":true,"alternatives":[{"transcript":"hello from the switch","confidence":0.9}]}`)
		}
		if f.Text && string(f.Data) == `{"type":"stop"}` {
			c.WriteText(`{"type":"transcription","is_final":true,"alternatives":[{"transcript":"bye","confidence":0.8}]}`)
			c.CloseNormally()
		}
	})
	// An Opus stream's server answers with an Ogg/Opus clip (opusenc's:
	// 1 s of 1 kHz left, 600 Hz right).
	srv.Handle("/opus", func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 50 {
			c.WriteText(fmt.Sprintf(`{"type":"playAudio","data":{"audioContent":%q,"audioContentType":"ogg","id":"tts"}}`,
				base64.StdEncoding.EncodeToString(oggClip)))
		}
	})
	// A listen_start that did not ask for playback: the clip is refused.
	srv.Handle("/again", func(c *Conn, f Frame) {
		if !f.Text && len(c.Binaries()) == 5 {
			c.WriteText(playAudio("clip3"))
		}
	})

	steps := []struct {
		name string
		run  func(*testing.T, *Switch, *WSServer)
	}{
		{"Load", testLoad},
		{"BlockingListen", testBlockingListen},
		{"HangupDuringListen", testHangupDuringListen},
		{"BreakEndsListen", testBreakEndsListen},
		{"Transcribe", testTranscribe},
		{"ListenStartAcrossBridge", testListenStartAcrossBridge},
		{"OpusListen", testOpusListen},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, fs, srv) }) {
			break
		}
	}
}

// testLoad: the module is loaded from the build directory (liblisten.so found
// through its rpath), loading it again is harmless, an unload and a load
// restart the engine, and the API answers.
func testLoad(t *testing.T, fs *Switch, _ *WSServer) {
	if out := fs.API(t, "module_exists mod_listen"); strings.TrimSpace(out) != "true" {
		t.Fatalf("mod_listen is not loaded: %q", out)
	}
	if out := fs.API(t, "load "+fs.Module); !strings.Contains(out, "already loaded") {
		t.Errorf("a second load: %q, want a refusal saying it is already loaded", out)
	}
	if out := fs.API(t, "unload mod_listen"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("unload: %q", out)
	}
	if out := fs.API(t, "load "+fs.Module); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("load after unload: %q", out)
	}
	if out := fs.API(t, "listen_reload"); !strings.HasPrefix(out, "+OK") {
		t.Errorf("listen_reload: %q", out)
	}

	// The sample listen.conf.xml that cmake --install puts in place is
	// accepted as it is; a bad one is refused and the settings stay.
	conf := filepath.Join(fs.Dir, "conf", "listen.conf.xml")
	original, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join("..", "..", "module", "listen.conf.xml"))
	if err != nil {
		t.Fatal(err)
	}
	reload := func(content []byte) string {
		if err := os.WriteFile(conf, content, 0o644); err != nil {
			t.Fatal(err)
		}
		fs.API(t, "reloadxml")
		return fs.API(t, "listen_reload")
	}
	if out := reload(sample); !strings.HasPrefix(out, "+OK") {
		t.Errorf("listen_reload with module/listen.conf.xml: %q", out)
	}
	bad := `<configuration name="listen.conf"><settings><param name="bufferSecs" value="1"/></settings></configuration>`
	if out := reload([]byte(bad)); !strings.HasPrefix(out, "-ERR") || !strings.Contains(out, "bufferSecs") {
		t.Errorf("listen_reload with an unknown setting: %q, want an error naming it", out)
	}
	if out := reload(original); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("listen_reload with the test's configuration: %q", out)
	}
	if st := switchStatus(t, fs); len(st.Listens) != 0 || st.Drain["on"] != false || st.Version == "" {
		t.Errorf("listen_status with no call: %+v, want no listens, no drain and the version", st)
	}
	for _, cmd := range []string{"uuid_listen", "uuid_listen nosuchuuid"} {
		if out := fs.API(t, cmd); !strings.HasPrefix(out, "-USAGE: uuid_listen") {
			t.Errorf("%s: %q, want the usage", cmd, out)
		}
	}
	if out := fs.API(t, "uuid_listen nosuchuuid stop"); !strings.HasPrefix(out, "-ERR") {
		t.Errorf("uuid_listen on an unknown channel: %q", out)
	}
}

// originate places a loopback call to extension dest whose other end runs
// the "caller" extension (a 1 kHz tone, and a recording of what it hears),
// and returns the caller leg's uuid.
func originate(t *testing.T, fs *Switch, dest, callerID string) string {
	t.Helper()
	out := fs.API(t, fmt.Sprintf("originate {loopback_bowout=false,origination_caller_id_number=%s}loopback/%s/default caller XML default",
		callerID, dest))
	if !strings.HasPrefix(out, "+OK ") {
		t.Fatalf("originate: %q", out)
	}
	return strings.TrimSpace(strings.TrimPrefix(out, "+OK "))
}

func decodeJSON(t *testing.T, what, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s is not a JSON object: %v: %q", what, err, s)
	}
	return m
}

// listenStatus is what listen_status says of the whole switch.
type listenStatus struct {
	Version string           `json:"version"`
	Drain   map[string]any   `json:"drain"`
	Listens []map[string]any `json:"listens"`
}

func switchStatus(t *testing.T, fs *Switch) listenStatus {
	t.Helper()
	var st listenStatus
	out := fs.API(t, "listen_status")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("listen_status: %v: %q", err, out)
	}
	return st
}

func getvar(t *testing.T, fs *Switch, uuid, name string) string {
	t.Helper()
	return strings.TrimSpace(fs.API(t, "uuid_getvar "+uuid+" "+name))
}

// testBlockingListen: a voice bot. The bot leg runs the blocking "listen"
// with a profile whose metadata holds a channel variable; the server gets the
// first frame and the caller's tone, answers with a clip that the caller leg
// records, gets a DTMF digit, and '#' ends the listen; the dialplan then
// continues with the outcome in channel variables.
func testBlockingListen(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	caller := originate(t, fs, "bot", "15550100")
	defer fs.API(t, "uuid_kill "+caller)

	start := fs.Events.WaitEvent(t, "listen::start (blocking)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "blocking"
	})
	bot := start.Get("Unique-ID")
	if !strings.Contains(start.Get("Channel-Name"), "loopback/bot") {
		t.Errorf("listen::start carries channel %q, want the loopback/bot leg", start.Get("Channel-Name"))
	}
	st := decodeJSON(t, "listen::start body", start.Body)
	if st["mixType"] != "mono" || st["sampleRate"] != float64(16000) {
		t.Errorf("listen::start body %s: want mixType mono, sampleRate 16000", start.Body)
	}
	conn := srv.Accept(t, "/bot", 10*time.Second)
	fs.Events.WaitEvent(t, "listen::connect", mark, 10*time.Second, named("listen::connect", bot))

	done := fs.Events.WaitEvent(t, "listen::play_done", mark, 15*time.Second, named("listen::play_done", bot))
	if d := decodeJSON(t, "play_done body", done.Body); d["id"] != "clip1" {
		t.Errorf("listen::play_done body %s, want id clip1", done.Body)
	}
	fs.Events.WaitEvent(t, "listen::play_start", mark, time.Second, named("listen::play_start", bot))
	WaitFor(t, "playDone on the socket", 5*time.Second, func() bool {
		return containsText(conn.Texts(), `"playDone"`)
	})

	fs.API(t, "uuid_recv_dtmf "+bot+" 1")
	WaitFor(t, "the DTMF frame for 1", 5*time.Second, func() bool {
		for _, s := range conn.Texts() {
			var m map[string]any
			if json.Unmarshal([]byte(s), &m) == nil && m["event"] == "dtmf" && m["dtmf"] == "1" {
				return true
			}
		}
		return false
	})
	fs.Events.WaitEvent(t, "listen::dtmf", mark, 5*time.Second, named("listen::dtmf", bot))
	fs.API(t, "uuid_recv_dtmf "+bot+" #")

	stop := fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", bot))
	sb := decodeJSON(t, "listen::stop body", stop.Body)
	if sb["reason"] != "finishOnKey" || sb["digits"] != "#" {
		t.Errorf("listen::stop body %s: want reason finishOnKey, digits #", stop.Body)
	}

	// The application returned and the dialplan went on.
	WaitFor(t, "the dialplan after listen", 5*time.Second, func() bool {
		return getvar(t, fs, bot, "listen_after") == "finishOnKey/#"
	})
	if v := getvar(t, fs, bot, "listen_reason"); v != "finishOnKey" {
		t.Errorf("listen_reason = %q", v)
	}
	if v := getvar(t, fs, bot, "listen_digits"); v != "#" {
		t.Errorf("listen_digits = %q", v)
	}
	if ms, err := strconv.Atoi(getvar(t, fs, bot, "listen_duration_ms")); err != nil || ms < 1500 || ms > 60000 {
		t.Errorf("listen_duration_ms = %d (%v), want the seconds the listen lasted", ms, err)
	}

	WaitFor(t, "the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}

	// What the server received: the first frame, then 20 ms frames of the
	// caller's tone resampled to 16 kHz.
	frames := conn.Frames()
	if len(frames) == 0 || !frames[0].Text {
		t.Fatalf("the first frame is not text")
	}
	first := decodeJSON(t, "the first frame", string(frames[0].Data))
	for k, want := range map[string]any{"sampleRate": float64(16000), "mixType": "mono", "callSid": bot,
		"from": "15550100", "to": "bot", "direction": "inbound", "case": "blocking", "tag": "tag-" + bot} {
		if first[k] != want {
			t.Errorf("first frame %s = %v, want %v (frame %s)", k, first[k], want, frames[0].Data)
		}
	}
	bins := conn.Binaries()
	if len(bins) < 85 {
		t.Fatalf("%d binary frames, want at least 85 (the clip plays from 1 s to 1.8 s)", len(bins))
	}
	for i, b := range bins {
		if len(b) != 640 {
			t.Fatalf("binary frame %d has %d bytes, want 640 (20 ms at 16 kHz mono)", i, len(b))
		}
	}
	var audio []float64
	for _, b := range bins[25:75] {
		audio = append(audio, pcm(b)...)
	}
	if share := toneShare(audio, 16000, callerHz); share < 0.9 || rms(audio) < 1000 {
		t.Errorf("caller audio: %.2f of its energy at %v Hz, rms %.0f; want a clear tone", share, callerHz, rms(audio))
	}

	// The caller leg heard the clip: its recording of what it received.
	heard, rate := hangUpAndListen(t, fs, caller, mark)
	run := loudRun(heard, rate, 1000)
	ms := len(run) * 1000 / rate
	if ms < clipMs-60 || ms > clipMs+60 {
		t.Errorf("the caller heard %d ms of sound, want the %d ms clip", ms, clipMs)
	}
	if share := toneShare(run, rate, clipHz); share < 0.9 {
		t.Errorf("what the caller heard: %.2f of its energy at %v Hz, want the clip", share, clipHz)
	}
	if share := toneShare(heard, rate, callerHz); share > 0.05 {
		t.Errorf("the caller heard its own tone (%.2f of the energy)", share)
	}
}

// hangUpAndListen hangs up the caller leg and returns its recording of what
// it heard.
func hangUpAndListen(t testing.TB, fs *Switch, caller string, mark int) ([]float64, int) {
	t.Helper()
	fs.API(t, "uuid_kill "+caller)
	rec := fs.Events.WaitEvent(t, "RECORD_STOP of the caller leg", mark, 10*time.Second, named("RECORD_STOP", caller))
	heard, rate, err := readWAV(rec.Get("Record-File-Path"))
	if err != nil {
		t.Fatal(err)
	}
	return heard, rate
}

// testHangupDuringListen: a hangup ends a blocking listen with reason
// "hangup", the server sees a clean close, and the engine lets the stream go.
func testHangupDuringListen(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	originate(t, fs, "bot", "15550122")
	start := fs.Events.WaitEvent(t, "listen::start (blocking)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "blocking"
	})
	bot := start.Get("Unique-ID")
	conn := srv.Accept(t, "/bot", 10*time.Second)
	fs.Events.WaitEvent(t, "listen::connect", mark, 10*time.Second, named("listen::connect", bot))
	WaitFor(t, "half a second of audio", 5*time.Second, func() bool { return len(conn.Binaries()) >= 25 })

	fs.API(t, "uuid_kill "+bot)
	stop := fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", bot))
	if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "hangup" {
		t.Errorf("listen::stop body %s, want reason hangup", stop.Body)
	}
	WaitFor(t, "the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}
	WaitFor(t, "listen_status to be empty", 5*time.Second, func() bool {
		return len(switchStatus(t, fs).Listens) == 0
	})
}

// testBreakEndsListen: uuid_break ends a blocking listen like a stop, and
// the dialplan goes on.
func testBreakEndsListen(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	caller := originate(t, fs, "bot", "15550133")
	defer fs.API(t, "uuid_kill "+caller)
	start := fs.Events.WaitEvent(t, "listen::start (blocking)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "blocking"
	})
	bot := start.Get("Unique-ID")
	srv.Accept(t, "/bot", 10*time.Second)
	fs.Events.WaitEvent(t, "listen::connect", mark, 10*time.Second, named("listen::connect", bot))

	fs.API(t, "uuid_break "+bot)
	stop := fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", bot))
	if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "stop" {
		t.Errorf("listen::stop body %s, want reason stop", stop.Body)
	}
	WaitFor(t, "the dialplan after listen", 5*time.Second, func() bool {
		return getvar(t, fs, bot, "listen_after") == "stop/"
	})
}

// testListenStartAcrossBridge: listen_start in stereo on a leg that then
// bridges; the caller's tone is on the left, the other party's on the right;
// the server's clip replaces, for its length, what the caller hears; DTMF
// reaches the server; the API controls the listen while the call goes on;
// the channel takes another listen after it, which the hangup ends.
func testListenStartAcrossBridge(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	caller := originate(t, fs, "rec", "15550111")
	defer fs.API(t, "hupall normal_clearing")

	start := fs.Events.WaitEvent(t, "listen::start (background)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "background"
	})
	leg := start.Get("Unique-ID")
	conn := srv.Accept(t, "/rec", 10*time.Second)
	fs.Events.WaitEvent(t, "listen::connect", mark, 10*time.Second, named("listen::connect", leg))
	done := fs.Events.WaitEvent(t, "listen::play_done", mark, 15*time.Second, named("listen::play_done", leg))
	if d := decodeJSON(t, "play_done body", done.Body); d["id"] != "clip2" {
		t.Errorf("listen::play_done body %s, want id clip2", done.Body)
	}
	// "~" makes FreeSWITCH process the digit as one from the network: it
	// runs the receive-DTMF hooks that the background form listens with.
	fs.API(t, "uuid_recv_dtmf "+leg+" ~5")
	WaitFor(t, "the DTMF frame for 5", 5*time.Second, func() bool { return containsText(conn.Texts(), `"dtmf":"5"`) })
	fs.Events.WaitEvent(t, "listen::dtmf", mark, 5*time.Second, named("listen::dtmf", leg))

	if v := getvar(t, fs, leg, "bridge_uuid"); v == "" || v == "_undef_" {
		t.Fatalf("the listening leg is not bridged (bridge_uuid %q)", v)
	}
	st := decodeJSON(t, "listen_status "+leg+" listen", fs.API(t, "listen_status "+leg+" listen"))
	if st["mixType"] != "stereo" || st["name"] != "listen" {
		t.Errorf("listen_status: %v, want mixType stereo, name listen", st)
	}
	if all := switchStatus(t, fs).Listens; len(all) != 1 || all[0]["uuid"] != leg {
		t.Errorf("listen_status of all: %v, want one stream, on %s", all, leg)
	}
	if out := fs.API(t, "uuid_listen "+leg+` start {"url":"`+srv.URL+`/rec"}`); !strings.HasPrefix(out, "-ERR") ||
		!strings.Contains(out, "already") {
		t.Errorf("a second listen on the channel: %q, want an error saying one is running", out)
	}
	if out := fs.API(t, "unload mod_listen"); !strings.HasPrefix(out, "-ERR") {
		t.Fatalf("unload with a listen_start running: %q, want a refusal (module in use)", out)
	}
	if out := fs.API(t, "uuid_listen "+leg+` send_text {"type":"note","text":"hello"}`); !strings.HasPrefix(out, "+OK") {
		t.Errorf("send_text: %q", out)
	}
	WaitFor(t, "the text frame from send_text", 5*time.Second, func() bool {
		return containsText(conn.Texts(), `"hello"`)
	})
	for _, action := range []string{"pause", "resume", "bogus"} {
		out := fs.API(t, "uuid_listen "+leg+" "+action)
		if want := map[string]string{"pause": "+OK", "resume": "+OK", "bogus": "-USAGE"}[action]; !strings.HasPrefix(out, want) {
			t.Errorf("uuid_listen %s: %q, want %s", action, out, want)
		}
	}
	// Let audio after the resume arrive, and keep the frames before the stop.
	n := len(conn.Binaries())
	WaitFor(t, "audio after resume", 5*time.Second, func() bool { return len(conn.Binaries()) >= n+50 })
	bins := conn.Binaries()

	if out := fs.API(t, "uuid_listen "+leg+" stop"); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("uuid_listen stop: %q", out)
	}
	stop := fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", leg))
	if sb := decodeJSON(t, "listen::stop body", stop.Body); sb["reason"] != "stop" {
		t.Errorf("listen::stop body %s, want reason stop", stop.Body)
	}
	if v := getvar(t, fs, leg, "listen_reason"); v != "stop" {
		t.Errorf("listen_reason = %q", v)
	}
	WaitFor(t, "the socket to close", 5*time.Second, func() bool { return conn.CloseCode() != 0 })
	if code := conn.CloseCode(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}
	if out := strings.TrimSpace(fs.API(t, "uuid_exists "+leg)); out != "true" {
		t.Errorf("the call ended with the listen (uuid_exists %q)", out)
	}
	if out := fs.API(t, "listen_status "+leg); !strings.HasPrefix(out, "-ERR") {
		t.Errorf("listen_status after the stop: %q", out)
	}

	first := decodeJSON(t, "the first frame", conn.Texts()[0])
	if first["mixType"] != "stereo" || first["sampleRate"] != float64(8000) || first["callSid"] != leg {
		t.Errorf("first frame %v: want mixType stereo, sampleRate 8000, callSid %s", first, leg)
	}
	for i, b := range bins {
		if len(b) != 640 {
			t.Fatalf("binary frame %d has %d bytes, want 640 (20 ms at 8 kHz stereo)", i, len(b))
		}
	}
	var audio []float64
	for _, b := range bins[len(bins)-50:] {
		audio = append(audio, pcm(b)...)
	}
	left, right := deinterleave(audio)
	if share := toneShare(left, 8000, callerHz); share < 0.9 || rms(left) < 1000 {
		t.Errorf("left: %.2f of its energy at %v Hz (rms %.0f), want the caller's tone", share, callerHz, rms(left))
	}
	if share := toneShare(right, 8000, agentHz); share < 0.9 || rms(right) < 1000 {
		t.Errorf("right: %.2f of its energy at %v Hz (rms %.0f), want the other party's tone", share, agentHz, rms(right))
	}

	// The channel takes a new listen once the first is over; a hangup ends it.
	again := fs.Events.Mark()
	if out := fs.API(t, "uuid_listen "+leg+` start {"url":"`+srv.URL+`/again"}`); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("a new listen after the stop: %q", out)
	}
	conn2 := srv.Accept(t, "/again", 10*time.Second)
	fs.Events.WaitEvent(t, "listen::connect", again, 10*time.Second, named("listen::connect", leg))
	WaitFor(t, "audio on the new listen", 5*time.Second, func() bool { return len(conn2.Binaries()) >= 10 })
	// Without "bidirectionalAudio":{"enabled":true} the background form plays
	// nothing: the clip is refused (and the count of clip audio heard below
	// stays that of the first listen's one clip).
	WaitFor(t, "the refusal of a clip", 5*time.Second, func() bool {
		return containsText(conn2.Texts(), "bidirectional audio is off")
	})

	// The caller heard the other party, and the clip in its place while it played.
	heard, rate := hangUpAndListen(t, fs, caller, mark)
	stop2 := fs.Events.WaitEvent(t, "listen::stop", again, 10*time.Second, named("listen::stop", leg))
	if sb := decodeJSON(t, "listen::stop body", stop2.Body); sb["reason"] != "hangup" {
		t.Errorf("listen::stop body %s, want reason hangup", stop2.Body)
	}
	clipBlocks, agentBlocks := 0, 0
	for i := 0; i+rate/50 <= len(heard); i += rate / 50 {
		block := heard[i : i+rate/50]
		switch {
		case rms(block) < 1000:
		case toneShare(block, rate, clipHz) > 0.8:
			clipBlocks++
		case toneShare(block, rate, agentHz) > 0.8:
			agentBlocks++
		}
	}
	if ms := clipBlocks * 20; ms < clipMs-60 || ms > clipMs+60 {
		t.Errorf("the caller heard %d ms of the clip, want %d", ms, clipMs)
	}
	if agentBlocks < 100 {
		t.Errorf("the caller heard %d ms of the other party, want seconds", agentBlocks*20)
	}
}

func containsText(texts []string, sub string) bool {
	for _, s := range texts {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// testTranscribe: a listen_start with a nested transcribe; its transcripts
// are listen::transcription events with the channel's headers, the last one
// (sent after "stop") before listen::stop, and the key is in no event.
func testTranscribe(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	caller := originate(t, fs, "bot", "15550144")
	defer fs.API(t, "uuid_kill "+caller)
	fs.Events.WaitEvent(t, "listen::start (blocking)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "blocking"
	})
	const key = "fs-stt-key-31"
	cfg := `{"url":"` + srv.URL + `/trl","transcribe":{"recognizer":{"vendor":"custom","url":"` + srv.URL +
		`/stt","auth":{"apiKey":"` + key + `"}}}}`
	if out := fs.API(t, "uuid_listen "+caller+" start "+cfg); !strings.HasPrefix(out, "+OK") {
		t.Fatalf("uuid_listen start: %q", out)
	}
	stt := srv.Accept(t, "/stt", 10*time.Second)
	first := fs.Events.WaitEvent(t, "listen::transcription", mark, 10*time.Second, named("listen::transcription", caller))
	if b := decodeJSON(t, "listen::transcription body", first.Body); b["transcript"] != "hello from the switch" ||
		b["is_final"] != true || b["party"] != "caller" || first.Get("Channel-Name") == "" {
		t.Errorf("listen::transcription %s (channel %q)", first.Body, first.Get("Channel-Name"))
	}
	status := fs.API(t, "listen_status "+caller+" listen")
	if tr, _ := decodeJSON(t, "listen_status", status)["transcribe"].(map[string]any); tr["vendor"] != "custom" ||
		tr["framesDropped"] != 0.0 || strings.Contains(status, key) {
		t.Errorf("listen_status %s, want the recognizer (custom, nothing dropped) and no key", status)
	}
	fs.API(t, "uuid_listen "+caller+" stop")
	stop := fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", caller))
	var texts []string
	fs.Events.mu.Lock()
	for _, ev := range fs.Events.events[mark:] {
		if ev.Name() == "listen::transcription" && ev.Get("Unique-ID") == caller {
			texts = append(texts, decodeJSON(t, "listen::transcription body", ev.Body)["transcript"].(string))
		}
		if strings.Contains(ev.String(), key) {
			t.Errorf("the key is in an event: %s", shorten(ev.String(), 300))
		}
		if ev.Name() == "listen::stop" && ev.Get("Unique-ID") == caller {
			break
		}
	}
	fs.Events.mu.Unlock()
	if strings.Join(texts, "|") != "hello from the switch|bye" {
		t.Errorf("transcripts before listen::stop %q, want both (stop: %s)", texts, stop.Body)
	}
	if start := stt.Texts(); len(start) == 0 || !strings.HasPrefix(start[0], `{"type":"start"`) {
		t.Errorf("recognizer text frames %q", start)
	}
}

// testOpusListen: a listen with encoding opus inside FreeSWITCH: the server
// gets the caller's 1 kHz tone as 20 ms Opus packets (decoded here with
// libopus), and the Ogg/Opus clip it answers with is heard by the caller for
// its second.
func testOpusListen(t *testing.T, fs *Switch, srv *WSServer) {
	mark := fs.Events.Mark()
	caller := originate(t, fs, "opusbot", "15550144")
	defer fs.API(t, "uuid_kill "+caller)
	start := fs.Events.WaitEvent(t, "listen::start (blocking)", mark, 10*time.Second, func(e Event) bool {
		return e.Name() == "listen::start" && e.Get("Listen-Mode") == "blocking"
	})
	bot := start.Get("Unique-ID")
	if st := decodeJSON(t, "listen::start body", start.Body); st["encoding"] != "opus" || st["sampleRate"] != float64(16000) {
		t.Errorf("listen::start body %s: want encoding opus, sampleRate 16000", start.Body)
	}
	conn := srv.Accept(t, "/opus", 10*time.Second)
	done := fs.Events.WaitEvent(t, "listen::play_done", mark, 15*time.Second, named("listen::play_done", bot))
	if d := decodeJSON(t, "play_done body", done.Body); d["id"] != "tts" {
		t.Errorf("listen::play_done body %s, want id tts", done.Body)
	}
	heard, rate := hangUpAndListen(t, fs, caller, mark)
	fs.Events.WaitEvent(t, "listen::stop", mark, 10*time.Second, named("listen::stop", bot))

	frames := conn.Frames()
	if len(frames) == 0 || !frames[0].Text || !strings.Contains(string(frames[0].Data), `"mixType":"mono","encoding":"opus"`) {
		t.Fatalf("the first frame %q does not say encoding opus", frames[0].Data)
	}
	dec, err := opus.NewDecoder(16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	bins := conn.Binaries()
	if len(bins) < 75 {
		t.Fatalf("%d packets, want at least 75 (the clip plays from 1 s to 2 s)", len(bins))
	}
	var audio []float64
	for i, b := range bins {
		samples, err := dec.Decode(b)
		if err != nil || len(samples) != 320 {
			t.Fatalf("packet %d: %d samples (%v), want 320 (20 ms at 16 kHz)", i, len(samples), err)
		}
		if i >= 25 && i < 75 {
			for _, v := range samples {
				audio = append(audio, float64(v))
			}
		}
	}
	if share := toneShare(audio, 16000, callerHz); share < 0.9 || rms(audio) < 1000 {
		t.Errorf("caller audio: %.2f of its energy at %v Hz, rms %.0f; want a clear tone", share, callerHz, rms(audio))
	}
	run := loudRun(heard, rate, 1000)
	if ms := len(run) * 1000 / rate; ms < 940 || ms > 1060 {
		t.Errorf("the caller heard %d ms of sound, want the 1000 ms clip", ms)
	}
	if share := toneShare(run, rate, 600); share < 0.3 {
		t.Errorf("what the caller heard: %.2f of its energy at 600 Hz, want the clip's right channel mixed in", share)
	}
}
