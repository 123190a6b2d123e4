package recorder

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/modlisten/mod_listen/go/recorder"
)

// TestStereoRecording: a 16 kHz stereo call is one stereo WAV, the caller's
// tone on the left and the callee's on the right, as long as the call's
// media time within 20 ms, with the metadata in the sidecar.
func TestStereoRecording(t *testing.T) {
	t.Parallel()
	const rate = 16000
	srv := startRecorder(t)
	caller := writeWAV(t, "caller.wav", rate, tone(rate, 440, 3))
	callee := writeWAV(t, "callee.wav", rate, tone(rate, 1250, 3))
	cfg := mustJSON(map[string]any{"url": srv.URL, "mixType": "stereo", "sampleRate": rate,
		"metadata": map[string]any{"team": "sales", "ticket": "T-42"}})
	c := runSim(t, "--config", cfg, "--rate", fmt.Sprint(rate), "--caller", caller, "--callee", callee,
		"--call", `{"callSid":"stereo-1","from":"+15550100","to":"+15550199"}`)
	if c.reason() != "hangup" || c.DurationMs == nil {
		t.Fatalf("call ended with %s, want hangup", c.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	if a.Rate != rate || a.Channels != 2 || side.Channels != 2 || side.MixType != "stereo" {
		t.Fatalf("recorded %d Hz %d channels (sidecar %s, %d), want 16000 Hz stereo", a.Rate, a.Channels, side.MixType, side.Channels)
	}
	frames := len(a.Samples) / 2
	gotMs := float64(frames) * 1000 / rate
	if d := gotMs - float64(*c.DurationMs); d < -20 || d > 20 {
		t.Errorf("recording lasts %.1f ms, the call's media time is %d ms", gotMs, *c.DurationMs)
	}
	if side.DurationMs != int64(frames*1000/rate) {
		t.Errorf("sidecar durationMs %d, the WAV lasts %d ms", side.DurationMs, frames*1000/rate)
	}
	left, right := make([]int16, frames), make([]int16, frames)
	for i := range frames {
		left[i], right[i] = a.Samples[2*i], a.Samples[2*i+1]
	}
	for _, ch := range []struct {
		name        string
		x           []int16
		want, other float64
	}{{"left", left, 440, 1250}, {"right", right, 1250, 440}} {
		pw, po := power(ch.x, rate, ch.want), power(ch.x, rate, ch.other)
		t.Logf("%s: power at %.0f Hz %.3g, at %.0f Hz %.3g", ch.name, ch.want, pw, ch.other, po)
		if pw < 1e5 || pw < 1000*po {
			t.Errorf("%s channel: the %.0f Hz tone is not there alone (power %.3g at it, %.3g at %.0f Hz)",
				ch.name, ch.want, pw, po, ch.other)
		}
	}
	var first map[string]any
	json.Unmarshal(side.First, &first)
	if first["team"] != "sales" || first["ticket"] != "T-42" || side.CallSid != "stereo-1" ||
		side.From != "+15550100" || side.To != "+15550199" || first["sampleRate"] != float64(rate) {
		t.Errorf("sidecar first frame %s, callSid %q from %q to %q", side.First, side.CallSid, side.From, side.To)
	}
	if side.Ended != "closed" || side.CloseCode != 1000 || side.Connections != 1 || len(side.Gaps) != 0 {
		t.Errorf("sidecar: ended %q code %d connections %d gaps %v", side.Ended, side.CloseCode, side.Connections, side.Gaps)
	}
}

// dropProxy forwards TCP connections to target; the first one is cut
// (both sockets closed, no close frame) after cutAfter. It keeps the start
// of what each connection's client sent, to read its first frame.
type dropProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	starts []*capped
}

// capped keeps the first 64 KiB written to it.
type capped struct {
	mu  sync.Mutex
	buf []byte
}

func (c *capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := 64<<10 - len(c.buf); room > 0 {
		c.buf = append(c.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func newDropProxy(t *testing.T, target string, cutAfter time.Duration) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			start := &capped{}
			p.mu.Lock()
			p.starts = append(p.starts, start)
			first := len(p.starts) == 1
			p.mu.Unlock()
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(io.MultiWriter(up, start), c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
			if first {
				time.AfterFunc(cutAfter, func() { c.Close(); up.Close() })
			}
		}
	}()
	return p
}

// firstFrame is the payload of the first WebSocket frame connection i's
// client sent, after its upgrade request (RFC 6455 5.2: client frames are
// masked).
func (p *dropProxy) firstFrame(t *testing.T, i int) []byte {
	t.Helper()
	p.mu.Lock()
	start := p.starts[i]
	p.mu.Unlock()
	start.mu.Lock()
	b := append([]byte(nil), start.buf...)
	start.mu.Unlock()
	h := bytes.Index(b, []byte("\r\n\r\n"))
	if h < 0 || len(b) < h+4+6 {
		t.Fatalf("connection %d: no upgrade request and frame in %q", i, b)
	}
	b = b[h+4:]
	n, off := int(b[1]&0x7f), 2
	switch n {
	case 126:
		n, off = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		n, off = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if b[1]&0x80 == 0 || len(b) < off+4+n {
		t.Fatalf("connection %d: first frame is not a whole masked frame", i)
	}
	mask, payload := b[off:off+4], append([]byte(nil), b[off+4:off+4+n]...)
	for j := range payload {
		payload[j] ^= mask[j%4]
	}
	return payload
}

// TestReconnectStitched: the connection is cut 2 s into a 6 s call with
// reconnect on and a 1.5 s backoff, longer than the 1 s capture buffer, so
// the listen loses audio and says how much (lostMs in its resumption
// frame, read off the wire). The recording is one file on the call's media
// time: nothing repeated, exactly lostMs of silence where the audio was
// lost, every other sample at its moment (audio the listen dropped outside
// the outage, which it counts in framesDropped, is all that may be
// missing), lasting the call's media time within 20 ms; the sidecar repeats
// lostMs.
func TestReconnectStitched(t *testing.T) {
	t.Parallel()
	const rate = 8000
	srv := startRecorder(t)
	proxy := newDropProxy(t, strings.TrimSuffix(strings.TrimPrefix(srv.URL, "ws://"), "/"), 2*time.Second)
	cfg := mustJSON(map[string]any{"url": "ws://" + proxy.ln.Addr().String() + "/", "sampleRate": rate,
		"reconnect": map[string]any{"attempts": 3, "backoffMs": 1500}})
	c := runSim(t, "--config", cfg, "--caller", counterWAV(t, rate, 6*rate), "--call", `{"callSid":"reconnect-1"}`)
	if c.reason() != "hangup" || c.DurationMs == nil || c.FramesDropped == nil {
		t.Fatalf("call ended with %s, want hangup", c.reason())
	}
	if n := len(c.events("reconnecting")); n != 1 {
		t.Fatalf("%d reconnecting events, want 1", n)
	}
	var said struct {
		Resumed bool  `json:"resumed"`
		LostMs  int64 `json:"lostMs"`
	}
	resumption := proxy.firstFrame(t, 1)
	if err := json.Unmarshal(resumption, &said); err != nil || !said.Resumed {
		t.Fatalf("the second connection's first frame %q is not a resumption (%v)", resumption, err)
	}
	t.Logf("resumption frame %s; framesDropped %d", resumption, *c.FramesDropped)
	if said.LostMs == 0 {
		t.Fatalf("the listen lost no audio: the outage did not outlast the capture buffer")
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	t.Logf("sidecar: connections %d, lostMs %d, resumptions %+v, gaps %+v", side.Connections, side.LostMs, side.Resumptions, side.Gaps)
	if side.Connections != 2 || len(side.Resumptions) != 1 {
		t.Fatalf("%d connections, %d resumptions; want 2, 1", side.Connections, len(side.Resumptions))
	}
	if side.LostMs != said.LostMs || side.Resumptions[0].LostMs != said.LostMs {
		t.Errorf("sidecar lostMs %d (resumption %d), the listen said %d", side.LostMs, side.Resumptions[0].LostMs, said.LostMs)
	}
	if len(side.Gaps) != 1 || side.Gaps[0].Ms != said.LostMs || side.Gaps[0].Cause != "lost" {
		t.Fatalf("gaps %+v, want one of %d ms (lost)", side.Gaps, said.LostMs)
	}
	// Audio the listen dropped beyond lostMs (on a starved machine, while
	// its full capture ring drains after the resumption) never reaches any
	// server: only that may be missing from the media time.
	unsaid := *c.FramesDropped*20 - said.LostMs
	if unsaid != 0 {
		t.Logf("the listen dropped %d ms beyond the lostMs it sent (load average %s)", unsaid, loadAverage())
	}
	gotMs := float64(len(a.Samples)) * 1000 / rate
	if d := gotMs - float64(*c.DurationMs-unsaid); d < -20 || d > 20 {
		t.Errorf("recording lasts %.1f ms, the call's media time is %d ms (%d ms of it dropped unsaid)", gotMs, *c.DurationMs, unsaid)
	}
	// Walk the recording: the gap is silence; every other sample is the
	// caller's sample of that moment, each following the one before, the
	// gap standing for lostMs of media.
	lo := int(side.Gaps[0].AtMs) * rate / 1000
	hi := lo + int(said.LostMs)*rate/1000
	total := 6 * rate
	prev, skipped := -1, 0
	for i, v := range a.Samples {
		if i >= lo && i < hi {
			if v != 0 {
				t.Fatalf("sample %d (%.3f s) in the lost gap is %d, want silence", i, float64(i)/rate, v)
			}
			prev++
			continue
		}
		if prev == total-1 {
			if v != 0 {
				t.Fatalf("sample %d after the caller's audio is %d, want silence", i, v)
			}
			continue
		}
		idx := counterIndex(v)
		if idx <= prev {
			t.Fatalf("sample %d (%.3f s) is the caller's sample %d, after %d: audio repeated", i, float64(i)/rate, idx, prev)
		}
		skipped += idx - prev - 1
		prev = idx
	}
	if prev != total-1 {
		t.Errorf("the recording ends at the caller's sample %d, want %d", prev, total-1)
	}
	// Audio dropped outside the outage is what framesDropped counts beyond lostMs.
	if want := int(unsaid) * rate / 1000; skipped != want {
		t.Errorf("%d samples missing outside the lost gap; the listen dropped %d ms more than lostMs (%d samples)",
			skipped, unsaid, want)
	}
	if side.Resumptions[0].DuplicateMs == 0 {
		t.Errorf("no audio sent again was dropped: the resumption repeats the last 100 ms")
	}
}

// TestCrashRepair: a recorder killed with SIGKILL mid-call leaves an
// unfinished file; `listen-recorder repair` makes it a valid WAV with every
// sample the recorder had received, in order.
func TestCrashRepair(t *testing.T) {
	t.Parallel()
	const rate = 8000
	srv := startRecorder(t, "-sync", "100ms")
	cfg := mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate})
	caller := counterWAV(t, rate, 5*rate)
	type simResult struct {
		c   call
		err error
	}
	done := make(chan simResult, 1)
	go func() {
		c, err := sim(t, "--config", cfg, "--caller", caller, "--call", `{"callSid":"crash-1"}`)
		done <- simResult{c, err}
	}()
	// Kill once a second of audio is on disk.
	var part string
	var had int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m, _ := filepath.Glob(filepath.Join(srv.Dir, "*", "*", "*", "*.wav.part"))
		if len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() >= 44+rate*2 {
				part, had = m[0], st.Size()-44
				break
			}
		}
	}
	if part == "" {
		t.Fatalf("no recording in progress reached 1 s")
	}
	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.waited
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	t.Logf("killed with %d bytes on disk; the call ended with %s", had, res.c.reason())

	out, err := exec.Command(filepath.Join(buildDir(t), "listen-recorder"), "repair", "-dir", srv.Dir).CombinedOutput()
	t.Logf("repair: %s", out)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if !strings.Contains(string(out), "1 recordings repaired") {
		t.Errorf("repair's output does not report one recording")
	}
	got, _ := filepathGlob(srv.Dir, "*.wav.part")
	if len(got) != 0 {
		t.Errorf("unfinished files left: %v", got)
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	if a.Rate != rate || a.Channels != 1 {
		t.Errorf("repaired WAV is %d Hz %d ch", a.Rate, a.Channels)
	}
	if int64(len(a.Samples))*2 < had || len(a.Samples) > 5*rate {
		t.Errorf("repaired WAV holds %d samples; %d bytes were on disk at the kill, the call had %d", len(a.Samples), had, 5*rate)
	}
	for i, v := range a.Samples {
		if v != counter(i) {
			t.Fatalf("repaired sample %d is %d, want %d", i, v, counter(i))
		}
	}
	if side.Ended != "repaired" || side.CallSid != "crash-1" || side.Bytes != int64(2*len(a.Samples)) {
		t.Errorf("sidecar: ended %q callSid %q bytes %d", side.Ended, side.CallSid, side.Bytes)
	}
}

func filepathGlob(dir, pattern string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "*", "*", "*", pattern))
}

// TestAuthLimitsDisk: a wrong password is refused with 401 (the listen's
// connect_failed says so); the right one records. A stream over its size
// limit is told to disconnect and closed with 1008 and the reason, and
// what it recorded is kept. Below the free-disk threshold streams get 507.
func TestAuthLimitsDisk(t *testing.T) {
	t.Parallel()
	const rate = 8000
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte("fs:"+string(hash)+"\n"), 0o600)
	srv := startRecorder(t, "-htpasswd", htpasswd, "-max-stream-bytes", "32000")
	full := startRecorder(t, "-min-free-disk", "1048576TiB")
	caller := counterWAV(t, rate, 4*rate)

	runs := [][]string{
		{"--config", mustJSON(map[string]any{"url": srv.URL,
			"wsAuth": map[string]any{"username": "fs", "password": "wrong"}}), "--hangup", "1"},
		{"--config", mustJSON(map[string]any{"url": srv.URL, "sampleRate": rate,
			"wsAuth":    map[string]any{"username": "fs", "password": "s3cret"},
			"reconnect": map[string]any{"attempts": 3, "backoffMs": 100}}), "--caller", caller},
		{"--config", mustJSON(map[string]any{"url": full.URL}), "--hangup", "1"},
	}
	calls := make([]call, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, args := range runs {
		wg.Go(func() { calls[i], errs[i] = sim(t, args...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wrong, right, disk := calls[0], calls[1], calls[2]

	for _, tc := range []struct {
		name   string
		c      call
		status string
	}{{"wrong password", wrong, "HTTP 401"}, {"disk", disk, "HTTP 507"}} {
		failed := tc.c.events("connect_failed")
		if tc.c.reason() != "connect_failed" || len(failed) != 1 || !strings.Contains(string(failed[0]), tc.status) {
			t.Errorf("%s: stop reason %s, connect_failed %s; want connect_failed with %s", tc.name, tc.c.reason(), failed, tc.status)
		}
	}
	if _, err := os.Stat(full.Dir); err == nil {
		if got, _ := filepathGlob(full.Dir, "*"); len(got) != 0 {
			t.Errorf("a refused stream left files: %v", got)
		}
	}

	// 32000 bytes is 2 s of the 4 s call: then a disconnect, which the
	// listen does not redial, and the close.
	if right.reason() != "disconnect" {
		t.Errorf("the stream over its size limit ended with %s, want disconnect", right.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	a := audio(t, srv.Dir, side)
	if side.Bytes != 32000 || side.Ended != "size_limit" || side.CloseCode != 1008 ||
		side.CloseReason != "recording size limit of 32000 bytes reached" || side.Connections != 1 {
		t.Errorf("sidecar: bytes %d ended %q close %d %q connections %d; want 32000 size_limit 1008, the reason, 1",
			side.Bytes, side.Ended, side.CloseCode, side.CloseReason, side.Connections)
	}
	for i, v := range a.Samples {
		if v != counter(i) {
			t.Fatalf("sample %d is %d, want %d", i, v, counter(i))
		}
	}
}

// TestHostileCallSid: a call whose callSid and metadata are paths is
// recorded under a name the recorder made, inside its directory; nothing
// is written anywhere else.
func TestHostileCallSid(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	srv := startRecorder(t, "-dir", filepath.Join(root, "rec"))
	escape := filepath.Join(root, "escaped")
	cfg := mustJSON(map[string]any{"url": srv.URL, "metadata": map[string]any{
		"callSid": "../../../../" + escape, "file": "../escaped.wav", "id": "/" + escape, "from": "..", "to": "/"}})
	if c := runSim(t, "--config", cfg, "--hangup", "0.5"); c.reason() != "hangup" {
		t.Fatalf("call ended with %s", c.reason())
	}
	side := srv.waitRecordings(t, 1)[0]
	if side.CallSid != "../../../../"+escape {
		t.Errorf("sidecar callSid %q, want the hostile one as a value", side.CallSid)
	}
	name := regexp.MustCompile(`^rec/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{6}-[0-9a-f]{12}\.(wav|json)$`)
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && !d.IsDir() && rel != "rec/.listen-recorder.lock" && !name.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("the recorder wrote %s", rel)
		}
		return nil
	})
}

// TestG711Recording: mulaw and alaw streams are recorded as 16-bit PCM: the
// caller's tone at its level (within 0.5 dB: G.711 keeps it) for the call's
// media time within 20 ms, and the sidecar keeps the first frame's encoding.
func TestG711Recording(t *testing.T) {
	t.Parallel()
	srv := startRecorder(t)
	caller := writeWAV(t, "caller.wav", 8000, tone(8000, 440, 2))
	for i, enc := range []string{"mulaw", "alaw"} {
		cfg := mustJSON(map[string]any{"url": srv.URL, "encoding": enc})
		c := runSim(t, "--config", cfg, "--caller", caller, "--call", fmt.Sprintf(`{"callSid":"g711-%s"}`, enc))
		if c.reason() != "hangup" || c.DurationMs == nil {
			t.Fatalf("%s: call ended with %s, want hangup", enc, c.reason())
		}
		var side *recorder.Sidecar
		for _, sc := range srv.waitRecordings(t, i+1) {
			if sc.CallSid == "g711-"+enc {
				side = sc
			}
		}
		if side == nil {
			t.Fatalf("%s: no recording of call g711-%s", enc, enc)
		}
		a := audio(t, srv.Dir, side)
		if a.Rate != 8000 || a.Channels != 1 {
			t.Fatalf("%s: recorded %d Hz %d channels, want 8000 Hz mono", enc, a.Rate, a.Channels)
		}
		if ms := len(a.Samples) / 8; ms-int(*c.DurationMs) < -20 || ms-int(*c.DurationMs) > 20 {
			t.Errorf("%s: recording lasts %d ms, the call's media time is %d ms", enc, ms, *c.DurationMs)
		}
		// A sine of amplitude 8000 has a Goertzel power per sample of 8000²/4.
		if db := 10 * math.Log10(power(a.Samples[800:len(a.Samples)-800], 8000, 440)/(8000*8000/4)); db < -0.5 || db > 0.5 {
			t.Errorf("%s: the 440 Hz tone recorded at %+.2f dB, want 0 ± 0.5 dB", enc, db)
		}
		var first map[string]any
		json.Unmarshal(side.First, &first)
		if first["encoding"] != enc {
			t.Errorf("%s: the sidecar's first frame %s", enc, side.First)
		}
	}
}
