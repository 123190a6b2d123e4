package stream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/playback"
	"github.com/modlisten/mod_listen/go/protocol"
)

// fakeMedia stands in for the host's rings: caller frames of a constant at
// the real-time rate, and a panic on demand.
type fakeMedia struct {
	start   time.Time
	frames  int64
	drains  atomic.Int64
	panicAt int64
	ended   atomic.Bool
}

func (m *fakeMedia) DrainRead(dst []int16) (int, int64) {
	if n := m.drains.Add(1); m.panicAt > 0 && n >= m.panicAt {
		panic("drain exploded")
	}
	if m.start.IsZero() {
		m.start = time.Now()
	}
	if int64(time.Since(m.start)/(20*time.Millisecond)) < m.frames {
		return 0, 0
	}
	m.frames++
	for i := range dst[:160] {
		dst[i] = 1000
	}
	return 160, 0
}
func (m *fakeMedia) DrainWrite([]int16) (int, int64) { return 0, 0 }
func (m *fakeMedia) PopDTMF() (byte, uint32, bool)   { return 0, 0, false }
func (m *fakeMedia) PeekRead([]int16) (int, uint64)  { return 0, 0 }
func (m *fakeMedia) PeekWrite([]int16) (int, uint64) { return 0, 0 }
func (m *fakeMedia) Captured() uint64                { return 0 }
func (m *fakeMedia) SilentRun() uint64               { return 0 }
func (m *fakeMedia) Dropped() uint64                 { return 0 }
func (m *fakeMedia) TakeOverrun() bool               { return false }
func (m *fakeMedia) Now() int64                      { return 0 }
func (m *fakeMedia) End()                            { m.ended.Store(true) }
func (m *fakeMedia) Play() playback.Ring             { return nil }
func (m *fakeMedia) Played() uint64                  { return 0 }
func (m *fakeMedia) KeepAhead()                      {}

type recorder struct {
	mu     sync.Mutex
	events []string
	bodies map[string]string
}

func (r *recorder) Event(name string, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, name)
	if r.bodies == nil {
		r.bodies = map[string]string{}
	}
	r.bodies[name] = string(body)
}
func (r *recorder) Log(int, string) {}

func sinkServer(t *testing.T) string {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c, err := up.Upgrade(w, req, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func startStream(t *testing.T, cfg string, m Media, h Host) *Stream {
	t.Helper()
	set := config.DefaultSettings()
	l, err := config.ParseListen([]byte(cfg), set)
	if err != nil {
		t.Fatal(err)
	}
	call, _ := protocol.ParseObject([]byte(`{"callSid":"x"}`))
	s, err := New(Options{Config: l, Settings: set, Call: call, CodecRate: 8000}, m, h)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s
}

// wakeUntilDone plays the pacer for a stream, offering it inline work every
// other tick.
func wakeUntilDone(t *testing.T, s *Stream, stopAfter time.Duration) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	stop := time.After(stopAfter)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-s.Done():
			return
		case <-stop:
			s.Stop(ReasonHangup)
		case <-tick.C:
			s.Wake(n%2 == 0)
		case <-deadline:
			t.Fatal("the stream never finished")
		}
	}
}

func TestPanicEndsOnlyThatStream(t *testing.T) {
	url := sinkServer(t)
	var hookBody atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]any
		json.NewDecoder(r.Body).Decode(&b)
		hookBody.Store(b)
	}))
	defer hook.Close()
	cfg := `{"url":"` + url + `","actionHook":"` + hook.URL + `"}`

	bad, good := &recorder{}, &recorder{}
	sb := startStream(t, cfg, &fakeMedia{panicAt: 5}, bad)
	sg := startStream(t, cfg, &fakeMedia{}, good)
	wakeUntilDone(t, sb, 5*time.Second)
	if !strings.Contains(bad.bodies["error"], "drain exploded") {
		t.Errorf("error event %q does not say what happened", bad.bodies["error"])
	}
	if !strings.Contains(bad.bodies["stop"], `"reason":"error"`) {
		t.Errorf("stop event %s, want reason error", bad.bodies["stop"])
	}
	if b, _ := hookBody.Load().(map[string]any); b["reason"] != "error" || b["callSid"] != "x" {
		t.Errorf("hook got %v, want reason error for call x", b)
	}
	select {
	case <-sg.Done():
		t.Fatal("the healthy stream ended with the broken one")
	default:
	}
	wakeUntilDone(t, sg, 100*time.Millisecond)
	if !strings.Contains(good.bodies["stop"], `"reason":"hangup"`) {
		t.Errorf("healthy stream stopped with %s", good.bodies["stop"])
	}
}

func TestStreamsLeaveNoGoroutines(t *testing.T) {
	url := sinkServer(t)
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		s := startStream(t, `{"url":"`+url+`"}`, &fakeMedia{}, &recorder{})
		wakeUntilDone(t, s, 30*time.Millisecond)
	}
	var after int
	for i := 0; i < 100; i++ { // closing sockets finish their goroutines shortly after
		if after = runtime.NumGoroutine(); after <= before+2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%d goroutines before 20 streams, %d after", before, after)
}

// stuckRing is a playback ring the host takes from only while playing is set.
type stuckRing struct {
	mu                        sync.Mutex
	written, consumed, played uint64
}

func (r *stuckRing) Space() int { r.mu.Lock(); defer r.mu.Unlock(); return 1 << 20 }
func (r *stuckRing) Write(src []int16) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written += uint64(len(src))
	return len(src)
}
func (r *stuckRing) Consumed() uint64 { r.mu.Lock(); defer r.mu.Unlock(); return r.consumed }
func (r *stuckRing) Written() uint64  { r.mu.Lock(); defer r.mu.Unlock(); return r.written }
func (r *stuckRing) Discard()         { r.mu.Lock(); defer r.mu.Unlock(); r.consumed = r.written }

// playMedia is fakeMedia with a playback ring, which the host plays from
// (one frame per frame read) only if playing.
type playMedia struct {
	fakeMedia
	ring    stuckRing
	playing bool
}

func (m *playMedia) DrainRead(dst []int16) (int, int64) {
	n, stamp := m.fakeMedia.DrainRead(dst)
	if n > 0 && m.playing {
		m.ring.mu.Lock()
		take := min(uint64(n), m.ring.written-m.ring.consumed)
		m.ring.consumed += take
		m.ring.played += take
		m.ring.mu.Unlock()
	}
	return n, stamp
}
func (m *playMedia) Play() playback.Ring { return &m.ring }
func (m *playMedia) Played() uint64 {
	m.ring.mu.Lock()
	defer m.ring.mu.Unlock()
	return m.ring.played
}

// A host that reads the call but writes nothing into it (a channel parked
// before the listen) never plays the server's clip: after a second of the
// caller's audio the clip is refused, naming it, instead of waiting forever.
// A host that plays gets its playDone.
func TestUnplayedClipIsRefused(t *testing.T) {
	for _, playing := range []bool{false, true} {
		texts := make(chan string, 16)
		up := websocket.Upgrader{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			c, err := up.Upgrade(w, req, nil)
			if err != nil {
				return
			}
			defer c.Close()
			clip := `{"type":"playAudio","data":{"audioContent":"` + strings.Repeat("AAAA", 400) + `","audioContentType":"raw","sampleRate":8000,"id":"p1"}}`
			c.WriteMessage(websocket.TextMessage, []byte(clip))
			for {
				kind, data, err := c.ReadMessage()
				if err != nil {
					return
				}
				if kind == websocket.TextMessage {
					texts <- string(data)
				}
			}
		}))
		h := &recorder{}
		s := startStream(t, `{"url":"ws`+strings.TrimPrefix(srv.URL, "http")+`"}`, &playMedia{playing: playing}, h)
		wakeUntilDone(t, s, 2500*time.Millisecond)
		srv.Close()
		var got []string
		for len(texts) > 0 {
			got = append(got, <-texts)
		}
		all := strings.Join(got, "\n")
		if !playing {
			if !strings.Contains(all, `"id":"p1"`) || !strings.Contains(all, "not played") || strings.Contains(all, "playDone") {
				t.Errorf("host writing nothing: the server got %q, want an error frame naming p1 and no playDone", all)
			}
			if b := h.bodies["error"]; !strings.Contains(b, `"id":"p1"`) {
				t.Errorf("host writing nothing: error event %q, want one naming p1", b)
			}
		} else if !strings.Contains(all, `"playDone"`) || strings.Contains(all, "not played") {
			t.Errorf("host playing: the server got %q, want playDone and no refusal", all)
		}
	}
}

// The status says what is spoken to the server.
func TestStatusNamesProtocolAndEncoding(t *testing.T) {
	for cfg, want := range map[string][2]string{
		`{"url":"%s"}`:                     {"jambonz", "l16"},
		`{"url":"%s","encoding":"alaw"}`:   {"jambonz", "alaw"},
		`{"url":"%s","protocol":"twilio"}`: {"twilio", "mulaw"},
	} {
		m := &fakeMedia{}
		s := startStream(t, fmt.Sprintf(cfg, sinkServer(t)), m, &recorder{})
		st := s.Status()
		if st.Protocol != want[0] || st.Encoding != want[1] {
			t.Errorf("%s: status protocol %v encoding %v, want %v", cfg, st.Protocol, st.Encoding, want)
		}
		wakeUntilDone(t, s, 50*time.Millisecond)
	}
}
