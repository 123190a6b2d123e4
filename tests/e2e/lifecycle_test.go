package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/wav"
)

// The lifecycle tests: how a listen ends (finishOnKey, maxLength, silence
// timeout, the server, the host), DTMF passed to the server, the beep, and
// the validation of those keys. The action hook's own tests are in
// hook_test.go; both share the helpers here (prefixed "lifecycle").

// lifecycleThresholdDb is the engine's default silence threshold: a 20 ms
// frame whose mean-square energy relative to full scale (32768²) is at or
// below it is silence (README, silenceThresholdDb).
const lifecycleThresholdDb = -45.0

// lifecycleCall is the --call of the lifecycle tests: the attributes every
// action hook body must carry.
var lifecycleCall = map[string]any{
	"callSid":    "lc-0001",
	"from":       "+15550100",
	"to":         "+15550199",
	"direction":  "inbound",
	"accountSid": "acct-42",
}

// lifecycleEnergyDb is the mean-square energy of x in dB relative to full
// scale, as the README defines the silence threshold.
func lifecycleEnergyDb(x []int16) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(x))/(32768.0*32768.0))
}

// lifecycleNoise is dur seconds of white Gaussian noise whose mean-square
// energy is dB relative to full scale (fixed seed: the same every run).
func lifecycleNoise(rate int, dB, dur float64, seed int64) []int16 {
	rng := rand.New(rand.NewSource(seed))
	sigma := 32768 * math.Pow(10, dB/20)
	out := make([]int16, int(math.Round(dur*float64(rate))))
	for i := range out {
		v := math.Round(rng.NormFloat64() * sigma)
		out[i] = int16(math.Max(-32768, math.Min(32767, v)))
	}
	return out
}

// lifecyclePeak is the largest absolute sample of x.
func lifecyclePeak(x []int16) float64 {
	var p float64
	for _, v := range x {
		p = math.Max(p, math.Abs(float64(v)))
	}
	return p
}

// lifecycleReadWAV reads a mono 16-bit WAV.
func lifecycleReadWAV(t testing.TB, path string) wav.Audio {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return a
}

// lifecycleSpeech makes real speech with espeak-ng: the phrases spoken one
// after the other (espeak-ng leaves short pauses between words and
// phrases), converted by sox to 8 kHz mono 16-bit. It skips the test when
// either tool is missing (scripts/setup installs both).
func lifecycleSpeech(t *testing.T, phrases ...string) []int16 {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/setup installs it): the silence timeout is tested on real speech", tool)
		}
	}
	dir := t.TempDir()
	var parts []string
	for i, p := range phrases {
		part := filepath.Join(dir, fmt.Sprintf("phrase%d.wav", i))
		if out, err := exec.Command("espeak-ng", "-w", part, p).CombinedOutput(); err != nil {
			t.Fatalf("espeak-ng: %v\n%s", err, out)
		}
		parts = append(parts, part)
	}
	out := filepath.Join(dir, "speech8k.wav")
	args := append(parts, "-r", "8000", "-c", "1", "-b", "16", out)
	if b, err := exec.Command("sox", args...).CombinedOutput(); err != nil {
		t.Fatalf("sox %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	a := lifecycleReadWAV(t, out)
	if a.Rate != 8000 || a.Channels != 1 {
		t.Fatalf("sox made %d Hz × %d channels, want 8000 × 1", a.Rate, a.Channels)
	}
	return a.Samples
}

// lifecycleFrameActivity splits x into 20 ms frames and tells for each
// whether it is above the silence threshold.
func lifecycleFrameActivity(x []int16, rate int) []bool {
	n := rate / 50
	var out []bool
	for i := 0; i+n <= len(x); i += n {
		out = append(out, lifecycleEnergyDb(x[i:i+n]) > lifecycleThresholdDb)
	}
	return out
}

// lifecycleTextIndex returns, for each text frame the server received, its
// text and how many binary frames came before it.
type lifecycleText struct {
	Text        string
	AudioBefore int
}

func lifecycleTexts(c *WSConn) []lifecycleText {
	var out []lifecycleText
	audio := 0
	for _, f := range c.Frames() {
		if f.Kind == websocket.BinaryMessage {
			audio++
			continue
		}
		out = append(out, lifecycleText{string(f.Data), audio})
	}
	return out
}

// lifecycleDTMFSpec is one digit of a --dtmf list.
type lifecycleDTMFSpec struct {
	Digit    string
	AtMs     int
	Duration int
}

func lifecycleParseDTMF(t testing.TB, list string) []lifecycleDTMFSpec {
	t.Helper()
	var out []lifecycleDTMFSpec
	for _, item := range strings.Split(list, ",") {
		d := lifecycleDTMFSpec{Digit: item[:1], Duration: 1600}
		rest := item[2:]
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			n, err := strconv.Atoi(rest[i+1:])
			if err != nil {
				t.Fatal(err)
			}
			d.Duration, rest = n, rest[:i]
		}
		s, err := strconv.ParseFloat(rest, 64)
		if err != nil {
			t.Fatal(err)
		}
		d.AtMs = int(math.Round(s * 1000))
		out = append(out, d)
	}
	return out
}

// lifecycleDTMFFrame is the exact text of the spec's DTMF frame.
func lifecycleDTMFFrame(digit string, duration int) string {
	return fmt.Sprintf(`{"event":"dtmf","dtmf":%q,"duration":"%d"}`, digit, duration)
}

// lifecycleHookReq is one request the hook server received.
type lifecycleHookReq struct {
	Method  string
	Path    string
	Header  http.Header
	Body    []byte
	User    string
	Pass    string
	HasAuth bool
	At      time.Time
}

// lifecycleHookServer is an action hook endpoint that records every request.
type lifecycleHookServer struct {
	URL string

	status     int    // answer status (default 200)
	answer     string // answer body
	hang       bool   // never answer (until the client gives up or the test ends)
	resetFirst int    // hijack and close this many first requests without an answer

	srv  *httptest.Server
	quit chan struct{}
	mu   sync.Mutex
	reqs []lifecycleHookReq
}

func newLifecycleHookServer(t testing.TB, configure func(h *lifecycleHookServer)) *lifecycleHookServer {
	t.Helper()
	h := &lifecycleHookServer{status: http.StatusOK, answer: `{"ok":true}`, quit: make(chan struct{})}
	if configure != nil {
		configure(h)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	h.URL = h.srv.URL + "/hook"
	t.Cleanup(func() {
		close(h.quit)
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

func (h *lifecycleHookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := readAllLimited(r)
	user, pass, ok := r.BasicAuth()
	h.mu.Lock()
	n := len(h.reqs)
	h.reqs = append(h.reqs, lifecycleHookReq{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(),
		Body: body, User: user, Pass: pass, HasAuth: ok, At: time.Now()})
	h.mu.Unlock()
	if n < h.resetFirst {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("hook server: no hijacker")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if h.hang {
		select {
		case <-r.Context().Done():
		case <-h.quit:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(h.status)
	w.Write([]byte(h.answer))
}

func readAllLimited(r *http.Request) ([]byte, error) {
	var buf strings.Builder
	b := make([]byte, 4096)
	for buf.Len() < 1<<20 {
		n, err := r.Body.Read(b)
		buf.Write(b[:n])
		if err != nil {
			break
		}
	}
	return []byte(buf.String()), nil
}

// Requests returns the requests received so far.
func (h *lifecycleHookServer) Requests() []lifecycleHookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]lifecycleHookReq(nil), h.reqs...)
}

// settle waits a little for a duplicate request, then returns all of them.
func (h *lifecycleHookServer) settle() []lifecycleHookReq {
	time.Sleep(300 * time.Millisecond)
	return h.Requests()
}

// lifecycleCheckHookBody checks an action hook body: the call's attributes,
// then reason, duration, durationMs matching the stop event, digits exactly
// when wantDigits is not "", error when wantError is (containing it).
func lifecycleCheckHookBody(t *testing.T, body []byte, call CallResult, wantReason, wantDigits, wantError string) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("hook body is not a JSON object: %v: %s", err, body)
		return
	}
	for k, v := range lifecycleCall {
		var got any
		if raw, ok := m[k]; !ok || json.Unmarshal(raw, &got) != nil || got != v {
			t.Errorf("hook body %s = %s, want %q (the call's attribute): %s", k, m[k], v, body)
		}
	}
	var reason string
	if json.Unmarshal(m["reason"], &reason); reason != wantReason {
		t.Errorf("hook body reason %s, want %q: %s", m["reason"], wantReason, body)
	}
	var durMs int64
	var dur float64
	if err := json.Unmarshal(m["durationMs"], &durMs); err != nil {
		t.Errorf("hook body durationMs %s is not an integer: %s", m["durationMs"], body)
	}
	if err := json.Unmarshal(m["duration"], &dur); err != nil {
		t.Errorf("hook body duration %s is not a number: %s", m["duration"], body)
	}
	if math.Abs(dur*1000-float64(durMs)) > 0.5 {
		t.Errorf("hook body duration %g s does not match durationMs %d", dur, durMs)
	}
	if call.DurationMs == nil {
		t.Errorf("stop event has no durationMs")
	} else if *call.DurationMs != durMs {
		t.Errorf("hook body durationMs %d, stop event durationMs %d", durMs, *call.DurationMs)
	}
	raw, has := m["digits"]
	switch {
	case wantDigits == "" && has:
		t.Errorf("hook body has digits %s, but no key ended the listen", raw)
	case wantDigits != "":
		var d string
		if json.Unmarshal(raw, &d); d != wantDigits {
			t.Errorf("hook body digits %s, want %q", raw, wantDigits)
		}
	}
	raw, has = m["error"]
	switch {
	case wantError == "" && has:
		t.Errorf("hook body has error %s, but no error ended the listen (reason %s)", raw, wantReason)
	case wantError != "":
		var e string
		if json.Unmarshal(raw, &e); e == "" || !strings.Contains(e, wantError) {
			t.Errorf("hook body error %s, want a text containing %q", raw, wantError)
		}
	}
}

// TestLifecyclePassDtmf: with passDtmf every digit reaches the server as the
// spec's exact frame {"event":"dtmf","dtmf":"2","duration":"1600"}, in
// order, with its own duration, at its place in the audio (after N ± 2
// audio frames for a digit at N × 20 ms); without it, no DTMF frame is sent
// but the host still gets every dtmf event.
func TestLifecyclePassDtmf(t *testing.T) {
	t.Parallel()
	const list = "1@0.5,2@0.8:800,*@1.1,#@1.4:2400,A@1.7"
	digits := lifecycleParseDTMF(t, list)
	on := NewWSServer(t, nil)
	off := NewWSServer(t, nil)
	results := RunSims(t, []Sim{
		{Config: mustJSON(t, map[string]any{"url": on.URL, "passDtmf": true}), DTMF: list, Hangup: 2.2, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": off.URL, "passDtmf": false}), DTMF: list, Hangup: 2.2, QuietLog: true},
	})
	checkEvents := func(t *testing.T, call CallResult) {
		t.Helper()
		ev := call.EventsNamed("dtmf")
		if len(ev) != len(digits) {
			t.Fatalf("%d dtmf events, want %d: %v", len(ev), len(digits), ev)
		}
		for i, e := range ev {
			var dur int
			e.Field("duration", &dur)
			if e.String("dtmf") != digits[i].Digit || dur != digits[i].Duration {
				t.Errorf("dtmf event %d: %s, want digit %q duration %d", i, e.JSON, digits[i].Digit, digits[i].Duration)
			}
		}
	}
	t.Run("on", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup", call.ReasonString())
		}
		checkEvents(t, call)
		c := on.WaitDone(t, 1, 5*time.Second)[0]
		texts := lifecycleTexts(c)
		if len(texts) != 1+len(digits) {
			t.Fatalf("%d text frames, want the first frame and %d DTMF frames: %v", len(texts), len(digits), texts)
		}
		if texts[0].AudioBefore != 0 {
			t.Errorf("the first text frame came after %d audio frames", texts[0].AudioBefore)
		}
		for i, d := range digits {
			got := texts[1+i]
			if want := lifecycleDTMFFrame(d.Digit, d.Duration); got.Text != want {
				t.Errorf("DTMF frame %d is %s, want exactly %s", i, got.Text, want)
			}
			want := d.AtMs / 20
			if got.AudioBefore < want-2 || got.AudioBefore > want+2 {
				t.Errorf("DTMF frame %d (%s at %d ms) came after %d audio frames, want %d ± 2",
					i, d.Digit, d.AtMs, got.AudioBefore, want)
			}
			t.Logf("%s after %d audio frames (pressed at frame %d)", got.Text, got.AudioBefore, want)
		}
		if code, _ := c.CloseCode(); code != websocket.CloseNormalClosure {
			t.Errorf("close code %d, want 1000", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		r := results[1]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		checkEvents(t, call)
		c := off.WaitDone(t, 1, 5*time.Second)[0]
		texts := lifecycleTexts(c)
		if len(texts) != 1 {
			t.Errorf("%d text frames with passDtmf off, want only the first frame: %v", len(texts), texts)
		}
		if n := len(c.BinaryFrames()); n < 105 {
			t.Errorf("%d audio frames for a 2.2 s call", n)
		}
	})
}

// TestLifecycleFinishOnKey: finishOnKey "#*" ends the listen on either key
// (a digit that is not in the set does not): reason finishOnKey, digits the
// key, in the stop event and the action hook; with passDtmf the ending key's
// DTMF frame reaches the server before the socket closes with 1000.
func TestLifecycleFinishOnKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key  string
		dtmf string
	}{
		{"*", "1@0.4,*@1.0,5@1.5"},
		{"#", "2@0.4,#@1.0,5@1.5"},
	}
	servers := make([]*WSServer, len(cases))
	hooks := make([]*lifecycleHookServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = NewWSServer(t, nil)
		hooks[i] = newLifecycleHookServer(t, nil)
		sims[i] = Sim{Config: mustJSON(t, map[string]any{"url": servers[i].URL, "finishOnKey": "#*",
			"passDtmf": true, "actionHook": hooks[i].URL}),
			Call: mustJSON(t, lifecycleCall), DTMF: tc.dtmf, Hangup: 3, QuietLog: true}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run("key"+map[string]string{"*": "Star", "#": "Hash"}[tc.key], func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if call.ReasonString() != "finishOnKey" {
				t.Errorf("stop reason %s, want finishOnKey\n%s", call.ReasonString(), r.Describe())
			}
			if call.Digits == nil || *call.Digits != tc.key {
				t.Errorf("stop event digits %v, want %q", call.Digits, tc.key)
			}
			if call.DurationMs == nil || *call.DurationMs < 980 || *call.DurationMs > 1100 {
				t.Errorf("durationMs %v, want the key's time, 1000 (980..1100)", call.DurationMs)
			}
			reqs := hooks[i].settle()
			if len(reqs) != 1 {
				t.Fatalf("%d hook requests, want 1", len(reqs))
			}
			lifecycleCheckHookBody(t, reqs[0].Body, call, "finishOnKey", tc.key, "")

			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			texts := lifecycleTexts(c)
			var dtmf []string
			for _, x := range texts[1:] {
				dtmf = append(dtmf, x.Text)
			}
			first := string(cases[i].dtmf[0])
			want := []string{lifecycleDTMFFrame(first, 1600), lifecycleDTMFFrame(tc.key, 1600)}
			if strings.Join(dtmf, "\n") != strings.Join(want, "\n") {
				t.Errorf("DTMF frames received:\n%s\nwant:\n%s", strings.Join(dtmf, "\n"), strings.Join(want, "\n"))
			}
			if code, text := c.CloseCode(); code != websocket.CloseNormalClosure {
				t.Errorf("close code %d %q after the key's DTMF frame, want 1000", code, text)
			}
			if len(texts) > 0 {
				last := texts[len(texts)-1]
				t.Logf("key frame after %d audio frames; %d audio frames in all; stop %s",
					last.AudioBefore, len(c.BinaryFrames()), mustStop(call))
			}
		})
	}
}

func mustStop(c CallResult) string {
	if s, ok := c.Stop(); ok {
		return string(s.JSON)
	}
	return "<none>"
}

// TestLifecycleMaxLength: maxLength 2 ends the listen after 2 s of media
// (the server gets 100 ± 1 frames of 20 ms) with reason maxLength, though
// the call lasts 5 s; the socket closes with 1000.
func TestLifecycleMaxLength(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	caller := WriteWAV(t, "tone.wav", 8000, Sine(8000, 440, -10, 5))
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "maxLength": 2}),
		Caller: caller, Hangup: 5, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "maxLength" {
		t.Errorf("stop reason %s, want maxLength\n%s", call.ReasonString(), r.Describe())
	}
	if call.DurationMs == nil || *call.DurationMs < 1980 || *call.DurationMs > 2020 {
		t.Errorf("durationMs %v, want 2000 ± 20", call.DurationMs)
	}
	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	if n := len(c.BinaryFrames()); n < 99 || n > 101 {
		t.Errorf("the server received %d audio frames (%.2f s), want 100 ± 1 (2 s)", n, float64(n)/50)
	}
	if code, _ := c.CloseCode(); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	if call.FramesIn >= 250 {
		t.Errorf("the call pushed %d frames: it went on to its 5 s hangup after maxLength", call.FramesIn)
	}
	t.Logf("%d frames, stop %s", len(c.BinaryFrames()), mustStop(call))
}

// TestLifecycleTimeoutSpeech: timeout 2 on real speech (espeak-ng) followed
// by silence, or by white noise at -50 dBFS, until speech_end + 4 s: the
// listen ends with reason "timeout" at speech_end + 2 s ± 100 ms of media
// (speech_end: the end of the last 20 ms frame above -45 dBFS), never while
// the speech went on (its pauses are shorter than 2 s), and all the speech
// reached the server.
func TestLifecycleTimeoutSpeech(t *testing.T) {
	t.Parallel()
	const rate = 8000
	speech := lifecycleSpeech(t, "Hello, I would like to check my balance.", "Thank you.")
	active := lifecycleFrameActivity(speech, rate)
	last, firstActive := -1, -1
	for i, a := range active {
		if a {
			last = i
			if firstActive < 0 {
				firstActive = i
			}
		}
	}
	if last < 0 {
		t.Fatal("espeak-ng made no frame above -45 dBFS")
	}
	// The input must be what the test says it is: 2 s or more of speech
	// whose pauses are all shorter than the timeout.
	longestPause, run := 0, 0
	for _, a := range active[firstActive : last+1] {
		if a {
			run = 0
		} else if run++; run > longestPause {
			longestPause = run
		}
	}
	speechEndMs := (last + 1) * 20
	if span := speechEndMs - firstActive*20; span < 2000 || longestPause*20 >= 1500 {
		t.Fatalf("the speech is unsuitable: %d ms from first to last active frame (want ≥ 2000), longest pause %d ms (want < 1500)",
			span, longestPause*20)
	}
	t.Logf("speech: active from %d ms to %d ms, longest pause %d ms", firstActive*20, speechEndMs, longestPause*20)
	head := speech[:speechEndMs*rate/1000]

	cases := []struct {
		name string
		tail []int16
	}{
		{"silence", make([]int16, 4*rate)},
		{"noise-50dBFS", lifecycleNoise(rate, -50, 4, 7)},
	}
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	callers := make([][]int16, len(cases))
	for i, tc := range cases {
		callers[i] = append(append([]int16(nil), head...), tc.tail...)
		// The tail must be silence by the engine's definition.
		for j, a := range lifecycleFrameActivity(callers[i], rate) {
			if a && j >= len(head)/(rate/50) {
				t.Fatalf("%s: tail frame %d is above the threshold", tc.name, j)
			}
		}
		servers[i] = NewWSServer(t, nil)
		sims[i] = Sim{Config: mustJSON(t, map[string]any{"url": servers[i].URL, "timeout": 2}),
			Caller: WriteWAV(t, tc.name+".wav", rate, callers[i]), QuietLog: true}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if call.ReasonString() != "timeout" {
				t.Errorf("stop reason %s, want timeout\n%s", call.ReasonString(), r.Describe())
			}
			want := int64(speechEndMs + 2000)
			if call.DurationMs == nil {
				t.Fatalf("stop event without durationMs\n%s", r.Describe())
			}
			got := *call.DurationMs
			if got <= int64(speechEndMs) {
				t.Errorf("the listen ended at %d ms, while the speech went on (to %d ms)", got, speechEndMs)
			}
			if got < want-100 || got > want+100 {
				t.Errorf("the listen ended at %d ms of media, want speech_end %d + 2000 = %d ± 100", got, speechEndMs, want)
			}
			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			audio := c.Audio()
			if len(audio) < len(head) {
				t.Fatalf("the server received %d ms of audio, less than the %d ms of speech", len(audio)/8, speechEndMs)
			}
			for j := range head {
				if audio[j] != head[j] {
					t.Fatalf("received audio differs from the speech at sample %d", j)
				}
			}
			if n := len(c.BinaryFrames()); math.Abs(float64(n*20)-float64(got)) > 40 {
				t.Errorf("%d frames received (%d ms), stop durationMs %d", n, n*20, got)
			}
			t.Logf("speech_end %d ms, stop at %d ms of media: %s", speechEndMs, got, mustStop(call))
		})
	}
}

// TestLifecycleSilenceNoiseOnly: 3 s of white noise at -50 dBFS and nothing
// else, with timeout 2: noise below the threshold counts as silence, the
// listen ends at 2000 ± 100 ms of media with reason timeout.
func TestLifecycleSilenceNoiseOnly(t *testing.T) {
	t.Parallel()
	noise := lifecycleNoise(8000, -50, 3, 11)
	for j, a := range lifecycleFrameActivity(noise, 8000) {
		if a {
			t.Fatalf("noise frame %d is above the threshold", j)
		}
	}
	t.Logf("noise: %.2f dBFS mean square", lifecycleEnergyDb(noise))
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "timeout": "2"}),
		Caller: WriteWAV(t, "noise.wav", 8000, noise), QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "timeout" {
		t.Errorf("stop reason %s, want timeout\n%s", call.ReasonString(), r.Describe())
	}
	if call.DurationMs == nil || *call.DurationMs < 1900 || *call.DurationMs > 2100 {
		t.Errorf("durationMs %v, want 2000 ± 100", call.DurationMs)
	}
	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	if code, _ := c.CloseCode(); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	t.Logf("stop %s", mustStop(call))
}

// TestLifecyclePlayBeep: playBeep plays the beep (1 kHz, 400 ms) into the
// call before anything else, starting within the first 60 ms; it is never
// sent to the server: with a silent caller, the server gets silence.
func TestLifecyclePlayBeep(t *testing.T) {
	t.Parallel()
	const rate = 8000
	srv := NewWSServer(t, nil)
	played := filepath.Join(t.TempDir(), "played.wav")
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "playBeep": true}),
		Played: played, Hangup: 1.5, QuietLog: true})
	r.MustSucceed(t, 1)
	a := lifecycleReadWAV(t, played)
	if a.Rate != rate || a.Channels != 1 {
		t.Fatalf("--played is %d Hz × %d", a.Rate, a.Channels)
	}
	x := a.Samples
	// The beep's ramps start and end at zero: its extent is its nonzero samples.
	first, last := -1, -1
	for i, v := range x {
		if v != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatalf("nothing was played into the call (%d samples of --played)\n%s", len(x), r.Describe())
	}
	if peak := lifecyclePeak(x[first:min(first+rate/100, last+1)]); peak > Amplitude(-12)*1.05 {
		t.Errorf("the first 10 ms played peak at %.0f, louder than the beep (%.0f): something else was played first", peak, Amplitude(-12))
	}
	startMs := float64(first) * 1000 / rate
	lenMs := float64(last+1-first) * 1000 / rate
	if startMs > 60 {
		t.Errorf("the beep starts at %.1f ms of the call, want within 60 ms", startMs)
	}
	if math.Abs(lenMs-400) > 20 {
		t.Errorf("the beep lasts %.1f ms, want 400 ± 20", lenMs)
	}
	beep := x[first : last+1]
	if f := DominantFreq(beep, rate); math.Abs(f-1000) > 5 {
		t.Errorf("the beep's dominant frequency is %.1f Hz, want 1000", f)
	}
	if ms := float64(len(x)-last-1) * 1000 / rate; ms < 900 {
		t.Errorf("only %.0f ms of silence after the beep in a 1.5 s call", ms)
	}
	if l := RMSdBFS(Trim(beep, rate, 0.02, 0.02)); math.Abs(l+12) > 1 {
		t.Errorf("the beep is at %.1f dBFS, want -12 ± 1", l)
	}
	t.Logf("beep at %.1f ms for %.1f ms, %.1f Hz, %.1f dBFS", startMs, lenMs, DominantFreq(beep, rate), RMSdBFS(Trim(beep, rate, 0.02, 0.02)))

	c := srv.WaitDone(t, 1, 5*time.Second)[0]
	audio := c.Audio()
	if len(audio) < rate { // 1.5 s call
		t.Errorf("the server received only %d samples", len(audio))
	}
	nonzero := 0
	for _, v := range audio {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero > 0 {
		t.Errorf("the caller was silent, but %d of %d samples the server received are not: %.1f dBFS at 1 kHz",
			nonzero, len(audio), ToneDBFS(audio, rate, 1000))
	}
}

// TestLifecycleConfigValidation: each invalid lifecycle key is refused by
// listen_stream_create with an error naming the key.
func TestLifecycleConfigValidation(t *testing.T) {
	t.Parallel()
	const url = `"url":"ws://127.0.0.1:9/x"`
	cases := []struct {
		name, config, key string
	}{
		{"maxLength-negative", `{` + url + `,"maxLength":-1}`, `"maxLength"`},
		{"finishOnKey-x", `{` + url + `,"finishOnKey":"#x"}`, `"finishOnKey"`},
		{"actionHook-ftp", `{` + url + `,"actionHook":"ftp://x"}`, `"actionHook"`},
		{"timeout-abc", `{` + url + `,"timeout":"abc"}`, `"timeout"`},
	}
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		sims[i] = Sim{Config: tc.config, Hangup: 0.2}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			if r.ExitCode != 2 {
				t.Errorf("exit code %d, want 2 (refused config)\n%s", r.ExitCode, r.Describe())
			}
			if len(r.Calls) != 1 {
				t.Fatalf("%d call lines, want 1\n%s", len(r.Calls), r.Describe())
			}
			call := r.Calls[0]
			if !strings.Contains(call.Error, tc.key) {
				t.Errorf("error %q does not name %s", call.Error, tc.key)
			}
			if !strings.Contains(r.Stderr, tc.key) {
				t.Errorf("stderr does not name %s", tc.key)
			}
			if call.Reason != nil || len(call.Events) != 0 {
				t.Errorf("a refused stream has reason %s and events %v", call.ReasonString(), call.Events)
			}
			t.Logf("error: %s", call.Error)
		})
	}
}
