package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The nested transcribe, end to end: switchsim → liblisten.so → recognizers
// written here from the vendors' public protocol references (the jambonz
// custom speech-to-text API, Deepgram's live streaming API).

const sttKey = "stt-key-5b1e9d"

// sttRecognizer records what a recognizer connection received, as the
// vendor's server would see it.
type sttRecognizer struct {
	mu       sync.Mutex
	header   string // the Authorization header of the upgrade
	query    url.Values
	texts    []sttText // text frames, with the audio received before each
	audio    []byte
	frameLen map[int]int // binary frame sizes seen
	last     time.Time
	closeErr error
}

type sttText struct {
	Data        string
	AudioBefore int // bytes of audio received before it
	Gap         time.Duration
}

func (r *sttRecognizer) record(kind int, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	gap := time.Duration(0)
	if !r.last.IsZero() {
		gap = now.Sub(r.last)
	}
	if kind == websocket.BinaryMessage {
		r.audio = append(r.audio, data...)
		if r.frameLen == nil {
			r.frameLen = map[int]int{}
		}
		r.frameLen[len(data)]++
		r.last = now
		return
	}
	r.texts = append(r.texts, sttText{Data: string(data), AudioBefore: len(r.audio), Gap: gap})
}

func (r *sttRecognizer) snapshot() (texts []sttText, audio []byte, sizes map[int]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sizes = map[int]int{}
	for k, v := range r.frameLen {
		sizes[k] = v
	}
	return append([]sttText(nil), r.texts...), append([]byte(nil), r.audio...), sizes
}

func (r *sttRecognizer) samples() []int16 {
	_, audio, _ := r.snapshot()
	out := make([]int16, len(audio)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(audio[2*i:]))
	}
	return out
}

// customRecognizer is a jambonz custom speech server: after a second of
// audio it answers an interim and a final transcription; after "stop" it
// sends one more final and closes the socket, as the API asks.
func customRecognizer(rec *sttRecognizer) Handler {
	return func(c *WSConn) {
		rec.mu.Lock()
		rec.header = c.Header.Get("Authorization")
		rec.mu.Unlock()
		sent := false
		for {
			kind, data, err := c.ReadMessage()
			if err != nil {
				rec.mu.Lock()
				rec.closeErr = err
				rec.mu.Unlock()
				return
			}
			rec.record(kind, data)
			_, audio, _ := rec.snapshot()
			if !sent && len(audio) >= 32000 {
				sent = true
				c.SendJSON(map[string]any{"type": "transcription", "is_final": false,
					"alternatives": []map[string]any{{"transcript": "hello", "confidence": 0.5}}})
				c.SendJSON(map[string]any{"type": "transcription", "is_final": true,
					"alternatives": []map[string]any{{"transcript": "hello world", "confidence": 0.92},
						{"transcript": "hollow world", "confidence": 0.31}}})
			}
			if kind == websocket.TextMessage && strings.Contains(string(data), `"stop"`) {
				c.SendJSON(map[string]any{"type": "transcription", "is_final": true,
					"alternatives": []map[string]any{{"transcript": "goodbye", "confidence": 0.88}}})
				c.CloseWith(websocket.CloseNormalClosure, "")
				c.ReadMessage() // the client's close reply
				return
			}
		}
	}
}

func sttTranscripts(call CallResult) []map[string]any {
	var out []map[string]any
	for _, e := range call.EventsNamed("transcription") {
		var m map[string]any
		json.Unmarshal(e.JSON, &m)
		out = append(out, m)
	}
	return out
}

// TestTranscribeCustom: the start frame field by field, the Bearer key, the
// caller's tone at sampleRateHz; interim and final transcripts as events,
// hook POSTs in the jambonz shape and forwarded text frames; the last final,
// sent after "stop", in the actionHook's transcript.
func TestTranscribeCustom(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, customRecognizer(rec))
	listen := NewWSServer(t, nil)
	hooks := newLifecycleHookServer(t, nil)
	actions := newLifecycleHookServer(t, nil)
	cfg := map[string]any{"url": listen.URL, "actionHook": actions.URL,
		"transcribe": map[string]any{
			"transcriptionHook": hooks.URL, "forward": true,
			"recognizer": map[string]any{"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey},
				"language": "de-DE", "interim": true, "channels": "caller", "sampleRate": 16000},
		}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Call: `{"callSid":"c-77","from":"+15550100"}`,
		Extra: []string{"--caller-tone", "440:-10"}, Hangup: 3, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("stop reason %s, want hangup\n%s", call.ReasonString(), r.Describe())
	}
	stt.WaitDone(t, 1, 5*time.Second)

	texts, audio, sizes := rec.snapshot()
	if rec.header != "Bearer "+sttKey {
		t.Errorf("Authorization %q, want the Bearer key", rec.header)
	}
	if len(texts) != 2 {
		t.Fatalf("text frames %v, want start and stop", texts)
	}
	var start map[string]any
	if err := json.Unmarshal([]byte(texts[0].Data), &start); err != nil {
		t.Fatalf("start frame %q: %v", texts[0].Data, err)
	}
	want := map[string]any{"type": "start", "language": "de-DE", "format": "raw", "encoding": "LINEAR16",
		"sampleRateHz": 16000.0, "interimResults": true}
	if !reflect.DeepEqual(start, want) || texts[0].AudioBefore != 0 {
		t.Errorf("start frame %s (after %d bytes of audio), want %v first", texts[0].Data, texts[0].AudioBefore, want)
	}
	if texts[1].Data != `{"type":"stop"}` || texts[1].AudioBefore != len(audio) {
		t.Errorf("last text frame %q after %d of %d bytes of audio, want stop after all of it", texts[1].Data, texts[1].AudioBefore, len(audio))
	}
	if len(sizes) != 1 || sizes[640] == 0 {
		t.Errorf("binary frame sizes %v, want 640 bytes (20 ms at 16 kHz) only", sizes)
	}
	// The whole call, to the sample: 150 frames of 20 ms at 16 kHz.
	if len(audio) != 150*640 {
		t.Errorf("the recognizer got %d bytes of audio, want %d (3 s)", len(audio), 150*640)
	}
	mid := Trim(rec.samples(), 16000, 0.2, 0.2)
	if f := DominantFreq(mid, 16000); math.Abs(f-440) > 2 {
		t.Errorf("recognizer audio at %.1f Hz, want the caller's 440", f)
	}
	if l := RMSdBFS(mid); math.Abs(l+10) > 1 {
		t.Errorf("recognizer audio at %.1f dBFS, want the caller's -10", l)
	}

	// Events, in order: interim, final, and the final sent after stop.
	got := sttTranscripts(call)
	type tr struct {
		text  string
		final bool
	}
	wantTr := []tr{{"hello", false}, {"hello world", true}, {"goodbye", true}}
	if len(got) != len(wantTr) {
		t.Fatalf("transcription events %v, want %v", got, wantTr)
	}
	for i, w := range wantTr {
		g := got[i]
		if _, ok := g["speech_final"]; ok {
			t.Errorf("transcription event %d: %v has speech_final, which the custom API does not tell", i, g)
		}
		if g["transcript"] != w.text || g["is_final"] != w.final || g["party"] != "caller" ||
			g["vendor"] != "custom" || g["language_code"] != "de-DE" || g["channel_tag"] != 1.0 {
			t.Errorf("transcription event %d: %v, want %q final=%v party caller", i, g, w.text, w.final)
		}
	}
	if alts, _ := got[1]["alternatives"].([]any); len(alts) != 2 {
		t.Errorf("the final's alternatives %v, want both", got[1]["alternatives"])
	}
	if n := len(call.EventsNamed("transcription_error")); n != 0 {
		t.Errorf("%d transcription_error events: %v", n, call.EventsNamed("transcription_error"))
	}
	if ev := call.Events[len(call.Events)-1]; ev.Name != "stop" {
		t.Errorf("last event %s, want stop", ev.Name)
	}

	// The transcription hook: one POST per transcript, jambonz's body shape.
	reqs := hooks.settle()
	if len(reqs) != len(wantTr) {
		t.Fatalf("%d transcription hook requests, want %d", len(reqs), len(wantTr))
	}
	for i, w := range wantTr {
		var body struct {
			CallSid string `json:"callSid"`
			Party   string `json:"party"`
			Speech  struct {
				LanguageCode string `json:"language_code"`
				ChannelTag   int    `json:"channel_tag"`
				IsFinal      bool   `json:"is_final"`
				Alternatives []struct {
					Transcript string   `json:"transcript"`
					Confidence *float64 `json:"confidence"`
				} `json:"alternatives"`
			} `json:"speech"`
		}
		if err := json.Unmarshal(reqs[i].Body, &body); err != nil {
			t.Fatalf("hook body %s: %v", reqs[i].Body, err)
		}
		sp := body.Speech
		if reqs[i].Method != "POST" || body.CallSid != "c-77" || body.Party != "caller" || sp.LanguageCode != "de-DE" ||
			sp.ChannelTag != 1 || sp.IsFinal != w.final || len(sp.Alternatives) == 0 ||
			sp.Alternatives[0].Transcript != w.text || sp.Alternatives[0].Confidence == nil {
			t.Errorf("hook %d: %s %s, want %q final=%v", i, reqs[i].Method, reqs[i].Body, w.text, w.final)
		}
	}

	// Forwarded on the listen's socket: the transcripts that came while it was open.
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	var fwd []map[string]any
	for _, f := range c.TextFrames() {
		var m struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if json.Unmarshal([]byte(f), &m) == nil && m.Type == "transcription" {
			fwd = append(fwd, m.Data)
		}
	}
	if len(fwd) < 2 || fwd[0]["transcript"] != "hello" || fwd[1]["transcript"] != "hello world" || fwd[1]["is_final"] != true {
		t.Errorf("forwarded transcription frames %v, want hello (interim), hello world (final)", fwd)
	}

	// The actionHook carries the whole final transcript.
	areqs := actions.settle()
	if len(areqs) != 1 {
		t.Fatalf("%d action hook requests, want 1", len(areqs))
	}
	var ab struct {
		Reason     string `json:"reason"`
		Transcript []struct {
			Party      string  `json:"party"`
			TimeMs     *int64  `json:"timeMs"`
			Transcript string  `json:"transcript"`
			Confidence float64 `json:"confidence"`
		} `json:"transcript"`
	}
	json.Unmarshal(areqs[0].Body, &ab)
	if ab.Reason != "hangup" || len(ab.Transcript) != 2 || ab.Transcript[0].Transcript != "hello world" ||
		ab.Transcript[1].Transcript != "goodbye" || ab.Transcript[0].Party != "caller" ||
		ab.Transcript[0].TimeMs == nil || ab.Transcript[0].Confidence != 0.92 {
		t.Errorf("action hook body %s, want the two finals", areqs[0].Body)
	}
	if strings.Contains(r.Stdout+r.Stderr, sttKey) {
		t.Errorf("the key appears in switchsim's output")
	}
}

// deepgramRecognizer follows Deepgram's live streaming API: it answers with
// Results (an interim, a final), and on CloseStream with the last final,
// a Metadata message and the close.
func deepgramRecognizer(rec *sttRecognizer, results func(c *WSConn, audio int) bool) Handler {
	return func(c *WSConn) {
		u, _ := url.Parse(c.Path)
		rec.mu.Lock()
		rec.header = c.Header.Get("Authorization")
		rec.query = u.Query()
		rec.mu.Unlock()
		sent := false
		for {
			kind, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			rec.record(kind, data)
			_, audio, _ := rec.snapshot()
			if !sent {
				sent = results(c, len(audio))
			}
			if kind == websocket.TextMessage && string(data) == `{"type":"CloseStream"}` {
				c.SendJSON(dgResults(0, 1, 2.5, true, "three"))
				c.SendJSON(map[string]any{"type": "Metadata", "request_id": "r-1", "duration": 6.0, "channels": 1})
				c.CloseWith(websocket.CloseNormalClosure, "")
				c.ReadMessage()
				return
			}
		}
	}
}

func dgResults(channel, channels int, start float64, final bool, text string) map[string]any {
	return map[string]any{"type": "Results", "channel_index": []int{channel, channels}, "duration": 1.0,
		"start": start, "is_final": final, "speech_final": final,
		"channel": map[string]any{"alternatives": []map[string]any{{"transcript": text, "confidence": 0.9, "words": []any{}}}}}
}

// TestTranscribeDeepgram: the query parameters and the Token header; a
// KeepAlive while the caller's audio is paused for 5 s and none while it
// flows; CloseStream last; Results mapped to transcripts with is_final
// (interims not asked for are not delivered, a channel never sent is the
// first).
func TestTranscribeDeepgram(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, deepgramRecognizer(rec, func(c *WSConn, audio int) bool {
		if audio < 16000 { // a second at 8 kHz
			return false
		}
		c.SendJSON(dgResults(0, 1, 0.2, false, "one"))
		c.SendJSON(dgResults(0, 1, 0.2, true, "one two"))
		c.SendJSON(dgResults(0, 1, 1.4, true, ""))      // silence
		c.SendJSON(dgResults(3, 4, 1.6, true, "stray")) // a channel never sent
		return true
	}))
	listen := NewWSServer(t, nil)
	cfg := map[string]any{"url": listen.URL,
		"transcribe": map[string]any{"recognizer": map[string]any{"vendor": "deepgram", "url": stt.URL + "?tier=x",
			"auth": map[string]any{"apiKey": sttKey}, "model": "nova-3"}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "300", "--pause", "1.5", "--resume", "6.5"},
		Hangup: 7.5, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	stt.WaitDone(t, 1, 5*time.Second)
	texts, audio, _ := rec.snapshot()
	if rec.header != "Token "+sttKey {
		t.Errorf("Authorization %q, want the Token key", rec.header)
	}
	wantQ := url.Values{"tier": {"x"}, "encoding": {"linear16"}, "sample_rate": {"8000"}, "channels": {"1"},
		"language": {"en-US"}, "model": {"nova-3"}, "interim_results": {"false"}, "punctuate": {"true"}}
	if !reflect.DeepEqual(rec.query, wantQ) {
		t.Errorf("query %v, want %v", rec.query, wantQ)
	}
	var keepAlives []sttText
	for _, tx := range texts[:max(len(texts)-1, 0)] {
		if tx.Data != `{"type":"KeepAlive"}` {
			t.Errorf("text frame %q, want KeepAlive or CloseStream only", tx.Data)
		}
		keepAlives = append(keepAlives, tx)
	}
	if len(keepAlives) == 0 {
		t.Errorf("no KeepAlive during the 5 s pause")
	}
	for _, k := range keepAlives {
		// Sent during the pause only: 1.5 s of audio came before it.
		if math.Abs(float64(k.AudioBefore)/16000-1.5) > 0.1 || k.Gap < 2900*time.Millisecond {
			t.Errorf("KeepAlive after %.2f s of audio, %v after the last frame; want during the pause, ≥ 3 s after audio",
				float64(k.AudioBefore)/16000, k.Gap)
		}
	}
	if len(texts) == 0 || texts[len(texts)-1].Data != `{"type":"CloseStream"}` || texts[len(texts)-1].AudioBefore != len(audio) {
		t.Errorf("last text frame %v, want CloseStream after all the audio", texts)
	}
	if secs := float64(len(audio)) / 16000; math.Abs(secs-2.5) > 0.1 {
		t.Errorf("%.2f s of audio, want 2.5 (7.5 s less the 5 s paused)", secs)
	}
	got := sttTranscripts(call)
	if len(got) != 3 || got[0]["transcript"] != "one two" || got[0]["is_final"] != true ||
		got[2]["transcript"] != "three" || got[2]["is_final"] != true || got[0]["party"] != "caller" ||
		got[0]["speech_final"] != true || got[1]["transcript"] != "stray" || got[1]["channel_tag"] != 1.0 {
		t.Errorf("transcription events %v, want finals one two, stray (on channel 1), three (speech_final)", got)
	}
	if n := len(call.EventsNamed("transcription_error")); n != 0 {
		t.Errorf("transcription_error: %v", call.EventsNamed("transcription_error"))
	}
}

// TestTranscribeBothChannels: a mono listen whose recognizer hears both
// parties gets two channels (caller left, the other party right), and each
// transcript names its party.
func TestTranscribeBothChannels(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, deepgramRecognizer(rec, func(c *WSConn, audio int) bool {
		if audio < 32000 {
			return false
		}
		c.SendJSON(dgResults(0, 2, 0.1, true, "I am the caller"))
		c.SendJSON(dgResults(1, 2, 0.3, true, "and I answer"))
		return true
	}))
	listen := NewWSServer(t, nil)
	actions := newLifecycleHookServer(t, nil)
	callee := WriteWAV(t, "callee.wav", 8000, Sine(8000, 1000, -16, 3))
	cfg := map[string]any{"url": listen.URL, "actionHook": actions.URL,
		"transcribe": map[string]any{"recognizer": map[string]any{"vendor": "deepgram", "url": stt.URL,
			"auth": map[string]any{"apiKey": sttKey}, "channels": "both", "sampleRate": "16000"}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "440:-10"}, Callee: callee,
		Hangup: 3, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	stt.WaitDone(t, 1, 5*time.Second)
	if rec.query.Get("channels") != "2" || rec.query.Get("multichannel") != "true" || rec.query.Get("sample_rate") != "16000" {
		t.Errorf("query %v, want channels=2 multichannel=true sample_rate=16000", rec.query)
	}
	_, _, sizes := rec.snapshot()
	if len(sizes) != 1 || sizes[1280] == 0 {
		t.Errorf("frame sizes %v, want 1280 (20 ms of 16 kHz stereo)", sizes)
	}
	all := rec.samples()
	left, right := make([]int16, len(all)/2), make([]int16, len(all)/2)
	for i := range left {
		left[i], right[i] = all[2*i], all[2*i+1]
	}
	for _, ch := range []struct {
		name      string
		x         []int16
		hz, level float64
	}{{"left (caller)", left, 440, -10}, {"right (callee)", right, 1000, -16}} {
		mid := Trim(ch.x, 16000, 0.2, 0.2)
		if f := DominantFreq(mid, 16000); math.Abs(f-ch.hz) > 2 {
			t.Errorf("%s at %.1f Hz, want %.0f", ch.name, f, ch.hz)
		}
		if l := RMSdBFS(mid); math.Abs(l-ch.level) > 1 {
			t.Errorf("%s at %.1f dBFS, want %.0f", ch.name, l, ch.level)
		}
	}
	got := sttTranscripts(call)
	if len(got) != 3 || got[0]["party"] != "caller" || got[0]["channel_tag"] != 1.0 ||
		got[1]["party"] != "callee" || got[1]["channel_tag"] != 2.0 || got[1]["transcript"] != "and I answer" {
		t.Errorf("transcription events %v, want the caller's then the callee's, then the last final", got)
	}
	// The listen itself stays mono: 160-sample frames of the caller.
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	checkWireFrames(t, c, 8000, 1)
	areqs := actions.settle()
	if len(areqs) != 1 || !strings.Contains(string(areqs[0].Body), `{"party":"callee","timeMs":300,"transcript":"and I answer"`) {
		t.Errorf("action hook %v, want the callee's utterance at 300 ms", areqs)
	}
}

// TestTranscribeStalledRecognizer: a recognizer that accepts and never reads
// costs the listen nothing: every frame reaches the listen's server in time,
// the recognizer's drops are reported once, and the listen ends on time.
func TestTranscribeStalledRecognizer(t *testing.T) {
	t.Parallel()
	stt := NewWSServer(t, NeverReadHandler, WithReceiveBuffer(4096), WithMaxSegment(1460))
	listen := NewWSServer(t, nil)
	cfg := map[string]any{"url": listen.URL,
		"transcribe": map[string]any{"finalTimeoutMs": 500, "recognizer": map[string]any{"vendor": "custom", "url": stt.URL,
			"auth": map[string]any{"apiKey": sttKey}, "sampleRate": 16000}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Settings: `{"bufferSeconds":0.5}`,
		Extra: []string{"--caller-tone", "440"}, Hangup: 8, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("stop reason %s\n%s", call.ReasonString(), r.Describe())
	}
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	if n := len(c.BinaryFrames()); n != 400 {
		t.Errorf("the listen's server got %d frames, want all 400", n)
	}
	if call.FramesDropped == nil || *call.FramesDropped != 0 {
		t.Errorf("the listen dropped %v frames, want 0", call.FramesDropped)
	}
	// On time: no frame of the listen waited for the recognizer.
	var late []string
	frames := c.Frames()
	for i := 1; i < len(frames); i++ {
		if gap := frames[i].At.Sub(frames[i-1].At); gap > 500*time.Millisecond {
			late = append(late, fmt.Sprintf("frame %d after %v", i, gap))
		}
	}
	if len(late) > 0 {
		t.Errorf("the listen's frames stalled: %v", late)
	}
	var drops []Event
	for _, e := range call.EventsNamed("transcription_error") {
		if strings.Contains(e.String("error"), "not keeping up") {
			drops = append(drops, e)
		}
	}
	if len(drops) != 1 {
		t.Errorf("%d drop reports, want 1: %v", len(drops), call.EventsNamed("transcription_error"))
	} else {
		var n int
		if !drops[0].Field("framesDropped", &n) || n < 1 {
			t.Errorf("drop report %s, want framesDropped ≥ 1", drops[0].JSON)
		}
	}
	stop, _ := call.Stop()
	if last := call.Events[len(call.Events)-1]; last.Name != "stop" || stop.T > 8000+3000 {
		t.Errorf("last event %s at %d ms, want stop soon after the 8 s hangup", last.Name, stop.T)
	}
}

// TestTranscribeStalledListen: the other way round. The listen's server
// accepts and never reads; the recognizer still gets all the caller's audio,
// at its rate and level, while the call goes on: its interim transcript comes
// a second into the call. The listen's own loss is the listen's to report.
func TestTranscribeStalledListen(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, customRecognizer(rec))
	listen := NewWSServer(t, NeverReadHandler, WithReceiveBuffer(4096), WithMaxSegment(1460))
	cfg := map[string]any{"url": listen.URL,
		"transcribe": map[string]any{"recognizer": map[string]any{"vendor": "custom", "url": stt.URL,
			"auth": map[string]any{"apiKey": sttKey}, "interim": true, "sampleRate": 16000}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Settings: `{"bufferSeconds":0.5}`,
		Extra: []string{"--caller-tone", "440:-10"}, Hangup: 6, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("stop reason %s, want hangup\n%s", call.ReasonString(), r.Describe())
	}
	stt.WaitDone(t, 1, 5*time.Second)
	texts, audio, _ := rec.snapshot()
	if secs := float64(len(audio)) / 32000; math.Abs(secs-6) > 0.1 {
		t.Errorf("the recognizer got %.2f s of audio, want all 6", secs)
	}
	if len(texts) == 0 || texts[len(texts)-1].Data != `{"type":"stop"}` {
		t.Errorf("text frames %v, want stop last", texts)
	}
	mid := Trim(rec.samples(), 16000, 0.2, 0.2)
	if f := DominantFreq(mid, 16000); math.Abs(f-440) > 2 {
		t.Errorf("recognizer audio at %.1f Hz, want the caller's 440", f)
	}
	if l := RMSdBFS(mid); math.Abs(l+10) > 1 {
		t.Errorf("recognizer audio at %.1f dBFS, want the caller's -10", l)
	}
	got := call.EventsNamed("transcription")
	if len(got) == 0 || got[0].String("transcript") != "hello" || got[0].T > 4000 {
		t.Errorf("transcription events %v, want the interim \"hello\" during the call", got)
	}
	for _, e := range call.EventsNamed("transcription_error") {
		t.Errorf("the recognizer reported %s, want no loss", e.JSON)
	}
	if len(call.EventsNamed("buffer_overrun")) != 1 || call.FramesDropped == nil || *call.FramesDropped == 0 {
		t.Errorf("the stalled listen reported %d overruns and %v dropped frames, want 1 and some",
			len(call.EventsNamed("buffer_overrun")), call.FramesDropped)
	}
}

// TestTranscribeRefused: a recognizer that answers the upgrade with 401:
// the listen goes on to its end, a transcription_error says why, and the
// key is printed nowhere.
func TestTranscribeRefused(t *testing.T) {
	t.Parallel()
	refuse := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.status = 401; h.answer = "bad key" })
	listen := NewWSServer(t, nil)
	hooks := newLifecycleHookServer(t, nil)
	sttURL := "ws" + strings.TrimPrefix(refuse.URL, "http")
	cfg := map[string]any{"url": listen.URL,
		"transcribe": map[string]any{"transcriptionHook": hooks.URL, "recognizer": map[string]any{"vendor": "custom", "url": sttURL,
			"auth": map[string]any{"apiKey": sttKey}}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "440"}, Hangup: 2})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Errorf("stop reason %s, want hangup: the listen goes on", call.ReasonString())
	}
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	if n := len(c.BinaryFrames()); n != 100 {
		t.Errorf("the listen's server got %d frames, want 100", n)
	}
	errs := call.EventsNamed("transcription_error")
	if len(errs) != 1 || !strings.Contains(errs[0].String("error"), "401") || errs[0].String("vendor") != "custom" {
		t.Errorf("transcription_error events %v, want one naming the 401", errs)
	}
	reqs := hooks.settle()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), "401") {
		t.Errorf("transcription hook %v, want one POST with the reason", reqs)
	}
	if got := refuse.Requests(); len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+sttKey {
		t.Errorf("recognizer upgrade requests %v, want one with the key", got)
	}
	all := r.Stdout + r.Stderr
	for _, e := range call.Events {
		all += string(e.JSON)
	}
	if strings.Contains(all, sttKey) {
		t.Errorf("the key appears in events or logs")
	}
}

// TestTranscribeBadConfig: each mistake is refused at create with an error
// naming the key.
func TestTranscribeBadConfig(t *testing.T) {
	t.Parallel()
	rec := func(fields string) string {
		return `{"url":"ws://127.0.0.1:9/x","transcribe":{"recognizer":{` + fields + `}}}`
	}
	cases := []struct {
		name, config, settings string
		want                   []string
	}{
		{"unknown-vendor", rec(`"vendor":"whisperz","url":"ws://127.0.0.1:9/s","auth":{"apiKey":"k"}`), "",
			[]string{`"transcribe.recognizer.vendor"`, "custom", "deepgram", "whisperz"}},
		{"missing-vendor", rec(`"url":"ws://127.0.0.1:9/s","auth":{"apiKey":"k"}`), "",
			[]string{`"transcribe.recognizer.vendor"`, "required"}},
		{"missing-url", rec(`"vendor":"custom","auth":{"apiKey":"k"}`), "",
			[]string{`"transcribe.recognizer.url"`, "required"}},
		{"missing-key", rec(`"vendor":"deepgram"`), "",
			[]string{`"transcribe.recognizer.auth.apiKey"`, "required"}},
		{"bad-channels", rec(`"vendor":"deepgram","auth":{"apiKey":"k"},"channels":"agent"`), "",
			[]string{`"transcribe.recognizer.channels"`, "caller", "callee", "both", "agent"}},
		{"both-custom", rec(`"vendor":"custom","url":"ws://127.0.0.1:9/s","auth":{"apiKey":"k"},"channels":"both"`), "",
			[]string{`"transcribe.recognizer.channels"`, "custom"}},
		{"bad-rate", rec(`"vendor":"deepgram","auth":{"apiKey":"k"},"sampleRate":44100`), "",
			[]string{`"transcribe.recognizer.sampleRate"`, "8000, 16000"}},
		{"unknown-key", `{"url":"ws://127.0.0.1:9/x","transcribe":{"recognizer":{"vendor":"deepgram","auth":{"apiKey":"k"}},"hook":"x"}}`, "",
			[]string{`unknown key "transcribe.hook"`}},
		{"settings-vendor-differs", rec(`"vendor":"custom"`), `{"transcribe":{"recognizer":{"vendor":"deepgram","auth":{"apiKey":"k"}}}}`,
			[]string{`"transcribe.recognizer.auth.apiKey"`, "required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := RunSim(t, Sim{Config: tc.config, Settings: tc.settings, Hangup: 0.2})
			if r.ExitCode != 2 || len(r.Calls) != 1 {
				t.Fatalf("exit code %d, %d calls; want 2 and a refused call\n%s", r.ExitCode, len(r.Calls), r.Describe())
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Calls[0].Error, w) {
					t.Errorf("error %q does not contain %q", r.Calls[0].Error, w)
				}
			}
		})
	}
}

// TestTranscribeSettingsCredentials: the recognizer's URL and key come from
// the settings; the listen names only the language.
func TestTranscribeSettingsCredentials(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, customRecognizer(rec))
	listen := NewWSServer(t, nil)
	settings := mustJSON(t, map[string]any{"transcribe": map[string]any{"recognizer": map[string]any{
		"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey}}}})
	cfg := `{"url":"` + listen.URL + `","transcribe":{"recognizer":{"language":"fr-FR"}}}`
	r := RunSim(t, Sim{Config: cfg, Settings: settings, Extra: []string{"--caller-tone", "440"}, Hangup: 1.5, QuietLog: true})
	r.MustSucceed(t, 1)
	stt.WaitDone(t, 1, 5*time.Second)
	texts, _, _ := rec.snapshot()
	if rec.header != "Bearer "+sttKey || len(texts) == 0 ||
		texts[0].Data != `{"type":"start","language":"fr-FR","format":"raw","encoding":"LINEAR16","sampleRateHz":8000,"interimResults":false}` {
		t.Errorf("header %q, text frames %v; want the settings' key and a fr-FR start at 8000", rec.header, texts)
	}
}

// TestTranscribeTimeline: listen-sim's timeline shows each transcript, with
// its party and whether it is final, and a recognizer's failure.
func TestTranscribeTimeline(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, customRecognizer(rec))
	listen := NewWSServer(t, nil)
	cfg := map[string]any{"url": listen.URL, "transcribe": map[string]any{"recognizer": map[string]any{
		"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey}, "interim": true, "sampleRate": 16000}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "440"}, Hangup: 2, QuietLog: true,
		Readable: true, Expect: "hangup"})
	if r.ExitCode != 0 {
		t.Fatalf("exit code %d\n%s", r.ExitCode, r.Describe())
	}
	for _, want := range []string{"✎ caller (interim): hello\n", "✎ caller (final): hello world\n", "✎ caller (final): goodbye\n"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("timeline lacks %q:\n%s", want, r.Stdout)
		}
	}
	refused := RunSim(t, Sim{Config: `{"url":"` + listen.URL + `","transcribe":{"recognizer":{"vendor":"custom","url":"ws://127.0.0.1:1/x","auth":{"apiKey":"` + sttKey + `"}}}}`,
		Hangup: 0.5, QuietLog: true, Readable: true, Expect: "hangup"})
	if !strings.Contains(refused.Stdout, "✎ transcription error: ws://127.0.0.1:1/x") || strings.Contains(refused.Stdout, sttKey) {
		t.Errorf("timeline of a recognizer that cannot be reached:\n%s", refused.Stdout)
	}
}

// TestTranscribeReconnect: a recognizer that drops the connection with an
// error is redialled only when reconnect asks for it; the new connection
// starts with its own start frame and the transcripts go on.
func TestTranscribeReconnect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		reconnect any
		conns     int
	}{{"off", nil, 1}, {"once", map[string]any{"attempts": 1, "backoffMs": 100}, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recs := []*sttRecognizer{{}, {}}
			var mu sync.Mutex
			n := 0
			stt := NewWSServer(t, func(c *WSConn) {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				if i > 0 {
					customRecognizer(recs[1])(c)
					return
				}
				for {
					kind, data, err := c.ReadMessage()
					if err != nil {
						return
					}
					recs[0].record(kind, data)
					if _, audio, _ := recs[0].snapshot(); len(audio) >= 16000 {
						c.CloseWith(1011, "NET-0001 no audio")
						return
					}
				}
			})
			listen := NewWSServer(t, nil)
			r := map[string]any{"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey}}
			if tc.reconnect != nil {
				r["reconnect"] = tc.reconnect
			}
			cfg := map[string]any{"url": listen.URL, "transcribe": map[string]any{"recognizer": r}}
			res := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "440"}, Hangup: 3, QuietLog: true})
			res.MustSucceed(t, 1)
			call := res.Call(t, 0)
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup", call.ReasonString())
			}
			conns := stt.WaitDone(t, tc.conns, 5*time.Second)
			if len(conns) != tc.conns {
				t.Errorf("%d recognizer connections, want %d", len(conns), tc.conns)
			}
			errs := call.EventsNamed("transcription_error")
			if len(errs) != 1 || !strings.Contains(errs[0].String("error"), "1011 NET-0001 no audio") {
				t.Errorf("transcription_error events %v, want one with the close code and reason", errs)
			}
			got := sttTranscripts(call)
			if tc.conns == 1 {
				if len(got) != 0 {
					t.Errorf("transcripts %v without a connection", got)
				}
				return
			}
			texts, audio2, _ := recs[1].snapshot()
			_, audio1, _ := recs[0].snapshot()
			if len(texts) == 0 || !strings.HasPrefix(texts[0].Data, `{"type":"start"`) || texts[0].AudioBefore != 0 {
				t.Errorf("the second connection's text frames %v, want start first", texts)
			}
			if secs := float64(len(audio1)+len(audio2)) / 16000; secs < 2.5 || secs > 3.1 {
				t.Errorf("%.2f s of audio over both connections, want about 3", secs)
			}
			if len(got) != 2 || got[0]["transcript"] != "hello world" || got[1]["transcript"] != "goodbye" {
				t.Errorf("transcripts %v, want the second connection's finals", got)
			}
		})
	}
}

// TestTranscribeFlood: a recognizer that sends 5000 transcripts at once and
// then a message over the 64 KiB limit. Events stay within
// maxEventsPerSecond (the rest counted in "suppressed"), a hook that never
// answers holds only what its queue and timeout allow, the actionHook's
// transcript is cut at 256 KiB and says so, the oversized message ends the
// recognizer's connection with a transcription_error, and the listen goes on.
func TestTranscribeFlood(t *testing.T) {
	t.Parallel()
	const flood = 5000
	stt := NewWSServer(t, func(c *WSConn) {
		done := c.ReadInBackground()
		if _, ok := c.WaitFor(5*time.Second, func(f Frame) bool { return f.Kind == websocket.BinaryMessage }); !ok {
			return
		}
		for i := range flood {
			text := fmt.Sprintf("utterance %04d %s", i, strings.Repeat("x", 80))
			if c.SendJSON(map[string]any{"type": "transcription", "is_final": true,
				"alternatives": []map[string]any{{"transcript": text, "confidence": 0.5}}}) != nil {
				return
			}
		}
		c.SendJSON(map[string]any{"type": "transcription", "is_final": true,
			"alternatives": []map[string]any{{"transcript": strings.Repeat("y", 100<<10)}}})
		<-done
	})
	listen := NewWSServer(t, nil)
	hooks := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.hang = true })
	actions := newLifecycleHookServer(t, nil)
	cfg := map[string]any{"url": listen.URL, "actionHook": actions.URL,
		"transcribe": map[string]any{"transcriptionHook": hooks.URL, "forward": true, "recognizer": map[string]any{
			"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey}}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Settings: `{"hookTimeoutMs":1000}`,
		Extra: []string{"--caller-tone", "440"}, Hangup: 3, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("stop reason %s\n%s", call.ReasonString(), r.Describe())
	}
	told, delivered, _ := hosEventsTold(call, "transcription")
	if told != flood {
		t.Errorf("transcription events delivered and counted in suppressed: %d, want %d", told, flood)
	}
	if bound := hosEventRateBound(20, 3+4); delivered > bound {
		t.Errorf("%d transcription events delivered, want at most %d", delivered, bound)
	}
	errs := call.EventsNamed("transcription_error")
	limit := 0
	for _, e := range errs {
		if strings.Contains(e.String("error"), "read limit") {
			limit++
		}
	}
	if limit != 1 {
		t.Errorf("transcription_error events %v, want one for the oversized message", errs)
	}
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	if n := len(c.BinaryFrames()); n != 150 {
		t.Errorf("the listen's server got %d frames, want 150", n)
	}
	if n := len(hooks.Requests()); n > 10 {
		t.Errorf("%d requests to a transcription hook that never answers, want a few (one at a time, 1 s each)", n)
	}
	areqs := actions.settle()
	if len(areqs) != 1 {
		t.Fatalf("%d action hook requests", len(areqs))
	}
	var ab struct {
		Transcript []struct {
			Transcript string `json:"transcript"`
		} `json:"transcript"`
		Truncated bool `json:"transcriptTruncated"`
	}
	json.Unmarshal(areqs[0].Body, &ab)
	total := 0
	for _, u := range ab.Transcript {
		total += len(u.Transcript)
	}
	if !ab.Truncated || total > 256<<10 || total < 200<<10 || ab.Transcript[0].Transcript[:14] != "utterance 0000" {
		t.Errorf("action hook transcript: %d utterances, %d bytes, truncated %v; want the first ones, up to 256 KiB, truncated",
			len(ab.Transcript), total, ab.Truncated)
	}
}

// TestTranscribeCallee: with channels "callee" the recognizer hears the
// other party only, and its transcripts name the callee; the listen itself
// still streams the caller.
func TestTranscribeCallee(t *testing.T) {
	t.Parallel()
	rec := &sttRecognizer{}
	stt := NewWSServer(t, customRecognizer(rec))
	listen := NewWSServer(t, nil)
	callee := WriteWAV(t, "callee.wav", 8000, Sine(8000, 1000, -16, 2.5))
	cfg := map[string]any{"url": listen.URL, "transcribe": map[string]any{"recognizer": map[string]any{
		"vendor": "custom", "url": stt.URL, "auth": map[string]any{"apiKey": sttKey}, "channels": "callee"}}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Extra: []string{"--caller-tone", "440:-10"}, Callee: callee,
		Hangup: 2.5, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	stt.WaitDone(t, 1, 5*time.Second)
	mid := Trim(rec.samples(), 8000, 0.2, 0.2)
	if f := DominantFreq(mid, 8000); math.Abs(f-1000) > 2 {
		t.Errorf("recognizer audio at %.1f Hz, want the callee's 1000", f)
	}
	if l := RMSdBFS(mid); math.Abs(l+16) > 1 {
		t.Errorf("recognizer audio at %.1f dBFS, want the callee's -16", l)
	}
	got := sttTranscripts(call)
	if len(got) == 0 || got[0]["party"] != "callee" || got[0]["channel_tag"] != 1.0 {
		t.Errorf("transcription events %v, want the callee's", got)
	}
	c := listen.WaitDone(t, 1, 5*time.Second)[0]
	if f := DominantFreq(Trim(c.Audio(), 8000, 0.2, 0.2), 8000); math.Abs(f-440) > 2 {
		t.Errorf("the listen's audio at %.1f Hz, want the caller's 440", f)
	}
}
