package e2e

// switchsim as a bot developer's tool: the timeline, --wire, mid-call
// actions, WAVs of any format, --played-map and the exit status.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/wav"
)

// simtoolRun runs switchsim with exactly these arguments (no harness
// defaults) and returns its exit code and output.
func simtoolRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	dir := buildDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "switchsim"),
		append([]string{"--lib", filepath.Join(dir, "liblisten.so"), "--quiet-log"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case ctx.Err() != nil:
		t.Fatalf("switchsim %v did not finish", args)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running switchsim: %v", err)
	}
	return code, stdout.String(), stderr.String()
}

// simtoolMarkers is a caller at 8 kHz whose 20 ms frame i is the constant
// i+1, so the server can tell which frames of the call it got.
func simtoolMarkers(frames int) []int16 {
	x := make([]int16, frames*160)
	for i := range x {
		x[i] = int16(i/160 + 1)
	}
	return x
}

// simtoolFrameValues returns the distinct frame markers in received order.
func simtoolFrameValues(audio []int16) []int {
	var out []int
	for _, v := range audio {
		if len(out) == 0 || out[len(out)-1] != int(v) {
			out = append(out, int(v))
		}
	}
	return out
}

// timelineLine finds the first timeline line matching re and returns its
// media time in seconds.
func timelineLine(t *testing.T, out string, re string) (float64, string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !rx.MatchString(line) {
			continue
		}
		f := strings.Fields(line)
		s, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		return s, line
	}
	t.Fatalf("no timeline line matches %q in:\n%s", re, out)
	return 0, ""
}

// hasLine fails the test unless a line of out matches re.
func hasLine(t *testing.T, out string, re string) {
	t.Helper()
	if !regexp.MustCompile("(?m)" + re).MatchString(out) {
		t.Errorf("no line matches %q in:\n%s", re, out)
	}
}

func TestSimToolTimelineAndWire(t *testing.T) {
	clip := make([]byte, 32000) // 1 s of raw 16 kHz
	var playAt, firstAt time.Time
	srv := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		// The playAudio goes after 75 binary frames: at 1.5 s of media time.
		if _, ok := c.WaitFor(10*time.Second, func(f Frame) bool { return f.Kind == websocket.TextMessage }); !ok {
			return
		}
		firstAt = time.Now()
		c.WaitFor(10*time.Second, func(Frame) bool { return len(c.BinaryFrames()) >= 75 })
		playAt = time.Now()
		c.SendJSON(map[string]any{"type": "playAudio", "data": map[string]any{"id": "a",
			"audioContent": base64.StdEncoding.EncodeToString(clip), "audioContentType": "raw", "sampleRate": 16000}})
		c.SendJSON(map[string]any{"type": "playAudio", "data": map[string]any{"id": "b",
			"audioContent": base64.StdEncoding.EncodeToString(wav.Encode(8000, 1, make([]int16, 4000))), "audioContentType": "wav"}})
		c.Send(websocket.TextMessage, []byte(`{"type":"echo","heard":"urlpw and tk-123"}`))
		<-done
	})
	url := strings.Replace(srv.URL, "ws://", "ws://bob:urlpw@", 1) + "?token=tk-123"
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"bidirectionalAudio":{"enabled":true}}`, url),
		Hangup: 3, QuietLog: true, Readable: true, Expect: "hangup",
		Extra: []string{"--wire", "--send-text", `2:{"type":"hello","n":1}`}})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Describe())
	}
	out := r.Stdout
	t.Logf("timeline:\n%s", out)
	// The engine's "message" event carries the server's message as sent;
	// the frames on the wire and the URL must not show the secrets.
	for _, l := range strings.Split(out, "\n") {
		if (strings.Contains(l, "→") || strings.Contains(l, "←") || strings.Contains(l, "connect")) &&
			(strings.Contains(l, "urlpw") || strings.Contains(l, "tk-123")) {
			t.Errorf("the timeline shows a secret of the URL: %s", l)
		}
	}
	if strings.Contains(out, "{\"summary\"") || strings.Contains(out, "\"call\":") {
		t.Errorf("the timeline has JSON lines without --json")
	}
	first, line := timelineLine(t, out, `→ first frame \{"sampleRate":8000,"mixType":"mono"`)
	if first < 0 || first > 0.020 {
		t.Errorf("first frame at %.3f s, want within 20 ms of the start: %s", first, line)
	}
	play, line := timelineLine(t, out, `← playAudio id=a 1\.00 s raw@16000$`)
	if want := first + playAt.Sub(firstAt).Seconds(); math.Abs(play-want) > 0.020 {
		t.Errorf("playAudio at %.3f s of media time, the server sent it at %.3f s: %s", play, want, line)
	}
	if play < 1.480 || play > 1.560 {
		t.Errorf("playAudio at %.3f s, want after the 75th frame (1.5 s)", play)
	}
	timelineLine(t, out, `← playAudio id=b 0\.50 s wav@8000$`)
	timelineLine(t, out, `← \{"type":"echo","heard":"… and …"\}$`)
	hello, _ := timelineLine(t, out, `→ \{"type":"hello","n":1\}$`)
	if hello < 2.0 || hello > 2.020 {
		t.Errorf("--send-text at 2 s went out at %.3f s", hello)
	}
	done, _ := timelineLine(t, out, `▶ play_done a$`)
	if done < play+0.98 {
		t.Errorf("play_done at %.3f s, under a second after the playAudio (%.3f s)", done, play)
	}
	timelineLine(t, out, `→ binary frame of 320 bytes \(the first\)$`)
	// Audio is counted per second of media time in which it was sent: a frame
	// sent a little late falls into the next second, but none is lost or
	// counted twice.
	total := 0
	for _, m := range regexp.MustCompile(`(?m)→ audio (\d+) frames, (\d+) bytes in (\d+)-\d+ s$`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		bytes, _ := strconv.Atoi(m[2])
		if n < 48 || n > 52 || bytes != 320*n {
			t.Errorf("second %s: %d frames, %d bytes; want 50 ± 2 frames of 320 bytes", m[3], n, bytes)
		}
		total += n
	}
	if total != 150 {
		t.Errorf("the per-second audio lines count %d frames, want the call's 150", total)
	}
	hasLine(t, out, `^call 0: hangup \(as expected\), 3\.00 s, 150 frames sent, 0 dropped, 1\.50 s of audio played$`)
}

// jambonz's pause/resume case: nothing of the caller between 1 and 2 s.
func TestSimToolPauseResume(t *testing.T) {
	srv := NewWSServer(t, nil)
	caller := WriteWAV(t, "markers.wav", 8000, simtoolMarkers(150))
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"sampleRate":8000}`, srv.URL), Caller: caller,
		QuietLog: true, Extra: []string{"--pause", "1", "--resume", "2"}})
	r.MustSucceed(t, 1)
	conns := srv.WaitDone(t, 1, 10*time.Second)
	got := simtoolFrameValues(conns[0].Audio())
	var want []int
	for i := 1; i <= 150; i++ {
		if i <= 50 || i > 100 {
			want = append(want, i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server got frames %v,\nwant 1-50 and 101-150", got)
	}
	var acts []string
	for _, e := range r.Call(t, 0).EventsNamed("host") {
		acts = append(acts, fmt.Sprintf("%s@%d", e.String("action"), e.T))
	}
	if fmt.Sprint(acts) != "[pause@1000 resume@2000]" {
		t.Errorf("host actions %v, want pause at 1000 ms and resume at 2000 ms of media time", acts)
	}
}

// --send-text reaches the server after the audio pushed before it.
func TestSimToolSendTextOrder(t *testing.T) {
	srv := NewWSServer(t, nil)
	caller := WriteWAV(t, "markers.wav", 8000, simtoolMarkers(150))
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"sampleRate":8000}`, srv.URL), Caller: caller,
		QuietLog: true, Extra: []string{"--send-text", `1.5:{"type":"note"}`}})
	r.MustSucceed(t, 1)
	conns := srv.WaitDone(t, 1, 10*time.Second)
	var before []int16
	found := false
	for _, f := range conns[0].Frames() {
		if f.Kind == websocket.TextMessage && string(f.Data) == `{"type":"note"}` {
			found = true
			break
		}
		if f.Kind == websocket.BinaryMessage {
			for i := 0; i+1 < len(f.Data); i += 2 {
				before = append(before, int16(binary.LittleEndian.Uint16(f.Data[i:])))
			}
		}
	}
	if !found {
		t.Fatalf("the server never got the text; frames: %d", len(conns[0].Frames()))
	}
	vals := simtoolFrameValues(before)
	// Frames 1-75 are pushed before 1.5 s; in real time the next one or two
	// may be pushed before the writer takes the text.
	if len(vals) < 75 || vals[74] != 75 || vals[len(vals)-1] > 77 {
		t.Errorf("before the text the server got frames %v, want 1-75 (and at most 2 more)", vals)
	}
}

// A 44.1 kHz stereo WAV and a 48 kHz float WAV as the caller of an 8 kHz
// call: converted by the engine's resampler, the tone keeps its frequency
// and level.
func TestSimToolAnyWAV(t *testing.T) {
	dir := t.TempDir()
	stereo := Sine(44100, 1000, -6, 3)
	inter := make([]int16, 2*len(stereo))
	for i, v := range stereo {
		inter[2*i], inter[2*i+1] = v, v
	}
	stereoPath := filepath.Join(dir, "stereo44k.wav")
	if err := os.WriteFile(stereoPath, wav.Encode(44100, 2, inter), 0o644); err != nil {
		t.Fatal(err)
	}
	floatPath := filepath.Join(dir, "float48k.wav")
	simtoolWriteFloatWAV(t, floatPath, 48000, 700, -12, 3)

	for _, tc := range []struct {
		name string
		args []string
		freq float64
		dB   float64
	}{
		{"44k1-stereo-pcm", []string{"--caller", stereoPath}, 1000, -6},
		{"48k-mono-float", []string{"--caller", floatPath}, 700, -12},
		{"tone", []string{"--caller-tone", "440:-20", "--hangup", "3"}, 440, -20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewWSServer(t, nil)
			r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"sampleRate":8000}`, srv.URL), QuietLog: true,
				Fast: true, Extra: tc.args})
			r.MustSucceed(t, 1)
			audio := srv.WaitDone(t, 1, 10*time.Second)[0].Audio()
			if d := math.Abs(float64(len(audio)) - 3*8000); d > 160 {
				t.Errorf("the server got %d samples, want 3 s (24000)", len(audio))
			}
			mid := Trim(audio, 8000, 0.1, 0.1)
			if f := DominantFreq(mid, 8000); math.Abs(f-tc.freq) > 1 {
				t.Errorf("tone at %.2f Hz, want %g", f, tc.freq)
			}
			if l := ToneDBFS(mid, 8000, tc.freq); math.Abs(l-tc.dB) > 0.3 {
				t.Errorf("tone at %.2f dBFS, want %g", l, tc.dB)
			}
		})
	}
}

// simtoolWriteFloatWAV writes a mono 32-bit float WAV of a sine.
func simtoolWriteFloatWAV(t *testing.T, path string, rate int, freq, dBFS, seconds float64) {
	n := int(seconds * float64(rate))
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 4*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(3)) // IEEE float
	le(uint16(1))
	le(uint32(rate))
	le(uint32(rate * 4))
	le(uint16(4))
	le(uint16(32))
	b.WriteString("data")
	le(uint32(4 * n))
	a := math.Pow(10, dBFS/20) * fullScale / 32768
	for i := 0; i < n; i++ {
		le(float32(a * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSimToolExitStatus(t *testing.T) {
	// A port nobody listens on: one a server had and closed.
	srv := NewWSServer(t, nil)
	dead := srv.URL
	srv.Close()
	cfg := fmt.Sprintf(`{"url":%q}`, dead)

	code, out, _ := simtoolRun(t, "--config", cfg, "--hangup", "1")
	if code != 3 {
		t.Errorf("unreachable server: exit %d, want 3\n%s", code, out)
	}
	if !strings.Contains(out, "call 0: connect_failed (expected hangup)") {
		t.Errorf("the summary does not say the call failed to connect:\n%s", out)
	}
	if code, out, _ = simtoolRun(t, "--config", cfg, "--hangup", "1", "--expect", "connect_failed"); code != 0 {
		t.Errorf("--expect connect_failed against an unreachable server: exit %d, want 0\n%s", code, out)
	}
	if code, out, _ = simtoolRun(t, "--config", cfg, "--hangup", "1", "--expect", "hangup,server_closed"); code != 3 {
		t.Errorf("--expect hangup,server_closed against an unreachable server: exit %d, want 3\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"--config", `{"url":"ws://127.0.0.1:9","mixType":"quad"}`},
		{"--config", `{"url":"ws://127.0.0.1:9"`},
		{"--config", cfg, "--pause", "soon"},
		{"--config", cfg, "--send-text", "1:not json"},
		{"--config", cfg, "--caller", "/nonexistent.wav"},
		{"--config", cfg, "--caller-tone", "440:+3"},
		{"--config", cfg, "--stop", "1", "--stop", "2"},
		{"--config", cfg, "--settings", `{"noSuchSetting":1}`},
	} {
		if code, out, errOut := simtoolRun(t, bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s%s", bad, code, out, errOut)
		}
	}
}

// --stop S[:reason] ends the listen at its media time with that reason, and
// is what the exit status expects by default.
func TestSimToolStop(t *testing.T) {
	srv := NewWSServer(t, nil)
	code, out, _ := simtoolRun(t, "--config", fmt.Sprintf(`{"url":%q}`, srv.URL), "--hangup", "5",
		"--stop", "1.2:done", "--fast")
	if code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, out)
	}
	if _, line := timelineLine(t, out, `^ *1\.200 host stop done$`); line == "" {
		t.Error("no stop action at 1.2 s")
	}
	hasLine(t, out, `^call 0: done \(as expected\), 1\.20 s, 60 frames sent`)
}

// Event times are media time in --fast runs too: a server's answer to the
// 75th frame (1.5 s) comes at 1.5 s (plus the frames the host runs ahead of
// the engine), however fast the call runs, and the hangup at its media time.
func TestSimToolFastMediaTime(t *testing.T) {
	srv := NewWSServer(t, func(c *WSConn) {
		// Answered from the reading loop: a --fast call runs many times
		// faster than real time, so any delay here is seconds of media.
		for n := 0; ; {
			kind, _, err := c.ReadMessage()
			if err != nil {
				return
			}
			if kind == websocket.BinaryMessage {
				if n++; n == 75 {
					c.Send(websocket.TextMessage, []byte(`{"type":"heard75"}`))
				}
			}
		}
	})
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q}`, srv.URL), Hangup: 4, Fast: true, QuietLog: true})
	r.MustSucceed(t, 1)
	c := r.Call(t, 0)
	m := c.EventsNamed("message")
	// A --fast host runs up to 8 frames ahead of the engine's rings, and
	// the engine takes up to 16 frames at a time: the answer comes within
	// 24 frames of 1.5 s of media. (In wall-clock time the whole call lasts
	// a few tens of ms.)
	if len(m) != 1 || m[0].T < 1500 || m[0].T > 1980 {
		t.Errorf("message events %v, want one at 1500 ms of media time (+480)", m)
	}
	if stop, ok := c.Stop(); !ok || stop.T != 4000 {
		t.Errorf("stop at %d ms, want 4000 (the hangup's media time)", stop.T)
	}
}

// --played-map marks exactly the frames where the engine supplied audio.
func TestSimToolPlayedMap(t *testing.T) {
	clip := make([]byte, 2*4000) // 0.5 s at 8 kHz of a constant, never zero
	for i := 0; i < len(clip); i += 2 {
		binary.LittleEndian.PutUint16(clip[i:], 1000)
	}
	srv := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		c.WaitFor(10*time.Second, func(Frame) bool { return len(c.BinaryFrames()) >= 25 })
		c.SendJSON(map[string]any{"type": "playAudio", "data": map[string]any{"id": "m",
			"audioContent": base64.StdEncoding.EncodeToString(clip), "audioContentType": "raw", "sampleRate": 8000}})
		<-done
	})
	dir := t.TempDir()
	mapPath, played := filepath.Join(dir, "map.txt"), filepath.Join(dir, "played.wav")
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"bidirectionalAudio":{"enabled":true}}`, srv.URL),
		Hangup: 3, QuietLog: true, Played: played, Extra: []string{"--played-map", mapPath}})
	r.MustSucceed(t, 1)
	c := r.Call(t, 0)
	if c.SamplesPlayed != 4000 {
		t.Errorf("samplesPlayed %d, want the clip's 4000 samples", c.SamplesPlayed)
	}
	raw, err := os.ReadFile(mapPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 150 {
		t.Fatalf("--played-map has %d lines, want 150 (3 s)", len(lines))
	}
	audio := lifecycleReadWAV(t, played).Samples
	var marked []int
	for i, l := range lines {
		var at float64
		var on int
		if _, err := fmt.Sscanf(l, "%f %d", &at, &on); err != nil || math.Abs(at-float64(i)*0.02) > 1e-9 {
			t.Fatalf("line %d: %q, want \"%.3f 0|1\"", i, l, float64(i)*0.02)
		}
		nonzero := false
		for _, v := range audio[i*160 : (i+1)*160] {
			nonzero = nonzero || v != 0
		}
		if (on == 1) != nonzero {
			t.Errorf("frame %d: map says %d, the played audio is %s", i, on, map[bool]string{true: "the clip", false: "silence"}[nonzero])
		}
		if on == 1 {
			marked = append(marked, i)
		}
	}
	if len(marked) != 25 || marked[24]-marked[0] != 24 {
		t.Errorf("frames marked played: %v, want 25 in a row (the 0.5 s clip)", marked)
	}
	if int64(len(marked)) != c.FramesPlayed {
		t.Errorf("framesPlayed %d, the map marks %d", c.FramesPlayed, len(marked))
	}
}

// --kill-server-at cuts the socket under the engine: with reconnect on, the
// listen redials and resumes, and the call ends by its hangup.
func TestSimToolKillServer(t *testing.T) {
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"reconnect":{"attempts":3,"backoffMs":100}}`, srv.URL),
		Hangup: 3, QuietLog: true, Expect: "hangup", Extra: []string{"--kill-server-at", "1"}})
	r.MustSucceed(t, 1)
	c := r.Call(t, 0)
	host := c.EventsNamed("host")
	if len(host) != 1 || host[0].String("detail") != "1 connection(s) cut" || host[0].T != 1000 {
		t.Errorf("host events %v, want one connection cut at 1000 ms", host)
	}
	if len(c.EventsNamed("reconnecting")) != 1 || len(c.EventsNamed("connect")) != 2 {
		t.Errorf("events %v, want one reconnecting and two connects", c.Events)
	}
	if conns := srv.WaitDone(t, 2, 10*time.Second); len(conns) != 2 {
		t.Errorf("the server saw %d connections, want 2", len(conns))
	}
}

// The engine's "wire" events (LISTEN_FLAG_WIRE_EVENTS, switchsim --wire
// --json) are the frames exactly as they went: every text frame in order and
// in full both ways, every binary frame's size.
func TestSimToolWireEvents(t *testing.T) {
	srv := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		c.WaitFor(10*time.Second, func(Frame) bool { return len(c.BinaryFrames()) >= 10 })
		c.Send(websocket.TextMessage, []byte(`{"type":"one"}`))
		c.Send(websocket.BinaryMessage, make([]byte, 7))
		c.Send(websocket.TextMessage, []byte(`{"type":"two","secret":"s3cr3t-pw"}`))
		<-done
	})
	r := RunSim(t, Sim{Config: fmt.Sprintf(`{"url":%q,"passDtmf":true,"wsAuth":{"username":"u","password":"s3cr3t-pw"}}`, srv.URL),
		Hangup: 1, QuietLog: true, DTMF: "5@0.5", Extra: []string{"--wire", "--send-text", `0.7:{"type":"x"}`}})
	r.MustSucceed(t, 1)
	conn := srv.WaitDone(t, 1, 10*time.Second)[0]
	var outText, inText []string
	var outBytes []int
	for _, e := range r.Call(t, 0).EventsNamed("wire") {
		var text string
		var n int
		switch {
		case e.String("dir") == "out" && e.Field("text", &text):
			outText = append(outText, text)
		case e.String("dir") == "out" && e.Field("bytes", &n):
			outBytes = append(outBytes, n)
		case e.String("dir") == "in" && e.Field("text", &text):
			inText = append(inText, text)
		case e.String("dir") == "in" && e.Field("bytes", &n):
			if n != 7 {
				t.Errorf("a binary frame of %d bytes in, the server sent 7", n)
			}
		default:
			t.Errorf("a wire event that is neither text nor binary: %s", e.JSON)
		}
	}
	if got, want := outText, conn.TextFrames(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("wire text out:\n%q\nthe server got:\n%q", got, want)
	}
	var sizes []int
	for _, b := range conn.BinaryFrames() {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(outBytes) != fmt.Sprint(sizes) {
		t.Errorf("wire binary out %v, the server got %v", outBytes, sizes)
	}
	if want := []string{`{"type":"one"}`, `{"type":"two","secret":"…"}`}; fmt.Sprint(inText) != fmt.Sprint(want) {
		t.Errorf("wire text in %q, want %q (the password hidden)", inText, want)
	}
	// Out: the first frame, the refusal of the binary frame, the digit, the sent text.
	if len(outText) != 4 || !strings.Contains(outText[1], "binary audio refused") ||
		!strings.Contains(outText[2], `"dtmf":"5"`) || outText[3] != `{"type":"x"}` {
		t.Errorf("text out %q, want the first frame, the refusal, the digit, the sent text", outText)
	}
}

// Without --wire there are no wire events, and the figures come only with
// --stats or several calls.
func TestSimToolOutputModes(t *testing.T) {
	srv := NewWSServer(t, nil)
	cfg := fmt.Sprintf(`{"url":%q}`, srv.URL)
	code, out, _ := simtoolRun(t, "--config", cfg, "--hangup", "0.5", "--fast", "--json")
	if code != 0 || strings.Contains(out, `"summary"`) || strings.Contains(out, `"wire"`) ||
		strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, `{"call":0,"reason":"hangup"`) {
		t.Errorf("--json, one call: exit %d, want one call line and nothing else:\n%s", code, out)
	}
	code, out, _ = simtoolRun(t, "--config", cfg, "--hangup", "0.5", "--fast", "--json", "--stats")
	if code != 0 || !strings.Contains(out, "\n{\"summary\":{\"calls\":1,") {
		t.Errorf("--json --stats: exit %d, want the summary line:\n%s", code, out)
	}
	code, out, _ = simtoolRun(t, "--config", cfg, "--hangup", "0.5", "--fast")
	if code != 0 || strings.Contains(out, "stats:") {
		t.Errorf("one call: exit %d, want no figures:\n%s", code, out)
	}
	code, out, _ = simtoolRun(t, "--config", cfg, "--hangup", "0.5", "--fast", "--calls", "2")
	if code != 0 || !regexp.MustCompile(`(?m)^stats: 2 calls; hook calls \d+: p50 `).MatchString(out) ||
		!strings.Contains(out, "call 1: hangup (as expected)") {
		t.Errorf("two calls: exit %d, want both summaries and the figures:\n%s", code, out)
	}
	code, out, _ = simtoolRun(t, "--help")
	for _, opt := range []string{"--json", "--stats", "--wire", "--pause", "--resume", "--send-text", "--stop",
		"--kill-server-at", "--caller-tone", "--caller-silence", "--played-map", "--expect", "Examples"} {
		if !strings.Contains(out, opt) {
			t.Errorf("--help does not mention %s", opt)
		}
	}
}
