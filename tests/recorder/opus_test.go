package recorder

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/oggopus"
	"github.com/modlisten/mod_listen/go/recorder"
)

// TestOpusRecording: a 16 kHz mono Opus call with a 1 kHz tone is recorded
// decoded into a 16 kHz WAV: the tone at its frequency and level (within
// 1 dB), as long as the call's media time within 20 ms, no packet invalid.
func TestOpusRecording(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t)
	caller := writeWAV(t, "caller.wav", rate, tone(rate, 1000, 3))
	cfg := mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate, "encoding": "opus"})
	c := runSim(t, "--config", cfg, "--rate", "16000", "--caller", caller, "--call", `{"callSid":"opus-1"}`)
	if c.reason() != "hangup" || c.DurationMs == nil {
		t.Fatalf("call ended with %s, want hangup", c.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	if a.Rate != rate || a.Channels != 1 || side.Encoding != "opus" || side.InvalidPackets != 0 {
		t.Fatalf("recorded %d Hz %d channels, encoding %q, %d invalid packets; want 16000 Hz mono opus, none invalid",
			a.Rate, a.Channels, side.Encoding, side.InvalidPackets)
	}
	checkTone(t, a.Samples, rate, 1000, float64(*c.DurationMs))
}

// checkTone checks a recording of a call whose caller played a sine of
// amplitude 8000 at freq for 3 s: it lasts the call's media time within
// 20 ms, and its middle holds the tone at its level within 1 dB, with
// nothing comparable at another frequency.
func checkTone(t *testing.T, x []int16, rate int, freq, callMs float64) {
	t.Helper()
	gotMs := float64(len(x)) * 1000 / float64(rate)
	if d := gotMs - callMs; d < -20 || d > 20 {
		t.Errorf("recording lasts %.1f ms, the call's media time is %.0f ms", gotMs, callMs)
	}
	if len(x) < 2*rate {
		t.Fatalf("recording of %d samples is too short to measure", len(x))
	}
	mid := x[rate/4 : 2*rate] // inside the 3 s tone, past the codec's start
	// A sine of amplitude 8000 has a Goertzel power per sample of 8000²/4.
	db := 10 * math.Log10(power(mid, rate, freq)/(8000*8000/4))
	other := 10 * math.Log10(power(mid, rate, freq*1.37)/(8000*8000/4))
	t.Logf("tone at %+.2f dB, at %.0f Hz %+.1f dB", db, freq*1.37, other)
	if db < -1 || db > 1 {
		t.Errorf("the %.0f Hz tone recorded at %+.2f dB, want 0 ± 1 dB", freq, db)
	}
	if other > -30 {
		t.Errorf("%.0f Hz is at %+.1f dB, want the tone alone", freq*1.37, other)
	}
}

// opusdec decodes an Ogg/Opus file with opus-tools' opusdec (an independent
// decoder) at rate: the samples, channels interleaved.
func opusdec(t *testing.T, path string, rate int) []int16 {
	t.Helper()
	bin, err := exec.LookPath("opusdec")
	if err != nil {
		t.Fatalf("opusdec is missing (scripts/setup installs opus-tools): %v", err)
	}
	out := filepath.Join(t.TempDir(), "decoded.raw")
	if b, err := exec.Command(bin, "--quiet", "--no-dither", "--rate", fmt.Sprint(rate), path, out).CombinedOutput(); err != nil {
		t.Fatalf("opusdec %s: %v\n%s", path, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

// oggFile checks that a finished recording is an Ogg/Opus file that
// go/oggopus parses, and returns its path and parsed header.
func oggFile(t *testing.T, dir string, side *recorder.Sidecar) (string, *oggopus.File) {
	t.Helper()
	p, err := recorder.AudioPath(dir, side)
	if err != nil || !strings.HasSuffix(p, ".opus") {
		t.Fatalf("recording %s is %q (%v), want an .opus file", side.ID, p, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := oggopus.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if int64(len(b)) != side.Bytes {
		t.Errorf("%s is %d bytes, its sidecar says %d", p, len(b), side.Bytes)
	}
	return p, f
}

// TestOggRecording: with -format ogg, a 16 kHz mono Opus call (a 1 kHz
// tone; its packets kept as received) and a 16 kHz stereo L16 call (440 Hz
// left, 1250 Hz right; encoded by the recorder) are recorded as Ogg/Opus
// files that go/oggopus parses and opusdec decodes to the tones, at their
// level within 1 dB, each on its channel, as long as the call's media time
// within 20 ms. The page serves them as audio/ogg.
func TestOggRecording(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t, "-format", "ogg")
	tone1k := writeWAV(t, "1k.wav", rate, tone(rate, 1000, 3))
	left := writeWAV(t, "left.wav", rate, tone(rate, 440, 3))
	right := writeWAV(t, "right.wav", rate, tone(rate, 1250, 3))

	c := runSim(t, "--config", mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate, "encoding": "opus"}),
		"--rate", "16000", "--caller", tone1k, "--call", `{"callSid":"ogg-opus"}`)
	if c.reason() != "hangup" || c.DurationMs == nil {
		t.Fatalf("opus call ended with %s, want hangup", c.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	p, f := oggFile(t, srv.Dir, side)
	if f.Channels != 1 || f.InputRate != rate || side.Encoding != "opus" || side.InvalidPackets != 0 {
		t.Errorf("opus call: OpusHead %d channels, input %d Hz; sidecar encoding %q, %d invalid packets",
			f.Channels, f.InputRate, side.Encoding, side.InvalidPackets)
	}
	checkTone(t, opusdec(t, p, rate), rate, 1000, float64(*c.DurationMs))

	c = runSim(t, "--config", mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate, "mixType": "stereo"}),
		"--rate", "16000", "--caller", left, "--callee", right, "--call", `{"callSid":"ogg-l16"}`)
	if c.reason() != "hangup" || c.DurationMs == nil {
		t.Fatalf("stereo call ended with %s, want hangup", c.reason())
	}
	var stereo *recorder.Sidecar
	for _, s := range srv.waitRecordings(t, 2) {
		if s.CallSid == "ogg-l16" {
			stereo = s
		}
	}
	p, f = oggFile(t, srv.Dir, stereo)
	if f.Channels != 2 || stereo.Channels != 2 || stereo.Encoding != "l16" {
		t.Fatalf("stereo call: OpusHead %d channels, sidecar %d, encoding %q", f.Channels, stereo.Channels, stereo.Encoding)
	}
	x := opusdec(t, p, rate)
	l, r := make([]int16, len(x)/2), make([]int16, len(x)/2)
	for i := range l {
		l[i], r[i] = x[2*i], x[2*i+1]
	}
	checkTone(t, l, rate, 440, float64(*c.DurationMs))
	checkTone(t, r, rate, 1250, float64(*c.DurationMs))
	if lr := 10 * math.Log10(power(l[rate/4:2*rate], rate, 1250)/(8000*8000/4)); lr > -30 {
		t.Errorf("the right tone is at %+.1f dB on the left", lr)
	}

	// The page plays it: its audio element's source is the file, as audio/ogg.
	resp, body := get(t, srv.HTTP+"/recordings/"+stereo.ID)
	src := regexp.MustCompile(`<audio[^>]*\bsrc="([^"]+)"`).FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || src == nil || src[1] != "/recordings/"+stereo.ID+".opus" {
		t.Fatalf("recording page (HTTP %d) has audio source %q, want /recordings/%s.opus", resp.StatusCode, src, stereo.ID)
	}
	resp, body = get(t, srv.HTTP+src[1])
	if ct := resp.Header.Get("Content-Type"); ct != "audio/ogg" || int64(len(body)) != stereo.Bytes {
		t.Errorf("the audio source is %s, %d bytes; want audio/ogg, the file's %d", ct, len(body), stereo.Bytes)
	}
	resp, body = get(t, srv.HTTP+"/recordings/"+stereo.ID+"/wave-0.png")
	if _, err := png.Decode(bytes.NewReader(body)); resp.StatusCode != 200 || err != nil {
		t.Errorf("the waveform: HTTP %d, %v", resp.StatusCode, err)
	}
}

// TestOggCrashRepair: a recorder writing Ogg/Opus killed with SIGKILL
// mid-call leaves whole pages up to its last flush, which opusdec plays as
// they are; `listen-recorder repair` marks the last page the stream's end,
// and the file parses and decodes to the tone received up to the kill.
func TestOggCrashRepair(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t, "-format", "ogg", "-sync", "100ms")
	cfg := mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate, "encoding": "opus"})
	caller := writeWAV(t, "caller.wav", rate, tone(rate, 1000, 5))
	done := make(chan error, 1)
	go func() {
		_, err := sim(t, "--config", cfg, "--rate", "16000", "--caller", caller, "--call", `{"callSid":"ogg-crash"}`)
		done <- err
	}()
	var part string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m, _ := filepathGlob(srv.Dir, "*.opus.part")
		if len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() >= 8000 { // over a second at 32 kbit/s
				part = m[0]
				break
			}
		}
	}
	if part == "" {
		t.Fatalf("no Ogg/Opus recording in progress reached a second")
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.waited
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(part)
	asLeft := opusdec(t, part, rate)
	t.Logf("killed: %d bytes on disk, opusdec plays %d ms of them", st.Size(), len(asLeft)*1000/rate)
	if len(asLeft) < rate {
		t.Errorf("the file left by the kill plays %d samples, want over a second", len(asLeft))
	}

	out, err := exec.Command(filepath.Join(buildDir(t), "listen-recorder"), "repair", "-dir", srv.Dir).CombinedOutput()
	t.Logf("repair: %s", out)
	if err != nil || !strings.Contains(string(out), "1 recordings repaired") {
		t.Fatalf("repair: %v", err)
	}
	side := srv.waitRecordings(t, 1)[0]
	p, f := oggFile(t, srv.Dir, side)
	x := opusdec(t, p, rate)
	if side.Ended != "repaired" || side.CallSid != "ogg-crash" || len(x) < len(asLeft)-rate/50 ||
		int64(f.Samples/48) != side.DurationMs {
		t.Errorf("repaired: ended %q, callSid %q, %d samples decoded (%d before repair), %d ms parsed, sidecar %d ms",
			side.Ended, side.CallSid, len(x), len(asLeft), f.Samples/48, side.DurationMs)
	}
	if db := 10 * math.Log10(power(x[rate/4:len(x)-rate/10], rate, 1000)/(8000*8000/4)); db < -1 || db > 1 {
		t.Errorf("repaired: the tone at %+.2f dB, want 0 ± 1 dB", db)
	}
}

// TestOpusReconnect: an Opus call whose connection is cut 2 s in, with
// reconnect on and a backoff longer than the capture buffer (so audio is
// lost), is one recording on the call's media time: lostMs of silence
// where the listen said, the 100 ms sent again dropped, lasting the media
// time within 20 ms, the tone at its level around the gap.
func TestOpusReconnect(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t)
	proxy := newDropProxy(t, strings.TrimSuffix(strings.TrimPrefix(srv.URL, "ws://"), "/"), 2*time.Second)
	cfg := mustJSON(map[string]any{"url": "ws://" + proxy.ln.Addr().String() + "/", "sampleRate": rate, "encoding": "opus",
		"reconnect": map[string]any{"attempts": 3, "backoffMs": 1500}})
	c := runSim(t, "--config", cfg, "--rate", "16000", "--caller", writeWAV(t, "caller.wav", rate, tone(rate, 1000, 6)),
		"--call", `{"callSid":"opus-reconnect"}`)
	if c.reason() != "hangup" || c.DurationMs == nil || c.FramesDropped == nil {
		t.Fatalf("call ended with %s, want hangup", c.reason())
	}
	var said struct {
		Resumed bool  `json:"resumed"`
		LostMs  int64 `json:"lostMs"`
	}
	if err := json.Unmarshal(proxy.firstFrame(t, 1), &said); err != nil || !said.Resumed || said.LostMs == 0 {
		t.Fatalf("the second connection's first frame is not a resumption with audio lost: %+v %v", said, err)
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	t.Logf("sidecar: connections %d, lostMs %d, resumptions %+v, gaps %+v", side.Connections, side.LostMs, side.Resumptions, side.Gaps)
	if side.Connections != 2 || side.LostMs != said.LostMs || len(side.Gaps) != 1 || side.Gaps[0].Ms != said.LostMs ||
		side.Gaps[0].Cause != "lost" || side.Resumptions[0].DuplicateMs == 0 || side.InvalidPackets != 0 {
		t.Fatalf("sidecar: connections %d, lostMs %d (the listen said %d), gaps %+v, resumptions %+v, %d invalid",
			side.Connections, side.LostMs, said.LostMs, side.Gaps, side.Resumptions, side.InvalidPackets)
	}
	unsaid := *c.FramesDropped*20 - said.LostMs
	gotMs := float64(len(a.Samples)) * 1000 / rate
	if d := gotMs - float64(*c.DurationMs-unsaid); d < -20 || d > 20 {
		t.Errorf("recording lasts %.1f ms, the call's media time is %d ms (%d ms of it dropped unsaid)", gotMs, *c.DurationMs, unsaid)
	}
	at, end := int(side.Gaps[0].AtMs)*rate/1000, int(side.Gaps[0].AtMs+side.Gaps[0].Ms)*rate/1000
	for i, v := range a.Samples[at:end] {
		if v != 0 {
			t.Fatalf("sample %d of the lost gap is %d, want silence", at+i, v)
		}
	}
	if unsaid != 0 {
		// The sine's phase jumps where audio was dropped: its level over
		// a span says nothing then.
		t.Logf("the listen dropped %d ms beyond lostMs (load average %s): levels not checked", unsaid, loadAverage())
		return
	}
	for _, span := range [][2]int{{rate / 4, at - rate/50}, {end + rate/10, len(a.Samples) - rate/10}} {
		if db := 10 * math.Log10(power(a.Samples[span[0]:span[1]], rate, 1000)/(8000*8000/4)); db < -1 || db > 1 {
			t.Errorf("samples %d to %d: the tone at %+.2f dB, want 0 ± 1 dB", span[0], span[1], db)
		}
	}
}
