package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gorilla/websocket"
)

// Hostile servers: what a server sends must never grow the engine without
// bound, flood the host with events or log lines, or put its raw text into
// them. Every test here names its bound and asserts it.

// hosStalled is a handler that reads the first frame, sends what send
// sends without reading (the client's writes fill the socket buffers), then
// reads again after resumeAfter, until the client closes.
func hosStalled(resumeAfter time.Duration, send func(c *WSConn)) Handler {
	return func(c *WSConn) {
		start := time.Now()
		if fltReadOne(c) != nil {
			return
		}
		send(c)
		select {
		case <-time.After(time.Until(start.Add(resumeAfter))):
		case <-c.Quit():
			return
		}
		c.ReadAll()
	}
}

// hosAfterAudio is a handler that reads everything and, after the first
// audio frame, sends what send sends.
func hosAfterAudio(send func(c *WSConn)) Handler {
	return func(c *WSConn) {
		done := c.ReadInBackground()
		if fltWaitBinary(c, 1, 10*time.Second) {
			send(c)
		}
		fltWaitOrQuit(c, done)
	}
}

// hosMerged matches the error frame that stands for refusals merged while
// the server was not reading.
var hosMerged = regexp.MustCompile(`^(\d+) more messages refused, the last: `)

// hosRefusalsTold counts the refusals the server was told of: one per error
// frame, and N for a frame that merges N. It also returns the error texts.
func hosRefusalsTold(t *testing.T, c *WSConn) (int, []string) {
	t.Helper()
	n := 0
	var texts []string
	for _, f := range fltErrorFrames(c) {
		var m struct {
			Data struct {
				Error string `json:"error"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(f), &m); err != nil {
			t.Fatalf("error frame %q: %v", f, err)
		}
		texts = append(texts, m.Data.Error)
		if g := hosMerged.FindStringSubmatch(m.Data.Error); g != nil {
			k, _ := strconv.Atoi(g[1])
			n += k
			continue
		}
		n++
	}
	return n, texts
}

// hosEventsTold counts the events of a kind the host was told of: one per
// event, and N for a "suppressed" event that stands for N of that kind.
func hosEventsTold(call CallResult, name string) (told, delivered, summaries int) {
	delivered = len(call.EventsNamed(name))
	told = delivered
	for _, e := range call.EventsNamed("suppressed") {
		if e.String("event") == name {
			var n int
			e.Field("count", &n)
			told += n
			summaries++
		}
	}
	return told, delivered, summaries
}

// hosCheckClean fails for any string in any event of the call that holds a
// control character, or is not valid UTF-8 (the JSON decoder would have
// replaced it with U+FFFD).
func hosCheckClean(t *testing.T, call CallResult) {
	t.Helper()
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case string:
			for _, r := range x {
				if unicode.IsControl(r) || r == unicode.ReplacementChar {
					t.Errorf("%s: %q holds %U", where, x, r)
					return
				}
			}
		case map[string]any:
			for k, e := range x {
				walk(where+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		}
	}
	for _, e := range call.Events {
		var v any
		if err := json.Unmarshal(e.JSON, &v); err != nil {
			t.Errorf("event %s: %v", e.Name, err)
			continue
		}
		walk(e.Name, v)
	}
}

// hosEventRateBound: events of one kind a server can cause in a call of
// that many seconds, at maxEventsPerSecond per second (the throttle's
// windows start at the first event, so a call spans at most seconds+1).
func hosEventRateBound(perSecond int, seconds float64) int {
	return perSecond * (int(seconds) + 2)
}

// hosQuiet is the same run as sim against a server that only reads: the
// baseline of a memory bound (the build's own cost, sanitizers included).
func hosQuiet(t *testing.T, sim Sim) Sim {
	sim.Config = strings.Replace(sim.Config, hosURL(t, sim.Config), NewWSServer(t, nil).URL, 1)
	return sim
}

func hosURL(t *testing.T, config string) string {
	var c struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(config), &c); err != nil || c.URL == "" {
		t.Fatalf("config %s has no url", config)
	}
	return c.URL
}

// hosCheckRSS fails when run r peaked more than bound MiB over base, the
// same calls against a quiet server.
func hosCheckRSS(t *testing.T, r, base *Result, bound float64) {
	t.Helper()
	delta := hosPeakRSS(t, r) - hosPeakRSS(t, base)
	t.Logf("peak RSS %.1f MiB, %.1f MiB with a quiet server: %.1f MiB more (bound %g MiB)",
		hosPeakRSS(t, r), hosPeakRSS(t, base), delta, bound)
	if delta > bound {
		t.Errorf("peak RSS %.1f MiB over the same calls with a quiet server, bound %g MiB", delta, bound)
	}
}

// hosPeakRSS is the peak resident size of a switchsim run, in MiB.
func hosPeakRSS(t *testing.T, r *Result) float64 {
	t.Helper()
	if r.Summary == nil {
		t.Fatalf("no summary\n%s", r.Describe())
	}
	return r.Summary.MaxRSSKiB / 1024
}

// hosCheckBudgetReturned: once every call is over, every byte of
// maxServerBytes taken is given back.
func hosCheckBudgetReturned(t *testing.T, r *Result) {
	t.Helper()
	if r.Summary == nil || r.Summary.Engine == nil {
		t.Fatalf("no listen_stats in the summary\n%s", r.Describe())
	}
	if n := r.Summary.Engine.ServerBytes; n != 0 {
		t.Errorf("%d bytes of maxServerBytes still taken after every call ended", n)
	}
}

// TestHostileRefusalFlood: refusals to a server cost bounded memory and
// events, and a server that keeps sending refused messages loses its listen.
//   - stalled: a server that stops reading and sends 100,000 invalid
//     messages. Every refusal is told to it once it reads again (frame by
//     frame, then merged counts), the host gets at most maxEventsPerSecond
//     error events a second and "suppressed" summaries that count the rest,
//     exactly, and switchsim's peak RSS stays within 12 MiB of the same call
//     with a quiet server.
//   - maxRefusals: a server that sends 150 refused messages (reading them
//     all) has its listen ended with reason server_error and an error text
//     naming the limit, long before the hangup.
func TestHostileRefusalFlood(t *testing.T) {
	t.Parallel()
	const (
		flood  = 100000
		hangup = 5.0
		rate   = 48000 // 96 kB/s: the stalled socket fills within a second
	)
	bad := []byte(`{"type":"playAudio"}`)
	const badText = `playAudio: "data" must be an object`
	stalled := NewWSServer(t, hosStalled(3*time.Second, func(c *WSConn) {
		for i := 0; i < flood; i++ {
			if c.Send(websocket.TextMessage, bad) != nil {
				return
			}
		}
	}), WithReceiveBuffer(4096), WithMaxSegment(1460))
	persistent := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		for i := 0; i < 150; i++ {
			c.Send(websocket.TextMessage, bad)
		}
	}))
	stalledSim := Sim{Config: mustJSON(t, map[string]any{"url": stalled.URL, "sampleRate": rate}),
		Settings: `{"maxRefusals":1000000}`, Hangup: hangup, QuietLog: true}
	results := RunSims(t, []Sim{
		stalledSim,
		{Config: mustJSON(t, map[string]any{"url": persistent.URL}), Hangup: hangup, QuietLog: true},
		hosQuiet(t, stalledSim),
	})

	t.Run("stalled", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup", call.ReasonString())
		}
		c := stalled.WaitDone(t, 1, 10*time.Second)[0]
		told, texts := hosRefusalsTold(t, c)
		t.Logf("%d error frames told the server of %d refusals", len(texts), told)
		if told != flood {
			t.Errorf("the server was told of %d refusals, want %d", told, flood)
		}
		// While the socket was stalled the refusals were merged.
		merged := 0
		for _, text := range texts {
			if hosMerged.MatchString(text) {
				merged++
			}
		}
		if merged == 0 || len(texts) >= flood/10 {
			t.Errorf("%d error frames, %d of them merged, for %d refusals", len(texts), merged, flood)
		}
		if texts[0] != badText {
			t.Errorf("first error frame %q, want %q", texts[0], badText)
		}
		evTold, delivered, summaries := hosEventsTold(call, "error")
		if evTold != flood {
			t.Errorf("error events (%d) and suppressed counts tell of %d refusals, want %d", delivered, evTold, flood)
		}
		if bound := hosEventRateBound(20, hangup); delivered > bound || summaries > int(hangup)+2 {
			t.Errorf("%d error events and %d summaries in a %g s call, want at most %d and %d",
				delivered, summaries, hangup, bound, int(hangup)+2)
		}
		// Before the bounds: 28 MiB more, 100,000 error events and 100,000
		// error frames.
		hosCheckRSS(t, r, results[2], 12)
	})

	t.Run("maxRefusals", func(t *testing.T) {
		r := results[1]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		stop, _ := call.Stop()
		if call.ReasonString() != "server_error" {
			t.Fatalf("stop reason %s, want server_error (events %s)", call.ReasonString(), fltEventNames(call))
		}
		want := "the server sent 101 messages that were refused within a minute, over the limit of 100 (maxRefusals); the last: " + badText
		if got := stop.String("error"); got != want {
			t.Errorf("stop error %q, want %q", got, want)
		}
		if stop.T > 3000 {
			t.Errorf("stop at %d ms: the listen did not end soon after the flood (from ~0.1 s)", stop.T)
		}
		c := persistent.WaitDone(t, 1, 10*time.Second)[0]
		told, _ := hosRefusalsTold(t, c)
		if told < 101 || told > 150 {
			t.Errorf("the server was told of %d refusals, want 101..150", told)
		}
	})
}

// TestHostileMarks: marks are limited in name (256 bytes) and in number
// waiting (maxQueuedMarks, default 100). Behind a 1 s clip a server sends
// 300 marks and then five with 1 MB names: the first 100 play out after the
// clip, in order; the other 200 and the long names are refused with error
// frames (all told, frame by frame or merged); peak RSS stays within 24 MiB
// of the same call with a quiet server.
func TestHostileMarks(t *testing.T) {
	t.Parallel()
	const rate = 8000
	srv := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		c.SendJSON(limClip("clip", rate, 1))
		for i := 0; i < 300; i++ {
			c.SendJSON(map[string]any{"type": "mark", "data": map[string]any{"name": fmt.Sprintf("m%d", i)}})
		}
		long := strings.Repeat("n", 1<<20)
		for i := 0; i < 5; i++ {
			c.SendJSON(map[string]any{"type": "mark", "data": map[string]any{"name": long}})
		}
	}))
	sim := Sim{Config: mustJSON(t, map[string]any{"url": srv.URL}), Settings: `{"maxRefusals":100000}`,
		Hangup: 3, QuietLog: true}
	results := RunSims(t, []Sim{sim, hosQuiet(t, sim)})
	r := results[0]
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Errorf("stop reason %s, want hangup", call.ReasonString())
	}
	c := srv.WaitDone(t, 1, 10*time.Second)[0]
	var played []string
	for _, f := range c.TextFrames() {
		var m struct {
			Type string `json:"type"`
			Data struct {
				Name  string `json:"name"`
				Event string `json:"event"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(f), &m) == nil && m.Type == "mark" {
			if m.Data.Event != "playout" {
				t.Errorf("mark answer %s, want playout", f)
			}
			played = append(played, m.Data.Name)
		}
	}
	var want []string
	for i := 0; i < 100; i++ {
		want = append(want, fmt.Sprintf("m%d", i))
	}
	if strings.Join(played, ",") != strings.Join(want, ",") {
		t.Errorf("marks played out: %d %q, want m0..m99", len(played), played)
	}
	told, texts := hosRefusalsTold(t, c)
	if told != 205 {
		t.Errorf("the server was told of %d refusals, want 205: %q", told, texts)
	}
	const full = "mark refused: 100 marks are already waiting to be played out (the limit, maxQueuedMarks)"
	const long = `mark: "data.name" is longer than 256 bytes`
	for i, text := range texts {
		if g := hosMerged.FindString(text); g != "" {
			text = strings.TrimPrefix(text, g)
		}
		if text != full && text != long {
			t.Errorf("error frame %d: %q", i, text)
		}
	}
	if !strings.Contains(texts[len(texts)-1], long) {
		t.Errorf("the last error frame %q does not tell of the long names", texts[len(texts)-1])
	}
	evTold, delivered, _ := hosEventsTold(call, "mark")
	if evTold != 100 || delivered > hosEventRateBound(20, 3) {
		t.Errorf("%d mark events, %d told with summaries, want 100 told, at most %d delivered", delivered, evTold, hosEventRateBound(20, 3))
	}
	t.Logf("%d error frames for %d refusals; %d mark events", len(texts), told, delivered)
	hosCheckRSS(t, r, results[1], 24)
}

// hosPlay is a playAudio message with the given base64 content.
func hosPlay(id, kind string, rate int, content string) map[string]any {
	d := map[string]any{"audioContent": content, "audioContentType": kind, "id": id}
	if rate != 0 {
		d["sampleRate"] = rate
	}
	return map[string]any{"type": "playAudio", "data": d}
}

// hosBadTail is base64 whose first 8 KiB are valid and the rest is not: a
// clip that is refused by its length before decoding is never found invalid.
func hosBadTail(head []byte, total int) string {
	s := base64.StdEncoding.EncodeToString(head)
	return s + strings.Repeat("!!!!", (total-len(s))/4)
}

// TestHostileLimitsBeforeDecoding: lengths, durations and queue room are
// checked from headers and base64 lengths before anything is decoded: each
// clip here has invalid base64 after its first bytes, and must be refused
// for what its length says, never for its base64.
func TestHostileLimitsBeforeDecoding(t *testing.T) {
	t.Parallel()
	const rate = 8000
	rawLong := hosBadTail(make([]byte, 6000), b64Len(2*rate*2)) // 2 s of 8 kHz PCM by its length
	wavLong := hosBadTail(append(wavHeader(16000, 2, 1<<30), make([]byte, 5998)...), b64Len(16000*2*2*3))
	srv := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		c.SendJSON(hosPlay("raw-long", "raw", rate, rawLong))
		c.SendJSON(hosPlay("wav-long", "wav", 0, wavLong))
		c.SendJSON(limClip("playing", rate, 0.5))
		time.Sleep(200 * time.Millisecond) // it has started: the next one waits
		c.SendJSON(limClip("waiting", rate, 0.5))
		c.SendJSON(hosPlay("queue-full", "raw", rate, hosBadTail(make([]byte, 600), b64Len(1600))))
	}))
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL}),
		Settings: `{"maxClipSeconds":1.5,"maxQueuedClips":1}`, Hangup: 2, QuietLog: true})
	r.MustSucceed(t, 1)
	c := srv.WaitDone(t, 1, 10*time.Second)[0]
	_, texts := hosRefusalsTold(t, c)
	want := []string{
		"playAudio refused: the clip is 2.0 s long, over the limit of 1.5 s",
		"playAudio refused: the clip is 3.0 s long, over the limit of 1.5 s",
		"playAudio refused: 1 clips are already queued (the limit)",
	}
	if strings.Join(texts, "\n") != strings.Join(want, "\n") {
		t.Errorf("error frames:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
}

// b64Len is the length of n bytes in base64.
func b64Len(n int) int { return (n + 2) / 3 * 4 }

// wavHeader is a 44-byte header of 16-bit PCM claiming dataBytes.
func wavHeader(rate, channels, dataBytes int) []byte {
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
	le := func(v, n int) {
		for i := 0; i < n; i++ {
			h = append(h, byte(v>>(8*i)))
		}
	}
	le(channels, 2)
	le(rate, 4)
	le(rate*channels*2, 4)
	le(channels*2, 2)
	le(16, 2)
	h = append(h, "data"...)
	le(dataBytes, 4)
	return h
}

// hosMaxPlay is a playAudio message of raw 64 kHz PCM as large as
// maxTextBytes (default 4 MiB) allows: about 24 s.
func hosMaxPlay(id string) []byte {
	pcm := make([]byte, (4<<20-200)/4*3)
	for i := range pcm {
		pcm[i] = byte(i * 7)
	}
	b, _ := json.Marshal(hosPlay(id, "raw", 64000, base64.StdEncoding.EncodeToString(pcm)))
	return b
}

// TestHostileServerMemory: what servers send is bounded per stream and
// across streams.
//   - one stream: a server that never reads sends, as fast as it can, 40
//     playAudio frames of 4 MiB (the largest maxTextBytes lets through),
//     40 binary frames of 20 s with streamed playback on, 20 marks with
//     1 MB names and 10,000 invalid messages, at a 48 kHz call. Peak RSS
//     stays within the worst case per stream the README states (64 MiB over
//     the same call with a quiet server; 113 MiB before the bounds).
//   - ten streams with maxServerBytes 48 MiB, each sent 20 playAudio frames
//     of 4 MiB (24 s each) at once: the budget lets some through and refuses
//     others, naming maxServerBytes, and peak RSS stays within 96 MiB of the
//     same calls with a quiet server (2 × the budget: the Go collector lets
//     the heap grow by half before it collects; 180 MiB before the budget)
//     (without the budget, each stream would read, decode and queue 10
//     clips: 10 × (4 MiB frame + 9 MiB of decoding + 3.7 MiB queued)).
func TestHostileServerMemory(t *testing.T) {
	t.Parallel()
	const codec = 48000
	play := hosMaxPlay("big")
	binary := make([]byte, 20*8000*2) // 20 s at 8 kHz: six fill the queue (maxQueuedSeconds 120)
	flood := func(c *WSConn) {
		for i := 0; i < 40; i++ {
			c.Send(websocket.TextMessage, play)
			c.Send(websocket.BinaryMessage, binary)
		}
		long := strings.Repeat("n", 1<<20)
		for i := 0; i < 20; i++ {
			c.SendJSON(map[string]any{"type": "mark", "data": map[string]any{"name": long}})
		}
		for i := 0; i < 10000; i++ {
			c.Send(websocket.TextMessage, []byte("{"))
		}
	}
	hostile := NewWSServer(t, hosStalled(time.Hour, flood), WithReceiveBuffer(4096), WithMaxSegment(1460))
	quiet := NewWSServer(t, nil)
	budgeted := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		for i := 0; i < 20; i++ {
			c.Send(websocket.TextMessage, play)
		}
	}))
	cfg := func(url string, streaming bool) string {
		return mustJSON(t, map[string]any{"url": url, "sampleRate": 16000,
			"bidirectionalAudio": map[string]any{"enabled": true, "streaming": streaming, "sampleRate": 8000}})
	}
	budgetSim := Sim{Config: cfg(budgeted.URL, false), Settings: `{"maxServerBytes":50331648,"maxRefusals":1000000}`,
		Calls: 10, Hangup: 6, QuietLog: true}
	results := RunSims(t, []Sim{
		{Config: cfg(hostile.URL, true), Settings: `{"maxRefusals":1000000}`, Rate: codec, Hangup: 6, QuietLog: true},
		{Config: cfg(quiet.URL, true), Rate: codec, Hangup: 6, QuietLog: true},
		budgetSim,
		hosQuiet(t, budgetSim),
	})
	t.Run("one-stream", func(t *testing.T) {
		r, base := results[0], results[1]
		r.MustSucceed(t, 1)
		base.MustSucceed(t, 1)
		call := r.Call(t, 0)
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup", call.ReasonString())
		}
		evTold, delivered, _ := hosEventsTold(call, "error")
		t.Logf("%d error events telling of %d refusals", delivered, evTold)
		hosCheckRSS(t, r, base, 64)
		if delivered > hosEventRateBound(20, 6) {
			t.Errorf("%d error events, bound %d", delivered, hosEventRateBound(20, 6))
		}
		hosCheckBudgetReturned(t, r)
	})
	t.Run("budget", func(t *testing.T) {
		r := results[2]
		r.MustSucceed(t, 10)
		refusedByBudget, started := 0, 0
		for _, call := range r.Calls {
			started += len(call.EventsNamed("play_start"))
		}
		for _, c := range budgeted.WaitDone(t, 10, 10*time.Second) {
			_, texts := hosRefusalsTold(t, c)
			for _, text := range texts {
				if strings.Contains(text, "maxServerBytes") {
					refusedByBudget++
				}
			}
		}
		t.Logf("%d clips refused naming maxServerBytes, %d started playing", refusedByBudget, started)
		if refusedByBudget == 0 {
			t.Error("no refusal names maxServerBytes: the budget of 48 MiB was never reached")
		}
		if started == 0 {
			t.Error("no clip played: the budget let nothing through")
		}
		hosCheckRSS(t, r, results[3], 96)
		hosCheckBudgetReturned(t, r)
	})
}

// TestHostileEventFlood: a server cannot flood the host with events, nor put
// raw control characters or invalid UTF-8 into events and log lines.
//   - 20,000 messages of a type the engine passes on: at most
//     maxEventsPerSecond message events a second, "suppressed" summaries
//     count the rest exactly;
//   - a message with raw CR/LF between its JSON tokens: passed on compact;
//   - a message that is not UTF-8, one of 100 kB, and a playAudio with 1 MB
//     of audioContentType holding CR/LF: refused with error frames that show
//     64 bytes of the value, escaped;
//   - a close frame whose text holds CR/LF: the disconnect event and the
//     stop error show it escaped;
//   - an error message with CR/LF and 1 MB of text: the stop error shows 64
//     bytes of it, escaped;
//   - no engine log line (switchsim's stderr) starts with the server's
//     "FORGED" text, and none is over 1 KiB.
func TestHostileEventFlood(t *testing.T) {
	t.Parallel()
	const messages = 20000
	flood := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		for i := 0; i < messages; i++ {
			c.Send(websocket.TextMessage, []byte(`{"type":"transcription","text":"hello"}`))
		}
		c.Send(websocket.TextMessage, []byte("{\"type\":\"transcription\",\r\n\"text\":\"FORGED line\"}"))
		c.Send(websocket.TextMessage, []byte("{\"type\":\"transcription\",\"text\":\"\xff\xfe\"}"))
		c.Send(websocket.TextMessage, []byte(`{"type":"transcription","text":"`+strings.Repeat("x", 100000)+`"}`))
		c.SendJSON(hosPlay("c", "raw\r\nFORGED type"+strings.Repeat("x", 1<<20), 8000, "AAAA"))
		time.Sleep(200 * time.Millisecond)
		c.CloseWith(4000, "bye\r\nFORGED close")
	}))
	errorData := "{\"error\":\"boom\",\r\n\"x\":\"FORGED error" + strings.Repeat("x", 1<<20) + "\"}"
	serverError := NewWSServer(t, hosAfterAudio(func(c *WSConn) {
		c.Send(websocket.TextMessage, []byte(`{"type":"error","data":`+errorData+`}`))
	}))
	results := RunSims(t, []Sim{
		{Config: mustJSON(t, map[string]any{"url": flood.URL}), Hangup: 4},
		{Config: mustJSON(t, map[string]any{"url": serverError.URL}), Hangup: 4},
	})
	for _, r := range results {
		for _, line := range strings.Split(r.Stderr, "\n") {
			if strings.HasPrefix(strings.TrimLeft(line, "\r\" "), "FORGED") {
				t.Errorf("a log line starts with the server's text: %q", line)
			}
			// Engine log lines and events echo at most 64 bytes of a value.
			if len(line) > 1024 {
				t.Errorf("a log line of %d bytes: %.200q…", len(line), line)
			}
		}
	}
	t.Run("flood", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		hosCheckClean(t, call)
		told, delivered, summaries := hosEventsTold(call, "message")
		t.Logf("%d message events, %d summaries, telling of %d messages", delivered, summaries, told)
		if told != messages+1 {
			t.Errorf("message events (%d) and suppressed counts tell of %d messages, want %d", delivered, told, messages+1)
		}
		if bound := hosEventRateBound(20, 4); delivered > bound {
			t.Errorf("%d message events in a 4 s call, bound %d", delivered, bound)
		}
		// The CR/LF message is the last one passed on; when the throttle
		// lets it through, it is compact.
		for _, e := range call.EventsNamed("message") {
			if strings.Contains(string(e.JSON), "FORGED") && string(e.JSON) != `{"type":"transcription","text":"FORGED line"}` {
				t.Errorf("message event %q, want it compact", e.JSON)
			}
		}
		c := flood.WaitDone(t, 1, 10*time.Second)[0]
		want := []string{"message is not valid UTF-8",
			"message refused: 100034 bytes, over the limit of 65536 for messages passed to the application",
			// 64 bytes shown: the escaped CR/LF count as the 4 bytes they are.
			`playAudio: unknown "data.audioContentType" "raw\r\nFORGED type` + strings.Repeat("x", 64-len(`raw\r\nFORGED type`)) +
				`…(1048592 bytes)" ("raw", "mulaw", "alaw", "wav", "wave", "ogg" or "opus")`}
		if _, texts := hosRefusalsTold(t, c); strings.Join(texts, "\n") != strings.Join(want, "\n") {
			t.Errorf("error frames %q, want %q", texts, want)
		}
		disc := call.EventsNamed("disconnect")
		if len(disc) != 1 || disc[0].String("text") != `bye\r\nFORGED close` {
			t.Errorf("disconnect events %v, want one with text bye\\r\\nFORGED close", fltJSONs(disc))
		}
		stop, _ := call.Stop()
		if got := stop.String("error"); got != `server closed the socket with code 4000 bye\r\nFORGED close` {
			t.Errorf("stop error %q", got)
		}
	})
	t.Run("server-error", func(t *testing.T) {
		r := results[1]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		hosCheckClean(t, call)
		if call.ReasonString() != "server_error" {
			t.Errorf("stop reason %s, want server_error", call.ReasonString())
		}
		stop, _ := call.Stop()
		want := `server error: {"error":"boom",\r\n"x":"FORGED errorxxxxxxxxxxxxxxxxxxxxxxxxxxx…(` + strconv.Itoa(len(errorData)) + ` bytes)`
		if got := stop.String("error"); got != want {
			t.Errorf("stop error %q, want %q", got, want)
		}
	})
}
