package e2e

// End-to-end tests of bidirectional audio (issue 3): playAudio clips, their
// queue and playDone, killAudio, and the helpers the playback_*_test.go
// files share (all named playback… or pb…).
//
// Time axes. switchsim pulls frame k of the call (samples [160k, 160k+160)
// of --played at 8000 Hz) in its k-th tick, which begins no earlier than
// k·20 ms after the call's start and at most max_late_ms after that; its
// event times t are ms since the same start. So "the last sample of a clip
// was pulled" happens at a call time in [k·20, k·20+late] where k is the
// frame holding it, and an event at t came after that pull iff t ≥ k·20 is
// implied by the engine's order of work. The engine queues the playDone
// (or mark) text frame in the same step in which it emits the play_done
// (mark) host event, so the event's t is also when the frame was queued.
//
// The server's clock is mapped onto the call's by the audio it receives:
// binary frame n holds captured frame n, pushed at call time ≥ n·20 ms, so
// zero = min over n of (arrival(n) − n·20 ms) is an upper bound of the
// server time of the call's start, tight to the quickest frame's delay (a
// few ms). A server time S then maps to call time S − zero, which is never
// later than the true call time of the event that caused S plus its
// transit delay.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/wav"
)

const (
	pbRate       = 8000        // the call's rate in these tests
	pbFrame      = pbRate / 50 // samples per 20 ms frame
	pbLevel      = -6.0        // dBFS of the clips sent
	pbThreshold  = 200         // |sample| above which audio counts as playing
	pbNoticeMs   = 40.0        // playDone / mark within this of the last sample's pull
	pbClockSlack = 5.0         // ms: how loose the server-to-call clock mapping may be
)

// pbLE is samples as 16-bit little-endian bytes.
func pbLE(samples []int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// pbPlayRaw is a playAudio message of raw PCM at rate (given as is: a
// number or a string); id is left out when nil.
func pbPlayRaw(samples []int16, rate any, id any) []byte {
	data := map[string]any{
		"audioContent":     base64.StdEncoding.EncodeToString(pbLE(samples)),
		"audioContentType": "raw",
		"sampleRate":       rate,
	}
	if id != nil {
		data["id"] = id
	}
	b, _ := json.Marshal(map[string]any{"type": "playAudio", "data": data})
	return b
}

// pbPlayWAV is a playAudio message of a mono 16-bit WAV.
func pbPlayWAV(rate int, samples []int16, id any) []byte {
	data := map[string]any{
		"audioContent":     base64.StdEncoding.EncodeToString(wav.Encode(rate, 1, samples)),
		"audioContentType": "wav",
	}
	if id != nil {
		data["id"] = id
	}
	b, _ := json.Marshal(map[string]any{"type": "playAudio", "data": data})
	return b
}

// pbMsg is a server text frame as the test reads it.
type pbMsg struct {
	Type string                     `json:"type"`
	Data map[string]json.RawMessage `json:"data"`
	Raw  string                     `json:"-"`
	At   time.Time                  `json:"-"`
	// Index is the frame's position among all frames received; Binary the
	// number of binary frames received before it.
	Index, Binary int
}

func (m pbMsg) str(key string) string {
	var s string
	if raw, ok := m.Data[key]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

// pbText returns the text frames the server received, parsed, with where
// they came among the binary frames. Frames that are not JSON objects are
// returned with an empty Type.
func pbText(c *WSConn) []pbMsg {
	var out []pbMsg
	bin := 0
	for i, f := range c.Frames() {
		if f.Kind == websocket.BinaryMessage {
			bin++
			continue
		}
		var m pbMsg
		json.Unmarshal(f.Data, &m)
		m.Raw, m.At, m.Index, m.Binary = string(f.Data), f.At, i, bin
		out = append(out, m)
	}
	return out
}

// pbOfType keeps the messages of one type.
func pbOfType(msgs []pbMsg, typ string) []pbMsg {
	var out []pbMsg
	for _, m := range msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// pbCountText counts received text frames of the type.
func pbCountText(c *WSConn, typ string) int { return len(pbOfType(pbText(c), typ)) }

// pbWaitText waits until n text frames of the type have arrived.
func pbWaitText(c *WSConn, typ string, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if pbCountText(c, typ) >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pbWaitBinary waits until n binary frames have arrived.
func pbWaitBinary(c *WSConn, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if len(c.BinaryFrames()) >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pbScript records what a scripted handler did, for the test goroutine to
// check after the run (handlers must not call t.Fatal).
type pbScript struct {
	mu    sync.Mutex
	sent  map[string]time.Time // label -> when the frame was written
	fails []string
}

func newPBScript() *pbScript { return &pbScript{sent: map[string]time.Time{}} }

func (s *pbScript) failf(format string, args ...any) {
	s.mu.Lock()
	s.fails = append(s.fails, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// send writes a frame and notes when (after the write returned).
func (s *pbScript) send(c *WSConn, label string, kind int, data []byte) {
	if err := c.Send(kind, data); err != nil {
		s.failf("sending %s: %v", label, err)
		return
	}
	s.mu.Lock()
	s.sent[label] = time.Now()
	s.mu.Unlock()
}

func (s *pbScript) sentAt(t *testing.T, label string) time.Time {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.sent[label]
	if !ok {
		t.Fatalf("the server never sent %s", label)
	}
	return at
}

func (s *pbScript) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fails {
		t.Errorf("server script: %s", f)
	}
}

// pbAfterFirstFrame starts reading, waits for the first frame (the JSON
// one) and returns the channel that reports the end of the socket.
func pbAfterFirstFrame(c *WSConn, s *pbScript) (<-chan error, bool) {
	done := c.ReadInBackground()
	if _, ok := c.WaitFor(5*time.Second, func(Frame) bool { return true }); !ok {
		s.failf("no first frame within 5 s")
		return done, false
	}
	return done, true
}

// pbPlayed reads a --played WAV (mono, 16 bit, the call's rate).
func pbPlayed(t *testing.T, path string) []int16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("--played: %v", err)
	}
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatalf("--played: %v", err)
	}
	if a.Rate != pbRate || a.Channels != 1 {
		t.Fatalf("--played is %d Hz, %d channels; want %d Hz mono", a.Rate, a.Channels, pbRate)
	}
	return a.Samples
}

// pbPlayedPath is a --played path in the test's temp dir.
func pbPlayedPath(t *testing.T) string { return filepath.Join(t.TempDir(), "played.wav") }

// runPB runs one scripted playback call and returns the call's times and
// events, the server's connection, a description for failure messages, and
// what was played into the call.
func runPB(t *testing.T, srv *WSServer, script *pbScript, sim Sim) (pbTimes, *WSConn, string, []int16) {
	t.Helper()
	sim.Played, sim.QuietLog = pbPlayedPath(t), true
	pt := newPBTimes(t, RunSim(t, sim))
	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	script.check(t)
	return pt, c, pbDescribe(pt, c), pbPlayed(t, sim.Played)
}

// pbSpan returns the first and last index of x (from index from on) whose
// magnitude is above thr, or -1, -1.
func pbSpan(x []int16, from, thr int) (int, int) {
	first, last := -1, -1
	for i := from; i < len(x); i++ {
		if v := int(x[i]); v > thr || v < -thr {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// pbZeroFrom reports the first non-zero sample at or after from, or -1.
func pbNonZeroFrom(x []int16, from int) int {
	for i := max(from, 0); i < len(x); i++ {
		if x[i] != 0 {
			return i
		}
	}
	return -1
}

// pbRegionEnd is the last audible sample of the stretch of audio that
// starts at from: the stretch ends at 80 quiet samples (10 ms) in a row.
func pbRegionEnd(x []int16, from int) int {
	last, quiet := from, 0
	for i := from; i < len(x) && quiet < 80; i++ {
		if v := int(x[i]); v > pbThreshold || v < -pbThreshold {
			last, quiet = i, 0
		} else {
			quiet++
		}
	}
	return last
}

// pbCheckGapless fails if any 20 ms window (hop 5 ms) of x[a:b] is more
// than 6 dB below level, or if x[a:b] holds a run of 8 or more samples
// (1 ms) all within ±pbThreshold: a tone of a few hundred Hz at -6 dBFS has
// no such run, a gap of a single millisecond does.
func pbCheckGapless(t *testing.T, x []int16, a, b int, level float64, what string) {
	t.Helper()
	bad := 0
	for s := a; s+pbFrame <= b; s += pbFrame / 4 {
		if l := RMSdBFS(x[s : s+pbFrame]); l < level-6 {
			if bad++; bad <= 3 {
				t.Errorf("%s: the 20 ms window at %.4f s is at %.1f dBFS, want about %.0f: a gap",
					what, float64(s)/pbRate, l, level)
			}
		}
	}
	run, runs := 0, 0
	for i := a; i < b; i++ {
		if v := int(x[i]); v <= pbThreshold && v >= -pbThreshold {
			if run++; run == 8 {
				if runs++; runs <= 3 {
					t.Errorf("%s: near-silence from sample %d (%.4f s): a gap in the audio",
						what, i-7, float64(i-7)/pbRate)
				}
			}
		} else {
			run = 0
		}
	}
	if bad > 3 || runs > 3 {
		t.Errorf("%s: %d quiet windows and %d silent runs in all", what, bad, runs)
	}
}

// pbCheckSilent fails unless x[a:b] is all zeros.
func pbCheckSilent(t *testing.T, x []int16, a, b int, what string) {
	t.Helper()
	a, b = max(a, 0), min(b, len(x))
	if i := pbNonZeroFrom(x[:max(b, a)], a); i >= 0 {
		t.Errorf("%s: sample %d (%.4f s) is %d, want silence in [%.3f s, %.3f s)",
			what, i, float64(i)/pbRate, x[i], float64(a)/pbRate, float64(b)/pbRate)
	}
}

// pbToneAt is the magnitude of the freq component of the 160-sample
// (rectangular) window centred on n: exact bins for multiples of 50 Hz.
type pbToneAt struct {
	c, s []float64
	x    []int16
}

func newPBToneAt(x []int16, freq float64) *pbToneAt {
	p := &pbToneAt{c: make([]float64, len(x)), s: make([]float64, len(x)), x: x}
	for i := range x {
		ph := 2 * math.Pi * freq * float64(i) / pbRate
		p.c[i], p.s[i] = float64(x[i])*math.Cos(ph), float64(x[i])*math.Sin(ph)
	}
	// Prefix sums make each window O(1).
	for i := 1; i < len(x); i++ {
		p.c[i] += p.c[i-1]
		p.s[i] += p.s[i-1]
	}
	return p
}

func (p *pbToneAt) mag(n int) float64 {
	a, b := max(n-pbFrame/2, 0), min(n+pbFrame/2, len(p.x))-1
	if b < a {
		return 0
	}
	sum := func(v []float64) float64 {
		if a == 0 {
			return v[b]
		}
		return v[b] - v[a-1]
	}
	return math.Hypot(sum(p.c), sum(p.s))
}

// pbTimes are what a run says about time: the call's events and how late
// switchsim's ticks ran.
type pbTimes struct {
	call   CallResult
	lateMs float64
}

func newPBTimes(t *testing.T, r *Result) pbTimes {
	t.Helper()
	r.MustSucceed(t, 1)
	pt := pbTimes{call: r.Call(t, 0)}
	if r.Summary != nil {
		pt.lateMs = r.Summary.MaxLateMs
	}
	return pt
}

// events returns "name:id" (or "name:" + name key for marks) for the
// events of the given names, in order.
func (pt pbTimes) events(names ...string) []string {
	var out []string
	for _, e := range pt.call.Events {
		for _, n := range names {
			if e.Name == n {
				key := "id"
				if n == "mark" {
					key = "name"
				}
				out = append(out, n+":"+e.String(key))
			}
		}
	}
	return out
}

// checkPulledThenNotified: the event ev says the audio ending with sample
// last (somewhere in [lastLo, lastHi], to allow for the uncertainty of the
// measurement) was played. It must come no earlier than that sample was
// pulled (its frame's tick starts at frame·20 ms) and within pbNoticeMs of
// the pull (which is at most lateMs after frame·20 ms).
func (pt pbTimes) checkPulledThenNotified(t *testing.T, ev Event, lastLo, lastHi int, what string) {
	t.Helper()
	kLo, kHi := lastLo/pbFrame, lastHi/pbFrame
	earliest := float64(kLo * 20)
	latest := float64(kHi*20) + pt.lateMs + pbNoticeMs + 1 // +1: t is truncated to ms
	if float64(ev.T) < earliest {
		t.Errorf("%s: the %s event came at %d ms, before its last sample (in frame %d, pulled at ≥ %.0f ms) was played",
			what, ev.Name, ev.T, kLo, earliest)
	}
	if float64(ev.T) > latest {
		t.Errorf("%s: the %s event came at %d ms, more than %.0f ms after its last sample (frame %d, pulled at ≤ %.0f ms)",
			what, ev.Name, ev.T, pbNoticeMs, kHi, float64(kHi*20)+pt.lateMs)
	}
}

// pbClock maps server times onto the call's time axis (see the top of the file).
type pbClock struct{ zero time.Time }

func newPBClock(t *testing.T, c *WSConn) pbClock {
	t.Helper()
	var zero time.Time
	n := 0
	for _, f := range c.Frames() {
		if f.Kind != websocket.BinaryMessage {
			continue
		}
		z := f.At.Add(-time.Duration(n) * 20 * time.Millisecond)
		if n == 0 || z.Before(zero) {
			zero = z
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d audio frames reached the server: cannot align its clock with the call's", n)
	}
	return pbClock{zero}
}

// ms is the call time (ms) of server time s.
func (k pbClock) ms(s time.Time) float64 { return float64(s.Sub(k.zero)) / 1e6 }

// checkWire checks a playDone/mark frame as the server received it against
// the pull of the last sample (frame index range as in
// checkPulledThenNotified): on the server's clock, mapped to the call's, it
// came no earlier than that pull (less the mapping's slack) and within
// pbNoticeMs (plus transit) after; and audio frames up to at least the one
// captured in the tick before had reached the server first.
func (pt pbTimes) checkWire(t *testing.T, k pbClock, m pbMsg, lastLo, lastHi int, what string) {
	t.Helper()
	kLo, kHi := lastLo/pbFrame, lastHi/pbFrame
	at := k.ms(m.At)
	if at < float64(kLo*20)-pbClockSlack {
		t.Errorf("%s: %s reached the server at call time %.1f ms, before its last sample (frame %d) was pulled at ≥ %d ms",
			what, m.Raw, at, kLo, kLo*20)
	}
	if latest := float64(kHi*20) + pt.lateMs + pbNoticeMs + 10; at > latest {
		t.Errorf("%s: %s reached the server at call time %.1f ms, want ≤ %.0f ms (last sample in frame %d)",
			what, m.Raw, at, latest, kHi)
	}
	if m.Binary < kLo-1 {
		t.Errorf("%s: %s came after only %d audio frames: sent before the call reached frame %d, where its last sample played",
			what, m.Raw, m.Binary, kLo)
	}
}

// pbDescribe is a run's events for failure messages.
func pbDescribe(pt pbTimes, c *WSConn) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "events:")
	for _, e := range pt.call.Events {
		fmt.Fprintf(&b, "\n  %5d %s %s", e.T, e.Name, e.JSON)
	}
	if c != nil {
		fmt.Fprintf(&b, "\nserver text frames:")
		for _, m := range pbText(c) {
			fmt.Fprintf(&b, "\n  after %d audio frames: %s", m.Binary, m.Raw)
		}
	}
	return b.String()
}

// pbConfig is a listen config with the server's URL and extra keys.
func pbConfig(t *testing.T, url string, extra map[string]any) string {
	m := map[string]any{"url": url}
	for k, v := range extra {
		m[k] = v
	}
	return mustJSON(t, m)
}

// TestPlayTwoClipsBackToBack: a 500 Hz raw clip at 16000 Hz ("sampleRate"
// as a string, with an id) and a 700 Hz WAV at 8000 Hz (no id), sent back to
// back on an 8000 Hz call, play in order, at their pitch and length, with no
// gap between them; each gets a playDone (with data.id only when given), in
// order, no earlier than its last sample was pulled and within 40 ms after.
func TestPlayTwoClipsBackToBack(t *testing.T) {
	t.Parallel()
	const (
		secA, hzA = 0.5, 500.0
		secB, hzB = 0.3, 700.0
	)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "a", websocket.TextMessage, pbPlayRaw(Sine(16000, hzA, pbLevel, secA), "16000", "a"))
			script.send(c, "b", websocket.TextMessage, pbPlayWAV(8000, Sine(8000, hzB, pbLevel, secB), nil))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 2})

	first, last := pbSpan(x, 0, pbThreshold)
	if first < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	// Clip A starts at phase 0: its first audible sample is its second or
	// third; nothing before it, nothing after B.
	start := pbNonZeroFrom(x, 0)
	if first-start > 4 {
		t.Errorf("played audio starts at sample %d but is audible only from %d", start, first)
	}
	pbCheckSilent(t, x, last+2, len(x), "after the second clip")

	// Where A ends and B begins: the 160-sample window centred on each
	// sample holds more 500 Hz than 700 Hz while in A.
	ta, tb := newPBToneAt(x, hzA), newPBToneAt(x, hzB)
	boundary := start
	for n := start; n <= last; n++ {
		if ta.mag(n) > tb.mag(n) {
			boundary = n + 1
		}
	}
	lenA, lenB := boundary-start, last+1-boundary
	for _, c := range []struct {
		what     string
		got      int
		sec, hz  float64
		from, to int
	}{{"clip A", lenA, secA, hzA, start, boundary}, {"clip B", lenB, secB, hzB, boundary, last + 1}} {
		want := int(c.sec * pbRate)
		if c.got < want-pbFrame || c.got > want+pbFrame {
			t.Errorf("%s played %d samples (%.4f s), want %d ± %d (%.2f s ± 20 ms)", c.what, c.got,
				float64(c.got)/pbRate, want, pbFrame, c.sec)
		}
		if mid := Trim(x[c.from:c.to], pbRate, 0.03, 0.03); mid == nil {
			t.Errorf("%s: too short to measure", c.what)
		} else if f := DominantFreq(mid, pbRate); math.Abs(f-c.hz) > 3 {
			t.Errorf("%s is at %.2f Hz, want %.0f ± 3", c.what, f, c.hz)
		} else if l := RMSdBFS(mid); math.Abs(l-pbLevel) > 1 {
			t.Errorf("%s is at %.2f dBFS, want %.0f ± 1", c.what, l, pbLevel)
		}
	}
	pbCheckGapless(t, x, start+1, last, pbLevel, "the two clips")
	t.Logf("clip A [%d, %d) = %d samples, clip B [%d, %d] = %d samples", start, boundary, lenA, boundary, last, lenB)

	// Host events, in order.
	want := []string{"play_start:a", "play_done:a", "play_start:", "play_done:"}
	if got := pt.events("play_start", "play_done"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("play events %q, want %q\n%s", got, want, desc)
	}
	dones := pt.call.EventsNamed("play_done")
	if string(dones[1].JSON) != "{}" {
		t.Errorf("play_done of the clip without id has body %s, want {}", dones[1].JSON)
	}
	// The boundary is measured to a few samples: allow for it.
	pt.checkPulledThenNotified(t, dones[0], boundary-1-4, boundary-1+4, "clip A")
	pt.checkPulledThenNotified(t, dones[1], last, last, "clip B")

	// playDone frames on the wire, in order, with data.id only when given.
	pds := pbOfType(pbText(c), "playDone")
	if len(pds) != 2 {
		t.Fatalf("%d playDone frames, want 2\n%s", len(pds), desc)
	}
	if pds[0].str("id") != "a" {
		t.Errorf("first playDone is %s, want data.id \"a\"", pds[0].Raw)
	}
	if pds[1].Data != nil || strings.Contains(pds[1].Raw, "data") {
		t.Errorf("second playDone is %s, want no data (its clip had no id)", pds[1].Raw)
	}
	clock := newPBClock(t, c)
	pt.checkWire(t, clock, pds[0], boundary-1-4, boundary-1+4, "clip A")
	pt.checkWire(t, clock, pds[1], last, last, "clip B")
	if errs := pbOfType(pbText(c), "error"); len(errs) > 0 {
		t.Errorf("error frames: %s", errs[0].Raw)
	}
	t.Logf("play_done a at %d ms (last sample in frame %d..%d), b at %d ms (frame %d); on the wire at %.1f and %.1f ms; late %.1f ms",
		dones[0].T, (boundary-5)/pbFrame, (boundary+3)/pbFrame, dones[1].T, last/pbFrame, clock.ms(pds[0].At), clock.ms(pds[1].At), pt.lateMs)
}

// TestPlayQueueLimit: while a clip plays, 11 more are sent at once: 10 wait
// in the queue, the 11th is refused with an error frame naming the limit
// (10) and an error event; the playing clip and the 10 queued ones play
// whole and in order (11 play_done events and playDone frames, the played
// audio as long as the 11 clips).
func TestPlayQueueLimit(t *testing.T) {
	t.Parallel()
	const (
		firstSec  = 1.0  // long enough that the ring (256 ms) holds only it when the rest arrive
		queuedSec = 0.06 // each of the 11
		hz        = 600.0
	)
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "c0", websocket.TextMessage, pbPlayRaw(Sine(8000, hz, pbLevel, firstSec), 8000, "c0"))
			time.Sleep(100 * time.Millisecond) // c0 is playing now
			tone := Sine(8000, hz, pbLevel, queuedSec)
			for i := 1; i <= 11; i++ {
				script.send(c, fmt.Sprintf("q%d", i), websocket.TextMessage, pbPlayRaw(tone, 8000, fmt.Sprintf("q%d", i)))
			}
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 2.6})
	msgs := pbText(c)

	errs := pbOfType(msgs, "error")
	if len(errs) != 1 {
		t.Errorf("%d error frames, want 1 (for the 11th queued clip)\n%s", len(errs), desc)
	}
	for _, e := range errs {
		var text string
		json.Unmarshal(e.Data["error"], &text)
		if !strings.Contains(text, "10") {
			t.Errorf("error frame %s does not name the limit (10)", e.Raw)
		}
	}
	if ev := pt.call.EventsNamed("error"); len(ev) != 1 || !strings.Contains(ev[0].String("error"), "10") {
		t.Errorf("error events %v, want one naming the limit (10)", ev)
	}

	var want []string
	for i := 0; i <= 10; i++ {
		want = append(want, fmt.Sprintf("%s%d", map[bool]string{true: "c", false: "q"}[i == 0], i))
	}
	var gotIDs []string
	for _, m := range pbOfType(msgs, "playDone") {
		gotIDs = append(gotIDs, m.str("id"))
	}
	if strings.Join(gotIDs, " ") != strings.Join(want, " ") {
		t.Errorf("playDone ids %q, want %q (q11 refused)\n%s", gotIDs, want, desc)
	}
	var evIDs []string
	for _, e := range pt.call.EventsNamed("play_done") {
		evIDs = append(evIDs, e.String("id"))
	}
	if strings.Join(evIDs, " ") != strings.Join(want, " ") {
		t.Errorf("play_done events %q, want %q", evIDs, want)
	}

	start := pbNonZeroFrom(x, 0)
	_, last := pbSpan(x, 0, pbThreshold)
	if start < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	got := last + 1 - start
	wantN := int((firstSec + 10*queuedSec) * pbRate)
	if got < wantN-pbFrame || got > wantN+pbFrame {
		t.Errorf("%d samples (%.3f s) played, want %d ± %d (1 s + 10 × 60 ms): the refused clip played, or a queued one did not",
			got, float64(got)/pbRate, wantN, pbFrame)
	}
	pbCheckGapless(t, x, start+1, last, pbLevel, "the 11 clips")
	if f := DominantFreq(x[start:last], pbRate); math.Abs(f-hz) > 3 {
		t.Errorf("played at %.2f Hz, want %.0f", f, hz)
	}
	t.Logf("played %d samples from %d; %s", got, start, strings.Join(gotIDs, ","))
}

// TestKillAudio: killAudio ~1 s into a 3 s clip silences the call within a
// frame, empties the queue (a queued clip never plays), sends no playDone
// for what it discarded, and reports kill_audio; a clip sent afterwards
// plays normally and gets its playDone.
func TestKillAudio(t *testing.T) {
	t.Parallel()
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			script.send(c, "long", websocket.TextMessage, pbPlayRaw(Sine(8000, 500, pbLevel, 3), 8000, "long"))
			script.send(c, "next", websocket.TextMessage, pbPlayRaw(Sine(8000, 700, pbLevel, 0.5), 8000, "next"))
			time.Sleep(time.Second)
			script.send(c, "kill", websocket.TextMessage, []byte(`{"type":"killAudio"}`))
			time.Sleep(300 * time.Millisecond)
			script.send(c, "after", websocket.TextMessage, pbPlayRaw(Sine(8000, 800, pbLevel, 0.2), 8000, "after"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 2.2})
	clock := newPBClock(t, c)

	kills := pt.call.EventsNamed("kill_audio")
	if len(kills) != 1 {
		t.Fatalf("%d kill_audio events, want 1\n%s", len(kills), desc)
	}
	kill := kills[0]
	var discarded, cleared int
	if !kill.Field("clipsDiscarded", &discarded) || discarded != 2 || !kill.Field("marksCleared", &cleared) || cleared != 0 {
		t.Errorf("kill_audio %s, want clipsDiscarded 2 (the playing clip and the queued one), marksCleared 0", kill.JSON)
	}
	killSent := clock.ms(script.sentAt(t, "kill"))
	// The server wrote killAudio at call time ≥ killSent, less the mapping's
	// slack (it is taken from the frames' arrival, and event times are whole
	// ms); the engine acts on it at once.
	if float64(kill.T) < killSent-pbClockSlack {
		t.Errorf("kill_audio at %d ms, before the server sent killAudio (call time %.1f ms)", kill.T, killSent)
	}
	if float64(kill.T) > killSent+pbClockSlack+25 {
		t.Errorf("kill_audio at %d ms, %.1f ms after the server sent killAudio", kill.T, float64(kill.T)-killSent)
	}

	start := pbNonZeroFrom(x, 0)
	if start < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	// The long clip plays from start until the kill.
	lastLong := pbRegionEnd(x, start)
	firstSilentFrame := lastLong/pbFrame + 1
	// Every frame pulled after the kill_audio event (emitted after the ring
	// was discarded) is silent: the last loud frame was pulled before it.
	if float64(firstSilentFrame*20) > float64(kill.T)+1+20 {
		t.Errorf("the clip played on until frame %d (%d ms); killAudio was acted on at %d ms: not silent within one frame",
			firstSilentFrame-1, (firstSilentFrame-1)*20, kill.T)
	}
	// ... and not before the server even sent killAudio: frames pulled
	// before then (tick k·20 ms, at most late ms after) are all tone.
	if lastBefore := int((killSent - pt.lateMs) / 20); lastBefore >= firstSilentFrame {
		t.Errorf("the clip went silent at frame %d (%d ms), before the server sent killAudio (call time %.1f ms)",
			firstSilentFrame, firstSilentFrame*20, killSent)
	}
	pbCheckGapless(t, x, start+1, lastLong, pbLevel, "the long clip until the kill")
	if f := DominantFreq(x[start:lastLong], pbRate); math.Abs(f-500) > 3 {
		t.Errorf("the long clip played at %.2f Hz, want 500", f)
	}

	// After the kill: silence until the clip sent afterwards, which is the
	// only other audio (the queued 700 Hz clip never plays).
	afterStart := pbNonZeroFrom(x, firstSilentFrame*pbFrame)
	if afterStart < 0 {
		t.Fatalf("the clip sent after the kill never played\n%s", desc)
	}
	afterSent := clock.ms(script.sentAt(t, "after"))
	if float64(afterStart)/pbRate*1000 < afterSent-pbClockSlack {
		t.Errorf("audio at %.3f s, after the kill and before the server sent the next clip (%.1f ms): the queue was not emptied",
			float64(afterStart)/pbRate, afterSent)
	}
	_, afterLast := pbSpan(x, afterStart, pbThreshold)
	if n := afterLast + 1 - afterStart; n < 1600-pbFrame || n > 1600+pbFrame {
		t.Errorf("the clip after the kill played %d samples, want 1600 ± %d", n, pbFrame)
	}
	if f := DominantFreq(x[afterStart:afterLast], pbRate); math.Abs(f-800) > 3 {
		t.Errorf("audio after the kill is at %.2f Hz, want 800 (the clip sent after it)", f)
	}

	// No playDone for the discarded clips; one for the clip after.
	var ids []string
	for _, m := range pbOfType(pbText(c), "playDone") {
		ids = append(ids, m.str("id"))
	}
	if strings.Join(ids, " ") != "after" {
		t.Errorf("playDone frames for %q, want only \"after\" (none for the killed clips)\n%s", ids, desc)
	}
	if got := strings.Join(pt.events("play_start", "play_done"), " "); got != "play_start:long play_start:after play_done:after" {
		t.Errorf("play events %q, want play_start:long play_start:after play_done:after", got)
	}
	if dones := pt.call.EventsNamed("play_done"); len(dones) == 1 {
		pt.checkPulledThenNotified(t, dones[0], afterLast, afterLast, "the clip after the kill")
	}
	t.Logf("kill sent at %.1f ms, kill_audio at %d ms, last loud frame %d (%d ms); after-clip at %.3f s",
		killSent, kill.T, firstSilentFrame-1, (firstSilentFrame-1)*20, float64(afterStart)/pbRate)
}

// A listen's playback ring is made by the first audio the server sends: a
// clip that comes after a second of streaming, into a call that had nothing
// to play until then, still plays whole, from its first sample, right away.
func TestLatePlaybackPlaysWhole(t *testing.T) {
	t.Parallel()
	const sec, hz = 0.3, 600.0
	script := newPBScript()
	srv := NewWSServer(t, func(c *WSConn) {
		done, ok := pbAfterFirstFrame(c, script)
		if ok {
			if !pbWaitBinary(c, 50, 5*time.Second) {
				script.failf("no second of audio within 5 s")
			}
			script.send(c, "late", websocket.TextMessage, pbPlayRaw(Sine(pbRate, hz, pbLevel, sec), pbRate, "late"))
		}
		<-done
	})
	pt, c, desc, x := runPB(t, srv, script, Sim{Config: pbConfig(t, srv.URL, nil), Hangup: 2.5})

	start := pbNonZeroFrom(x, 0)
	if start < 0 {
		t.Fatalf("nothing was played\n%s", desc)
	}
	// The clip was sent after the server had a second of the call's audio.
	if start < 50*pbFrame-pbFrame {
		t.Errorf("played audio starts at sample %d, before the server sent it (after %d)", start, 50*pbFrame)
	}
	first, last := pbSpan(x, start, pbThreshold)
	if first-start > 4 {
		t.Errorf("played audio starts at sample %d but is audible only from %d", start, first)
	}
	pbCheckSilent(t, x, last+2, len(x), "after the clip")
	want := int(sec * pbRate)
	if got := last + 1 - start; got < want-pbFrame || got > want+pbFrame {
		t.Errorf("the clip played %d samples, want %d ± %d", got, want, pbFrame)
	}
	if mid := Trim(x[start:last+1], pbRate, 0.03, 0.03); mid == nil {
		t.Errorf("the clip is too short to measure")
	} else if f := DominantFreq(mid, pbRate); math.Abs(f-hz) > 3 {
		t.Errorf("the clip is at %.2f Hz, want %.0f ± 3", f, hz)
	} else if l := RMSdBFS(mid); math.Abs(l-pbLevel) > 1 {
		t.Errorf("the clip is at %.2f dBFS, want %.0f ± 1", l, pbLevel)
	}
	pbCheckGapless(t, x, start+1, last, pbLevel, "the clip")
	if got := pt.events("play_start", "play_done"); strings.Join(got, " ") != "play_start:late play_done:late" {
		t.Errorf("play events %q, want play_start:late play_done:late\n%s", got, desc)
	}
	if pds := pbOfType(pbText(c), "playDone"); len(pds) != 1 {
		t.Errorf("%d playDone frames, want 1\n%s", len(pds), desc)
	}
}
