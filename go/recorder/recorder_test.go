package recorder

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/wav"
)

const rate = 8000

// counter is audio that numbers its samples (sample i is 3·i+1 mod 2^16,
// never 0 within the test's lengths), so the recording shows where every
// sample came from and a zero is silence the recorder wrote.
func counter(i int) int16 { return int16(uint16(3*i + 1)) }

// frame is 20 ms of mono counter audio starting at media sample from.
func frame(from int) []byte {
	b := make([]byte, rate/50*2)
	for i := range rate / 50 {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(counter(from+i)))
	}
	return b
}

func newRecorder(t *testing.T, o Options) (*Recorder, string, string) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "rec")
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = -1
	}
	o.Log = log.New(io.Discard, "", 0)
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() { srv.Close(); r.Shutdown() })
	return r, o.Dir, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, kind int, data []byte) {
	t.Helper()
	if err := c.WriteMessage(kind, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func closeNormal(c *websocket.Conn) {
	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break
		}
	}
	c.Close()
}

// waitRecordings waits for n finished recordings in dir.
func waitRecordings(t *testing.T, dir string, n int) []*Sidecar {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := List(dir, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) >= n || time.Now().After(deadline) {
			if len(s) != n {
				t.Fatalf("%d finished recordings, want %d", len(s), n)
			}
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readWAV(t *testing.T, dir string, s *Sidecar) wav.Audio {
	t.Helper()
	p, err := AudioPath(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(b) - 44; int64(got) != s.Bytes {
		t.Errorf("WAV holds %d bytes of audio, sidecar says %d", got, s.Bytes)
	}
	return a
}

// TestResumption: a stream drops after 2 s and resumes the way the listen
// does (the last 100 ms again, then what it kept). The recording is one
// file on the call's media time: the repeated audio is dropped, the
// declared lostMs is silence of exactly that length right after the audio
// sent before the drop, and audio that never arrived is silence too.
func TestResumption(t *testing.T) {
	cases := []struct {
		name      string
		startMs   int64 // of the resumption
		lostMs    int64
		wantGaps  []Gap
		wantDupMs int64
	}{
		// The first connection got 100 frames; the resumption repeats 95-99.
		{name: "lost", startMs: 1900, lostMs: 300, wantDupMs: 100,
			wantGaps: []Gap{{AtMs: 2000, Ms: 300, Cause: "lost"}}},
		{name: "nothing-lost", startMs: 1900, wantDupMs: 100},
		// 100 ms sent before the drop never arrived: the resumption starts
		// past what the recorder has.
		{name: "missing", startMs: 2100, lostMs: 60, wantDupMs: 0,
			wantGaps: []Gap{{AtMs: 2000, Ms: 100, Cause: "missing"}, {AtMs: 2200, Ms: 60, Cause: "lost"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, dir, url := newRecorder(t, Options{})
			sid := "call-" + tc.name
			c1 := dial(t, url)
			send(t, c1, websocket.TextMessage, []byte(`{"sampleRate":8000,"mixType":"mono","callSid":"`+sid+`","from":"+1555"}`))
			const perFrame = rate / 50
			for f := range 100 {
				send(t, c1, websocket.BinaryMessage, frame(f*perFrame))
			}
			// The listen redials only after its first connection streamed
			// and dropped: wait for the recording to exist. Its reader may
			// still be behind; the resumption waits for it.
			waitParts(t, dir, 1)
			c1.UnderlyingConn().Close() // a drop, no close frame

			c2 := dial(t, url)
			first, _ := json.Marshal(map[string]any{"sampleRate": 8000, "mixType": "mono", "callSid": sid,
				"resumed": true, "reconnects": 1, "startMs": tc.startMs, "lostMs": tc.lostMs, "bufferedMs": 500})
			send(t, c2, websocket.TextMessage, first)
			// The wire restarts at startMs; media time runs lostMs ahead of
			// the wire after the replayed 100 ms.
			startFrame := int(tc.startMs / 20)
			lostSamples := int(tc.lostMs) * rate / 1000
			for f := startFrame; f < 150; f++ {
				media := f * perFrame
				if f >= startFrame+5 {
					media += lostSamples
				}
				send(t, c2, websocket.BinaryMessage, frame(media))
			}
			closeNormal(c2)

			s := waitRecordings(t, dir, 1)[0]
			a := readWAV(t, dir, s)
			gapAt := func(i int) bool {
				for _, g := range tc.wantGaps {
					if lo := int(g.AtMs) * rate / 1000; i >= lo && i < lo+int(g.Ms)*rate/1000 {
						return true
					}
				}
				return false
			}
			want := 150*perFrame + lostSamples
			if len(a.Samples) != want {
				t.Fatalf("%d samples, want %d (media time %d ms)", len(a.Samples), want, want*1000/rate)
			}
			for i, v := range a.Samples {
				exp := counter(i)
				if gapAt(i) {
					exp = 0
				}
				if v != exp {
					t.Fatalf("sample %d (%.3f s) is %d, want %d", i, float64(i)/rate, v, exp)
				}
			}
			if s.LostMs != tc.lostMs || s.Connections != 2 || len(s.Resumptions) != 1 || s.Ended != "closed" || s.CloseCode != 1000 {
				t.Errorf("sidecar: lostMs %d connections %d resumptions %d ended %q code %d; want %d, 2, 1, closed, 1000",
					s.LostMs, s.Connections, len(s.Resumptions), s.Ended, s.CloseCode, tc.lostMs)
			}
			if len(s.Resumptions) == 1 && (s.Resumptions[0].DuplicateMs != tc.wantDupMs || s.Resumptions[0].StartMs != tc.startMs) {
				t.Errorf("resumption %+v: want duplicateMs %d, startMs %d", s.Resumptions[0], tc.wantDupMs, tc.startMs)
			}
			if g, _ := json.Marshal(s.Gaps); len(s.Gaps) != len(tc.wantGaps) || (len(tc.wantGaps) > 0 && string(g) != string(must2(json.Marshal(tc.wantGaps)))) {
				t.Errorf("gaps %s, want %s", g, must2(json.Marshal(tc.wantGaps)))
			}
			if s.DurationMs != int64(want*1000/rate) {
				t.Errorf("durationMs %d, want %d", s.DurationMs, want*1000/rate)
			}
		})
	}
}

// waitParts waits for n recordings in progress in dir.
func waitParts(t *testing.T, dir string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if Unfinished(dir) == n {
			return
		}
	}
	t.Fatalf("%d recordings in progress, want %d", Unfinished(dir), n)
}

func must2(b []byte, _ error) []byte { return b }

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && string(must2(json.Marshal(x))) == string(must2(json.Marshal(y)))
}

// TestDroppedStreamNotResumed: a stream that drops and never comes back is
// finished after the resume wait, with what it sent.
func TestDroppedStreamNotResumed(t *testing.T) {
	_, dir, url := newRecorder(t, Options{ResumeWait: 200 * time.Millisecond})
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"sampleRate":8000,"mixType":"mono","callSid":"gone"}`))
	for f := range 10 {
		send(t, c, websocket.BinaryMessage, frame(f*rate/50))
	}
	c.UnderlyingConn().Close()
	s := waitRecordings(t, dir, 1)[0]
	if s.Ended != "connection_lost" || s.Bytes != 10*rate/50*2 || s.CloseCode != websocket.CloseAbnormalClosure {
		t.Errorf("ended %q, bytes %d, close code %d; want connection_lost, %d, 1006", s.Ended, s.Bytes, s.CloseCode, 10*rate/50*2)
	}
}

// TestHostileNames: callSids and metadata made of paths never name a file:
// everything the recorder writes is below its directory, under IDs it made.
func TestHostileNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rec")
	_, _, url := newRecorder(t, Options{Dir: dir})
	hostile := []string{"../../etc/passwd", "/etc/passwd", "..", "a/../../b", `..\..\x`, "x\x00y", strings.Repeat("../", 50) + "tmp/evil"}
	for i, sid := range hostile {
		first, _ := json.Marshal(map[string]any{"sampleRate": 8000, "callSid": sid, "from": sid, "to": "../" + sid,
			"file": sid, "id": sid, "path": "/tmp/evil", "resumed": i%2 == 1, "startMs": 0})
		c := dial(t, url)
		send(t, c, websocket.TextMessage, first)
		send(t, c, websocket.BinaryMessage, frame(0))
		closeNormal(c)
	}
	sides := waitRecordings(t, dir, len(hostile))
	seen := map[string]bool{}
	for _, s := range sides {
		seen[s.CallSid] = true
	}
	for _, sid := range hostile {
		if !seen[sid] {
			t.Errorf("no recording of callSid %q", sid)
		}
	}
	name := regexp.MustCompile(`^rec/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{6}-[0-9a-f]{12}\.(wav|json)$`)
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err != nil || d.IsDir() || rel == "rec/.listen-recorder.lock" {
			return nil
		}
		if !name.MatchString(filepath.ToSlash(rel)) {
			t.Errorf("the recorder wrote %s", rel)
		}
		return nil
	})
	if _, err := os.Stat("/tmp/evil"); err == nil {
		t.Errorf("/tmp/evil exists")
	}
}

// TestSizeLimit: a stream over its size limit gets a disconnect and is
// closed with 1008 and a reason naming the limit; the recording keeps
// exactly the limit's worth of audio.
func TestSizeLimit(t *testing.T) {
	const limit = 3000 // 9.4 frames of 320 bytes
	_, dir, url := newRecorder(t, Options{MaxStreamBytes: limit})
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"sampleRate":8000,"mixType":"mono","callSid":"big"}`))
	go func() {
		for f := range 20 {
			if c.WriteMessage(websocket.BinaryMessage, frame(f*rate/50)) != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var texts []string
	var ce *websocket.CloseError
	for {
		kind, data, err := c.ReadMessage()
		if err != nil {
			ce, _ = err.(*websocket.CloseError)
			break
		}
		if kind == websocket.TextMessage {
			texts = append(texts, string(data))
		}
	}
	if ce == nil || ce.Code != websocket.ClosePolicyViolation || ce.Text != "recording size limit of 3000 bytes reached" {
		t.Errorf("closed with %v, want 1008 and the reason", ce)
	}
	if len(texts) != 1 || texts[0] != `{"type":"disconnect"}` {
		t.Errorf("text frames %q, want one disconnect", texts)
	}
	s := waitRecordings(t, dir, 1)[0]
	a := readWAV(t, dir, s)
	if s.Bytes != limit || s.Ended != "size_limit" || s.CloseCode != websocket.ClosePolicyViolation {
		t.Errorf("sidecar bytes %d ended %q code %d; want %d, size_limit, 1008", s.Bytes, s.Ended, s.CloseCode, limit)
	}
	for i, v := range a.Samples {
		if v != counter(i) {
			t.Fatalf("sample %d is %d, want %d", i, v, counter(i))
		}
	}
}

// TestRefusals: over the stream limit is 503, under the free-disk
// threshold 507, and a first frame that is not a listen's is closed with
// 1003 and why.
func TestRefusals(t *testing.T) {
	status := func(url string) int {
		_, resp, err := websocket.DefaultDialer.Dial(url, nil)
		if err == nil || resp == nil {
			t.Fatalf("dial %s: connected (%v), want an HTTP refusal", url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		t.Logf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		return resp.StatusCode
	}
	_, _, url := newRecorder(t, Options{MinFreeBytes: 1 << 62})
	if s := status(url); s != http.StatusInsufficientStorage {
		t.Errorf("below the free-disk threshold: HTTP %d, want 507", s)
	}
	_, _, url = newRecorder(t, Options{MaxStreams: 1})
	c := dial(t, url)
	if s := status(url); s != http.StatusServiceUnavailable {
		t.Errorf("over max streams: HTTP %d, want 503", s)
	}
	c.Close()

	for _, tc := range []struct {
		kind   int
		first  string
		reason string
	}{
		{websocket.BinaryMessage, "\x00\x01", "the first frame must be the listen's JSON text frame"},
		{websocket.TextMessage, `{"mixType":"mono"}`, `the first frame's sampleRate "" is not a rate from 1000 to 384000 Hz`},
		{websocket.TextMessage, `{"sampleRate":8000,"mixType":"quad"}`, `mixType "quad" is not mono, stereo or mixed`},
		{websocket.TextMessage, `{"sampleRate":8000,"encoding":"speex"}`, `encoding "speex" is not supported (l16, mulaw, alaw or opus)`},
		{websocket.TextMessage, `{"sampleRate":44100,"encoding":"opus"}`, `encoding opus at 44100 Hz: an Opus stream is at 8000, 16000, 24000 or 48000 Hz`},
	} {
		_, _, url := newRecorder(t, Options{})
		c := dial(t, url)
		send(t, c, tc.kind, []byte(tc.first))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ReadMessage()
		ce, _ := err.(*websocket.CloseError)
		if ce == nil || ce.Code != websocket.CloseUnsupportedData || ce.Text != tc.reason {
			t.Errorf("first frame %q: %v, want close 1003 %q", tc.first, err, tc.reason)
		}
		c.Close()
	}
}

// TestRepairAfterCrash: the files of a recording in progress, as a crash
// leaves them (copied after a sync, the recorder still running), repair
// into a finished recording with the audio synced so far and the sidecar's
// first frame.
func TestRepairAfterCrash(t *testing.T) {
	_, dir, url := newRecorder(t, Options{SyncEvery: 20 * time.Millisecond})
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"sampleRate":8000,"mixType":"mono","callSid":"crash","team":"x"}`))
	for f := range 25 {
		send(t, c, websocket.BinaryMessage, frame(f*rate/50))
	}
	var parts []string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		parts, _ = filepath.Glob(filepath.Join(dir, "*", "*", "*", "*"+partWAV))
		if len(parts) == 1 {
			if st, _ := os.Stat(parts[0]); st != nil && st.Size() >= 44+25*320 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(parts) != 1 {
		t.Fatalf("unfinished WAVs %v, want one", parts)
	}
	crashed := t.TempDir()
	rel, _ := filepath.Rel(dir, parts[0])
	base := strings.TrimSuffix(rel, partWAV)
	for _, ext := range []string{partWAV, partJSON} {
		b, err := os.ReadFile(filepath.Join(dir, base+ext))
		if err != nil {
			t.Fatal(err)
		}
		if ext == partWAV {
			b = append(b, 0x7f) // half a sample written when the process died
		}
		os.MkdirAll(filepath.Dir(filepath.Join(crashed, base)), 0o755)
		os.WriteFile(filepath.Join(crashed, base+ext), b, 0o644)
	}
	c.Close()
	if n := Unfinished(crashed); n != 1 {
		t.Errorf("Unfinished: %d, want 1", n)
	}
	ids, err := Repair(crashed)
	if err != nil || len(ids) != 1 || ids[0] != filepath.ToSlash(base) {
		t.Fatalf("Repair: %v %v, want [%s]", ids, err, base)
	}
	s := waitRecordings(t, crashed, 1)[0]
	a := readWAV(t, crashed, s)
	if len(a.Samples) != 25*rate/50 || s.Ended != "repaired" || s.CallSid != "crash" || !jsonEqual(s.First, `{"sampleRate":8000,"mixType":"mono","callSid":"crash","team":"x"}`) {
		t.Errorf("repaired: %d samples, ended %q, callSid %q, first %s", len(a.Samples), s.Ended, s.CallSid, s.First)
	}
	for i, v := range a.Samples {
		if v != counter(i) {
			t.Fatalf("sample %d is %d, want %d", i, v, counter(i))
		}
	}
	if n := Unfinished(crashed); n != 0 {
		t.Errorf("after Repair, %d unfinished", n)
	}
}

// TestResumeWaitRunsOutAsResumed: the resume wait running out just as a
// resumption took the recording over does not finish it: the resumed
// stream goes on into the same file.
func TestResumeWaitRunsOutAsResumed(t *testing.T) {
	dir := t.TempDir()
	rec, err := createRecording(dir, time.Now(), Sidecar{SampleRate: rate, Channels: 1, MixType: "mono"}, 1<<20, FormatWAV)
	if err != nil {
		t.Fatal(err)
	}
	rec.attach(1, nil, nil, nil)
	rec.audio(1, frame(0), nil, false)
	waitEnded := func() { rec.finish(unowned, "connection_lost", 0, "") }
	rec.suspend(1, time.Hour, 1006, "", waitEnded)
	rec.attach(2, nil, nil, &Resumption{StartMs: 0})
	waitEnded() // as if the wait ran out while attach ran
	if rec.done {
		t.Fatalf("the resume wait finished a recording a resumption had taken over")
	}
	rec.audio(2, frame(0), nil, false)
	rec.audio(2, frame(rate/50), nil, false)
	if ok, err := rec.finish(2, "closed", 1000, ""); err != nil || !ok || rec.side.Bytes != 2*rate/50*2 {
		t.Errorf("finish: %v %v, %d bytes; want 2 frames", ok, err, rec.side.Bytes)
	}
}

// TestSameCallSidTwice: a second stream (not a resumption) with the
// callSid of one still streaming gets its own recording, and the first
// goes on to its end with all its audio.
func TestSameCallSidTwice(t *testing.T) {
	_, dir, url := newRecorder(t, Options{})
	first := []byte(`{"sampleRate":8000,"mixType":"mono","callSid":"dup"}`)
	c1 := dial(t, url)
	send(t, c1, websocket.TextMessage, first)
	for f := range 10 {
		send(t, c1, websocket.BinaryMessage, frame(f*rate/50))
	}
	waitParts(t, dir, 1)
	c2 := dial(t, url)
	send(t, c2, websocket.TextMessage, first)
	send(t, c2, websocket.BinaryMessage, frame(0))
	waitParts(t, dir, 2)
	for f := 10; f < 20; f++ {
		send(t, c1, websocket.BinaryMessage, frame(f*rate/50))
	}
	closeNormal(c1)
	closeNormal(c2)
	sides := waitRecordings(t, dir, 2)
	got := map[int64]bool{sides[0].Bytes: true, sides[1].Bytes: true}
	if !got[20*rate/50*2] || !got[rate/50*2] {
		t.Errorf("recordings of %d and %d bytes, want %d and %d", sides[0].Bytes, sides[1].Bytes, 20*rate/50*2, rate/50*2)
	}
}

// TestPrompt: the prompt is sent as a playAudio WAV clip when the stream
// starts and when it passes a DTMF digit, as configured; the digits go to
// the sidecar.
func TestPrompt(t *testing.T) {
	clip := wav.Encode(8000, 1, []int16{1, 2, 3, 4})
	_, dir, url := newRecorder(t, Options{Prompt: clip, PromptOn: PromptOn{Start: true, DTMF: true}})
	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"sampleRate":8000,"callSid":"p"}`))
	want := `{"data":{"audioContent":"` + base64.StdEncoding.EncodeToString(clip) + `","audioContentType":"wav"},"type":"playAudio"}`
	read := func(when string) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		kind, data, err := c.ReadMessage()
		if err != nil || kind != websocket.TextMessage || string(data) != want {
			t.Fatalf("%s: got %q (%v), want the prompt", when, data, err)
		}
	}
	read("at the start")
	send(t, c, websocket.TextMessage, []byte(`{"event":"dtmf","dtmf":"5","duration":"1600"}`))
	read("after a digit")
	send(t, c, websocket.TextMessage, []byte(`{"type":"playDone"}`)) // not a digit: no prompt
	send(t, c, websocket.TextMessage, []byte(`{"event":"dtmf","dtmf":"#","duration":"1600"}`))
	read("after the second digit")
	closeNormal(c)
	s := waitRecordings(t, dir, 1)[0]
	if s.Digits != "5#" || s.TextFrames != 3 {
		t.Errorf("sidecar digits %q, text frames %d; want 5#, 3", s.Digits, s.TextFrames)
	}
}

// TestShutdown: shutting down closes the streams with 1001 and finishes
// their recordings, and those waiting for a resumption, with their audio.
func TestShutdown(t *testing.T) {
	r, dir, url := newRecorder(t, Options{})
	live := dial(t, url)
	send(t, live, websocket.TextMessage, []byte(`{"sampleRate":8000,"callSid":"live"}`))
	dropped := dial(t, url)
	send(t, dropped, websocket.TextMessage, []byte(`{"sampleRate":8000,"callSid":"dropped"}`))
	for f := range 5 {
		send(t, live, websocket.BinaryMessage, frame(f*rate/50))
		send(t, dropped, websocket.BinaryMessage, frame(f*rate/50))
	}
	waitParts(t, dir, 2)
	dropped.UnderlyingConn().Close()
	time.Sleep(100 * time.Millisecond) // noticed, waiting for a resumption
	r.Shutdown()
	live.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := live.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseGoingAway {
		t.Errorf("live stream: %v, want close 1001", err)
	}
	for _, s := range waitRecordings(t, dir, 2) {
		if s.Ended != "shutdown" || s.Bytes != 5*rate/50*2 {
			t.Errorf("%s: ended %q with %d bytes, want shutdown with %d", s.CallSid, s.Ended, s.Bytes, 5*rate/50*2)
		}
	}
	if n := Unfinished(dir); n != 0 {
		t.Errorf("%d unfinished after Shutdown", n)
	}
}
