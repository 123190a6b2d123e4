package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fltServer is a misbehaving WebSocket server: the request path names what
// it does to the connection (see fltBehave), e.g.
//
//	/ok                     read and record everything (a healthy server)
//	/never-read             read the first (text) frame, then never read again
//	/slow-read              read one frame every 200 ms
//	/close-1000-at-1s       after 1 s of audio, a close frame with code 1000
//	/close-1011-at-2s-once  the same with code 1011, on the path's first connection only
//	/close-abnormal-at-1s   after 1 s of audio, drop the TCP connection, no close frame
//	/disconnect-at-1s       after 1 s of audio, send {"type":"disconnect"}
//	/garbage-text           send text frames that are not valid server messages
//	/garbage-binary         send a binary frame (playback streaming is off)
//	/401, /500              refuse the upgrade with that HTTP status
//	/hang-upgrade           read the upgrade request and never answer it
//	/mixed                  the next behaviour of the server's plan, in order of arrival
//	/X-then-500             X on the path's first request, HTTP 500 on every later one
//
// It is a WSServer (connections are recorded the same way), optionally
// behind TLS.
type fltServer struct {
	*WSServer
	Base string // ws://127.0.0.1:port or wss://127.0.0.1:port, no path

	plan []string

	mu     sync.Mutex
	next   int            // index into plan of the next /mixed request
	reqs   []fltRequest   // every HTTP request, in order of arrival
	byPath map[string]int // upgraded connections so far per behaviour
}

// fltRequest is one HTTP request the server saw (upgraded or not).
type fltRequest struct {
	Behaviour string
	Header    http.Header
	PeerCN    string // the TLS client certificate's common name, if one was sent
}

// fltNewServer starts a misbehaving server, with TLS when tc is not nil;
// plan is the behaviours handed out to /mixed requests in order (the plan
// wraps around).
func fltNewServer(t testing.TB, tc *tls.Config, plan ...string) *fltServer {
	t.Helper()
	fs := &fltServer{plan: plan, byPath: map[string]int{}}
	ws := &WSServer{t: t, quit: make(chan struct{}), handler: fs.behave,
		up: websocket.Upgrader{
			Subprotocols: serverSubprotocols,
			CheckOrigin:  func(*http.Request) bool { return true },
		}}
	ws.cond = sync.NewCond(&ws.mu)
	fs.WSServer = ws
	ws.srv = httptest.NewUnstartedServer(http.HandlerFunc(fs.route))
	// TLS handshake failures are expected here: keep them out of the test log.
	ws.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tc != nil {
		ws.srv.TLS = tc
		ws.srv.StartTLS()
		fs.Base = "wss://" + ws.srv.Listener.Addr().String()
	} else {
		ws.srv.Start()
		fs.Base = "ws://" + ws.srv.Listener.Addr().String()
	}
	ws.URL = fs.Base + "/ok"
	t.Cleanup(ws.Close)
	return fs
}

// URLFor is the URL of a behaviour.
func (fs *fltServer) URLFor(behaviour string) string { return fs.Base + "/" + behaviour }

// Requests returns the HTTP requests seen so far.
func (fs *fltServer) Requests() []fltRequest {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]fltRequest(nil), fs.reqs...)
}

func (fs *fltServer) route(w http.ResponseWriter, r *http.Request) {
	b := strings.TrimPrefix(r.URL.Path, "/")
	fs.mu.Lock()
	if b == "mixed" && len(fs.plan) > 0 {
		b = fs.plan[fs.next%len(fs.plan)]
		fs.next++
	}
	req := fltRequest{Behaviour: b, Header: r.Header.Clone()}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.PeerCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	fs.reqs = append(fs.reqs, req)
	fs.mu.Unlock()
	if base, ok := strings.CutSuffix(b, "-then-500"); ok {
		// The path's first request gets the behaviour, every later one a 500.
		fs.mu.Lock()
		fs.byPath[b+" requests"]++
		later := fs.byPath[b+" requests"] > 1
		fs.mu.Unlock()
		if later {
			b = "500"
		} else {
			b = base
		}
	}
	switch b {
	case "401":
		http.Error(w, "no entry", http.StatusUnauthorized)
		return
	case "500":
		http.Error(w, "broken", http.StatusInternalServerError)
		return
	case "hang-upgrade":
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "cannot hijack", http.StatusInternalServerError)
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		<-fs.quit
		conn.Close()
		return
	}
	// The connection's Path is its behaviour, whatever the request said.
	r.RequestURI = "/" + b
	fs.serve(w, r)
}

// fltAt matches a behaviour's "-at-Ns" (after N seconds of audio) and
// "-once" (only on the path's first connection) suffixes.
var fltAt = regexp.MustCompile(`^(.*?)(?:-at-([0-9.]+)s)?(-once)?$`)

// behave is the connection handler: it acts out the connection's path.
func (fs *fltServer) behave(c *WSConn) {
	path := strings.TrimPrefix(c.Path, "/")
	fs.mu.Lock()
	fs.byPath[path]++
	nth := fs.byPath[path]
	fs.mu.Unlock()
	m := fltAt.FindStringSubmatch(path)
	action, once := m[1], m[3] != ""
	if once && nth > 1 {
		action = "ok"
	}
	frames := 0
	if m[2] != "" {
		sec, _ := strconv.ParseFloat(m[2], 64)
		frames = int(sec * 50)
	}
	// afterAudio waits until the server has read frames binary frames.
	afterAudio := func() bool { return fltWaitBinary(c, frames, 30*time.Second) }
	switch action {
	case "ok":
		c.ReadAll()
	case "never-read":
		fltReadOne(c)
		<-c.Quit()
	case "slow-read":
		for fltReadOne(c) == nil {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-c.Quit():
				return
			}
		}
	case "close-1000", "close-1011":
		done := c.ReadInBackground()
		if afterAudio() {
			code := websocket.CloseNormalClosure
			if action == "close-1011" {
				code = websocket.CloseInternalServerErr
			}
			c.CloseWith(code, "bye")
		}
		fltWaitOrQuit(c, done)
	case "close-abnormal":
		done := c.ReadInBackground()
		if afterAudio() {
			c.UnderlyingConn().Close() // no close frame: the TCP connection just ends
		}
		fltWaitOrQuit(c, done)
	case "disconnect":
		done := c.ReadInBackground()
		if afterAudio() {
			c.SendJSON(map[string]any{"type": "disconnect"})
		}
		fltWaitOrQuit(c, done)
	case "garbage-text":
		done := c.ReadInBackground()
		if fltWaitBinary(c, 1, 10*time.Second) {
			for _, g := range fltGarbageText {
				c.Send(websocket.TextMessage, []byte(g))
			}
		}
		fltWaitOrQuit(c, done)
	case "garbage-binary":
		done := c.ReadInBackground()
		if fltWaitBinary(c, 1, 10*time.Second) {
			junk := make([]byte, 1001)
			rand.New(rand.NewSource(1)).Read(junk)
			c.Send(websocket.BinaryMessage, junk)
		}
		fltWaitOrQuit(c, done)
	default:
		c.CloseWith(websocket.CloseProtocolError, "test server: unknown behaviour "+path)
	}
}

// fltGarbageText: text frames a server might send by mistake; each must be
// answered with one error frame, and the stream must go on.
var fltGarbageText = []string{
	`this is not JSON {`,
	`{"type":"playAudio","data":{"audioContent":"!!!not base64!!!","audioContentType":"raw","sampleRate":8000}}`,
	`{"type":"playAudio"}`,
}

// fltReadOne reads one frame and records it.
func fltReadOne(c *WSConn) error {
	kind, data, err := c.ReadMessage()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.readErr = err
		return err
	}
	c.frames = append(c.frames, Frame{Kind: kind, Data: data, At: time.Now()})
	return nil
}

// fltWaitBinary waits until c has read n binary frames; false after timeout
// or if the socket closed first.
func fltWaitBinary(c *WSConn, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		got := 0
		for _, f := range c.Frames() {
			if f.Kind == websocket.BinaryMessage {
				got++
			}
		}
		if got >= n {
			return true
		}
		c.mu.Lock()
		failed := c.readErr != nil || c.closeCode != 0
		c.mu.Unlock()
		if failed || time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fltWaitOrQuit waits for the reader to end, or for the test to end.
func fltWaitOrQuit(c *WSConn, done <-chan error) {
	select {
	case <-done:
	case <-c.Quit():
	}
}

// fltFirst decodes a connection's first frame (a JSON text frame).
func fltFirst(c *WSConn) (map[string]json.RawMessage, error) {
	frames := c.Frames()
	if len(frames) == 0 || frames[0].Kind != websocket.TextMessage {
		return nil, fmt.Errorf("no first text frame")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(frames[0].Data, &m); err != nil {
		return nil, fmt.Errorf("first frame %q: %v", frames[0].Data, err)
	}
	return m, nil
}

// fltCallIndex is the switchsim call a connection belongs to (switchsim's
// generated call attributes carry the index as callId), or -1.
func fltCallIndex(c *WSConn) int {
	m, err := fltFirst(c)
	if err != nil {
		return -1
	}
	var id string
	if json.Unmarshal(m["callId"], &id) != nil {
		return -1
	}
	i, err := strconv.Atoi(id)
	if err != nil {
		return -1
	}
	return i
}

// fltErrorFrames are the {"type":"error"} text frames the server received.
func fltErrorFrames(c *WSConn) []string {
	var out []string
	for _, f := range c.TextFrames() {
		var m struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(f), &m) == nil && m.Type == "error" {
			out = append(out, f)
		}
	}
	return out
}

// fltLogSummary logs switchsim's summary figures.
func fltLogSummary(t *testing.T, r *Result) {
	t.Helper()
	if s := r.Summary; s != nil {
		t.Log(s)
	}
}

// TestMisbehavingServers: one switchsim process, one engine, 24 calls
// against one server that treats each connection differently (in order of
// arrival): healthy, never reading, reading slowly, closing cleanly, closing
// with 1011, dropping the TCP connection, sending disconnect, sending garbage
// text or binary frames, refusing the upgrade with 401 or 500, never
// answering the upgrade. Each misbehaviour gives its documented events and
// stop reason; the healthy calls running beside them get every frame
// (duration / 20 ms ± 1) and drop nothing. (How long the per-frame hooks
// take is a figure of scripts/bench, not asserted: on a loaded machine a
// preempted thread makes any bound flaky.)
func TestMisbehavingServers(t *testing.T) {
	t.Parallel()
	const (
		hangup  = 7.0
		codec   = 8000
		rate    = 48000 // 96 kB/s: a server that does not read stalls the socket within seconds
		healthy = "ok"
	)
	plan := []string{
		healthy, "401", "never-read", healthy, "garbage-text", "500",
		healthy, "close-abnormal-at-1s", "hang-upgrade", healthy, "close-1000-at-1s", "slow-read",
		healthy, "close-1011-at-1s", "garbage-binary", healthy, "disconnect-at-1s", "401",
		healthy, "hang-upgrade", "close-abnormal-at-1s", healthy, "500", "garbage-text",
	}
	srv := fltNewServer(t, nil, plan...)
	r := RunSim(t, Sim{
		Config:   mustJSON(t, map[string]any{"url": srv.URLFor("mixed"), "sampleRate": rate}),
		Settings: `{"connectTimeoutMs":1000}`,
		Rate:     codec,
		Caller:   WriteWAV(t, "caller.wav", codec, Sine(codec, 1000, -6, hangup)),
		Calls:    len(plan),
		Ramp:     1,
		Wait:     15,
		QuietLog: true,
		Timeout:  90 * time.Second,
	})
	fltLogSummary(t, r)
	r.MustSucceed(t, len(plan))

	// Map each upgraded connection to its call; the calls left over are
	// the ones whose upgrade failed.
	want := map[string]int{}
	for _, b := range plan {
		want[b]++
	}
	byCall := map[int]*WSConn{}
	for _, c := range srv.Conns() {
		i := fltCallIndex(c)
		if i < 0 || i >= len(plan) || byCall[i] != nil {
			t.Fatalf("connection %s: first frame does not name a new call: %q", c.Path, c.TextFrames())
		}
		byCall[i] = c
	}
	failedUpgrades := map[string]int{}
	for i := range plan {
		call := r.Call(t, i)
		c := byCall[i]
		behaviour := "(upgrade failed)"
		if c != nil {
			behaviour = strings.TrimPrefix(c.Path, "/")
		}
		t.Run(fmt.Sprintf("call%02d-%s", i, behaviour), func(t *testing.T) {
			stop, ok := call.Stop()
			if !ok {
				t.Fatalf("no stop event\n%s", r.Describe())
			}
			t.Logf("stop at %d ms: %s", stop.T, stop.JSON)
			if c == nil {
				failedUpgrades[fltCheckUpgradeFailed(t, call)]++
				return
			}
			fltCheckBehaviour(t, behaviour, call, c, hangup, rate)
		})
	}
	for _, b := range []string{"401", "500", "hang-upgrade"} {
		if failedUpgrades[b] != want[b] {
			t.Errorf("%d calls failed to connect with %s, want %d (failures seen: %v)", failedUpgrades[b], b, want[b], failedUpgrades)
		}
	}
	got := map[string]int{}
	for _, c := range byCall {
		got[strings.TrimPrefix(c.Path, "/")]++
	}
	for b, n := range want {
		if b != "401" && b != "500" && b != "hang-upgrade" && got[b] != n {
			t.Errorf("%d connections acted %s, want %d", got[b], b, n)
		}
	}
}

// fltCheckUpgradeFailed checks a call whose upgrade the server refused or
// never answered, and says which it was ("401", "500", "hang-upgrade" or "?").
func fltCheckUpgradeFailed(t *testing.T, call CallResult) string {
	t.Helper()
	failed := call.EventsNamed("connect_failed")
	if len(failed) != 1 {
		t.Errorf("%d connect_failed events, want 1 (events %s)", len(failed), fltEventNames(call))
		return "?"
	}
	if call.ReasonString() != "connect_failed" {
		t.Errorf("stop reason %s, want connect_failed", call.ReasonString())
	}
	if n := len(call.EventsNamed("connect")); n != 0 {
		t.Errorf("%d connect events for a stream that never connected", n)
	}
	text := failed[0].String("error")
	switch {
	case strings.Contains(text, "HTTP 401"):
		return "401"
	case strings.Contains(text, "HTTP 500"):
		return "500"
	case strings.Contains(text, "within") || strings.Contains(text, "timeout"):
		// wsdial words a timeout as "no answer within <timeout>", for the
		// operator; a raw "read tcp ...: i/o timeout" says less.
		if !strings.Contains(text, "no answer within 1s") {
			t.Errorf("connect_failed error %q, want it to say \"no answer within 1s\" (connectTimeoutMs 1000)", text)
		}
		// connectTimeoutMs is 1000; the event's time counts from the
		// call's start, when the stream was created. Generous bound.
		if failed[0].T > 4000 {
			t.Errorf("connect_failed at %d ms for a server that never answers, want within the 1 s connect timeout (bound 4 s)", failed[0].T)
		}
		return "hang-upgrade"
	}
	t.Errorf("connect_failed error %q names neither an HTTP status nor the timeout", text)
	return "?"
}

// fltCheckBehaviour checks the events of one call against what its server did.
func fltCheckBehaviour(t *testing.T, behaviour string, call CallResult, c *WSConn, hangup float64, rate int) {
	t.Helper()
	frames := len(c.BinaryFrames())
	overruns := call.EventsNamed("buffer_overrun")
	disc := call.EventsNamed("disconnect")
	errs := call.EventsNamed("error")
	stop, _ := call.Stop()
	reason := call.ReasonString()
	wantReason := func(w string) {
		t.Helper()
		if reason != w {
			t.Errorf("stop reason %s, want %s (events %s)", reason, w, fltEventNames(call))
		}
	}
	early := func() {
		t.Helper()
		if stop.T > int64(hangup*1000)-1500 {
			t.Errorf("stop at %d ms: the listen did not end soon after the server's action at 1 s", stop.T)
		}
	}
	switch behaviour {
	case "ok":
		wantReason("hangup")
		if want := int(hangup * 50); frames < want-1 || frames > want+1 {
			t.Errorf("healthy call: server received %d audio frames, want %d ± 1", frames, want)
		}
		if call.FramesDropped == nil || *call.FramesDropped != 0 {
			t.Errorf("healthy call: framesDropped %v, want 0", call.FramesDropped)
		}
		if len(overruns)+len(disc)+len(errs) != 0 {
			t.Errorf("healthy call: events %s", fltEventNames(call))
		}
		checkWireFrames(t, c, rate, 1)
		checkContinuous(t, c.Audio(), rate, -6)
	case "never-read", "slow-read":
		wantReason("hangup")
		if len(overruns) != 1 {
			t.Errorf("%d buffer_overrun events, want exactly 1 (events %s)", len(overruns), fltEventNames(call))
		}
		if call.FramesDropped == nil || *call.FramesDropped <= 0 {
			t.Errorf("framesDropped %v, want > 0", call.FramesDropped)
		}
		if call.FramesIn != int64(hangup*50) {
			t.Errorf("framesIn %d, want %d: the media thread must keep its pace", call.FramesIn, int(hangup*50))
		}
	case "close-1000-at-1s":
		wantReason("server_closed")
		early()
		if len(disc) != 1 || !fltHasCode(disc[0], 1000) {
			t.Errorf("disconnect events %v, want one with code 1000", fltJSONs(disc))
		}
	case "close-1011-at-1s":
		wantReason("connection_lost")
		early()
		if len(disc) != 1 || !fltHasCode(disc[0], 1011) {
			t.Errorf("disconnect events %v, want one with code 1011", fltJSONs(disc))
		}
	case "close-abnormal-at-1s":
		wantReason("connection_lost")
		early()
		// No close frame: the event carries an error text, or the code
		// 1006 that RFC 6455 reserves for exactly this (never sent on the wire).
		if len(disc) != 1 || (disc[0].String("error") == "" && !fltHasCode(disc[0], 1006)) {
			t.Errorf("disconnect events %v, want one with an error text or code 1006", fltJSONs(disc))
		}
		if stop.String("error") == "" {
			t.Errorf("stop event %s has no error text", stop.JSON)
		}
	case "disconnect-at-1s":
		wantReason("disconnect")
		early()
		var req bool
		if len(disc) != 1 || !disc[0].Field("requested", &req) || !req {
			t.Errorf("disconnect events %v, want one with requested: true", fltJSONs(disc))
		}
	case "garbage-text", "garbage-binary":
		wantReason("hangup")
		n := len(fltGarbageText)
		if behaviour == "garbage-binary" {
			n = 1
		}
		if len(errs) != n {
			t.Errorf("%d error events, want %d (one per bad frame): %v", len(errs), n, fltJSONs(errs))
		}
		if got := fltErrorFrames(c); len(got) != n {
			t.Errorf("server received %d error frames, want %d: %q", len(got), n, got)
		}
		if want := int(hangup * 50); frames < want-1 || frames > want+1 {
			t.Errorf("server received %d audio frames, want %d ± 1: the stream goes on after an error frame", frames, want)
		}
	default:
		t.Errorf("no check for behaviour %q", behaviour)
	}
}

func fltHasCode(e Event, code int) bool {
	var got int
	return e.Field("code", &got) && got == code
}

func fltJSONs(ev []Event) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		out[i] = e.Name + " " + string(e.JSON)
	}
	return out
}

func fltEventNames(c CallResult) string {
	names := make([]string, len(c.Events))
	for i, e := range c.Events {
		names[i] = e.Name
	}
	return "[" + strings.Join(names, " ") + "]"
}

// limPCM is base64 of n seconds of a 440 Hz tone at rate, raw 16-bit LE.
func limPCM(rate int, seconds float64) string {
	x := Sine(rate, 440, -12, seconds)
	b := make([]byte, 2*len(x))
	for i, v := range x {
		b[2*i], b[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func limClip(id string, rate int, seconds float64) map[string]any {
	return map[string]any{"type": "playAudio", "data": map[string]any{
		"audioContent": limPCM(rate, seconds), "audioContentType": "raw", "sampleRate": rate, "id": id}}
}

// limSender is a handler that, after the first audio frame, sends frames
// (text JSON values or binary []byte) and then reads until the client closes.
func limSender(frames ...any) Handler {
	return func(c *WSConn) {
		done := c.ReadInBackground()
		if fltWaitBinary(c, 1, 10*time.Second) {
			for _, f := range frames {
				if b, ok := f.([]byte); ok {
					c.Send(websocket.BinaryMessage, b)
				} else {
					c.SendJSON(f)
				}
			}
		}
		fltWaitOrQuit(c, done)
	}
}

// TestLimits: the engine-wide limits refuse, with a text naming the limit,
// what goes over them, and let the rest through:
//   - maxStreams 2 with 3 calls: the third listen_stream_create fails;
//   - maxClipSeconds 1: a 2 s playAudio clip is refused with an error frame,
//     a 0.5 s clip after it plays;
//   - maxQueuedSeconds 2: of four 0.8 s clips sent at once the third and
//     fourth are refused with error frames, the first two play;
//   - maxQueuedSeconds 2 with streamed playback: a 3 s binary frame is
//     refused, a 1 s one after it plays.
func TestLimits(t *testing.T) {
	t.Parallel()
	const rate = 8000
	clipSrv := NewWSServer(t, limSender(limClip("long", rate, 2), limClip("short", rate, 0.5)))
	queueSrv := NewWSServer(t, limSender(limClip("q1", rate, 0.8), limClip("q2", rate, 0.8),
		limClip("q3", rate, 0.8), limClip("q4", rate, 0.8)))
	raw := func(seconds float64) []byte {
		b, _ := base64.StdEncoding.DecodeString(limPCM(rate, seconds))
		return b
	}
	streamSrv := NewWSServer(t, limSender(raw(3), raw(1)))
	streamsSrv := NewWSServer(t, nil)
	sims := []Sim{
		{Config: mustJSON(t, map[string]any{"url": streamsSrv.URL}), Settings: `{"maxStreams":2}`,
			Calls: 3, Hangup: 1, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": clipSrv.URL}), Settings: `{"maxClipSeconds":1}`,
			Hangup: 2.5, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": queueSrv.URL}), Settings: `{"maxQueuedSeconds":2}`,
			Hangup: 3, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": streamSrv.URL,
			"bidirectionalAudio": map[string]any{"streaming": true, "sampleRate": rate}}),
			Settings: `{"maxQueuedSeconds":2}`, Hangup: 2.5, QuietLog: true},
	}
	results := RunSims(t, sims)

	t.Run("maxStreams", func(t *testing.T) {
		r := results[0]
		if r.ExitCode != 2 {
			t.Errorf("switchsim exited with %d, want 2 (a stream create failed)", r.ExitCode)
		}
		if len(r.Calls) != 3 {
			t.Fatalf("%d call lines, want 3\n%s", len(r.Calls), r.Describe())
		}
		refused := 0
		for _, c := range r.Calls {
			if c.Error != "" {
				refused++
				if !strings.Contains(c.Error, "maxStreams") || !strings.Contains(c.Error, "2") {
					t.Errorf("create error %q does not name the limit (maxStreams 2)", c.Error)
				}
				continue
			}
			if c.ReasonString() != "hangup" {
				t.Errorf("call %d: stop reason %s, want hangup", c.Call, c.ReasonString())
			}
		}
		if refused != 1 {
			t.Errorf("%d creates refused, want 1\n%s", refused, r.Describe())
		}
		if n := len(streamsSrv.WaitDone(t, 2, 5*time.Second)); n != 2 {
			t.Errorf("%d connections, want 2", n)
		}
	})
	check := func(t *testing.T, r *Result, srv *WSServer, refusedWant []string, playedWant []string) {
		t.Helper()
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup", call.ReasonString())
		}
		c := srv.WaitDone(t, 1, 5*time.Second)[0]
		errs := fltErrorFrames(c)
		if len(errs) != len(refusedWant) {
			t.Errorf("%d error frames, want %d: %q", len(errs), len(refusedWant), errs)
		}
		for i, e := range errs {
			if i < len(refusedWant) && !strings.Contains(e, refusedWant[i]) {
				t.Errorf("error frame %s does not name the limit (%q)", e, refusedWant[i])
			}
		}
		if n := len(call.EventsNamed("error")); n != len(refusedWant) {
			t.Errorf("%d error events, want %d", n, len(refusedWant))
		}
		var played []string
		for _, e := range call.EventsNamed("play_done") {
			played = append(played, e.String("id"))
		}
		if strings.Join(played, ",") != strings.Join(playedWant, ",") {
			t.Errorf("play_done for %q, want %q", played, playedWant)
		}
		t.Logf("error frames %q; samplesPlayed %d", errs, call.SamplesPlayed)
	}
	t.Run("maxClipSeconds", func(t *testing.T) {
		check(t, results[1], clipSrv, []string{"limit of 1 s"}, []string{"short"})
	})
	t.Run("maxQueuedSeconds", func(t *testing.T) {
		check(t, results[2], queueSrv, []string{"limit of 2.0 s", "limit of 2.0 s"}, []string{"q1", "q2"})
	})
	t.Run("maxQueuedSeconds-streamed", func(t *testing.T) {
		r := results[3]
		check(t, r, streamSrv, []string{"limit of 2.0 s"}, nil)
		// The 1 s that fitted played (less the jitter prebuffer's rounding).
		if got := r.Call(t, 0).SamplesPlayed; got < rate*9/10 || got > rate*11/10 {
			t.Errorf("samplesPlayed %d, want the 1 s that fitted (%d)", got, rate)
		}
	})
}
