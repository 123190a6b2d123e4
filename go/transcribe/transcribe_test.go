package transcribe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
)

func recognizer(vendor string) config.Recognizer {
	return config.Recognizer{Vendor: vendor, URL: "wss://stt.example/v?x=1", APIKey: "k", Language: "en-GB",
		Interim: true, Punctuate: false, Channels: config.PartyBoth, SampleRate: 16000, Model: "nova-2"}
}

func TestCustomParse(t *testing.T) {
	r := recognizer("custom")
	r.Channels = config.PartyCaller
	v, err := NewVendor(r)
	if err != nil {
		t.Fatal(err)
	}
	u, h := v.Endpoint()
	if u != r.URL || !reflect.DeepEqual(h, map[string]string{"Authorization": "Bearer k"}) {
		t.Fatalf("endpoint %s %v", u, h)
	}
	if got := string(v.Start()); got != `{"type":"start","language":"en-GB","format":"raw","encoding":"LINEAR16","sampleRateHz":16000,"interimResults":true}` {
		t.Fatalf("start %s", got)
	}
	ts, err := v.Parse([]byte(`{"type":"transcription","is_final":true,"alternatives":[{"transcript":"hi there","confidence":0.7}],"channel":0}`))
	if err != nil || len(ts) != 1 || !ts[0].Final || ts[0].Alternatives[0] != (Alternative{"hi there", 0.7}) || ts[0].StartMs != -1 {
		t.Fatalf("%+v %v", ts, err)
	}
	for msg, want := range map[string]string{
		`{"type":"error","error":"quota\nexceeded"}`: `reported an error: quota\nexceeded`,
		`{"type":"error","error":{"code":7}}`:        `reported an error: {"code":7}`,
		`not json`:                                   `not JSON: not json`,
	} {
		if _, err := v.Parse([]byte(msg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", msg, err, want)
		}
	}
	if ts, err := v.Parse([]byte(`{"type":"vendor-extension"}`)); ts != nil || err != nil {
		t.Errorf("an unknown message gave %v %v", ts, err)
	}
}

func TestDeepgramParse(t *testing.T) {
	v, err := NewVendor(recognizer("deepgram"))
	if err != nil {
		t.Fatal(err)
	}
	u, h := v.Endpoint()
	p, _ := url.Parse(u)
	want := url.Values{"x": {"1"}, "encoding": {"linear16"}, "sample_rate": {"16000"}, "channels": {"2"}, "multichannel": {"true"},
		"language": {"en-GB"}, "model": {"nova-2"}, "interim_results": {"true"}, "punctuate": {"false"}}
	if p.Host != "stt.example" || !reflect.DeepEqual(p.Query(), want) || h["Authorization"] != "Token k" {
		t.Fatalf("endpoint %s %v", u, h)
	}
	ts, err := v.Parse([]byte(`{"type":"Results","channel_index":[1,2],"duration":1.2,"start":3.25,"is_final":false,"speech_final":false,
		"channel":{"alternatives":[{"transcript":"so","confidence":0.4,"words":[]}]}}`))
	if err != nil || len(ts) != 1 || ts[0].Final || ts[0].Channel != 1 || ts[0].StartMs != 3250 || ts[0].Alternatives[0].Transcript != "so" ||
		ts[0].SpeechFinal == nil || *ts[0].SpeechFinal {
		t.Fatalf("%+v %v", ts, err)
	}
	for _, m := range []string{`{"type":"Metadata","duration":3}`, `{"type":"UtteranceEnd"}`, `{"type":"SpeechStarted"}`} {
		if ts, err := v.Parse([]byte(m)); ts != nil || err != nil {
			t.Errorf("%s gave %v %v", m, ts, err)
		}
	}
	r := recognizer("deepgram")
	r.URL = ""
	v, _ = NewVendor(r)
	if u, _ := v.Endpoint(); !strings.HasPrefix(u, DeepgramURL+"?") {
		t.Errorf("default endpoint %s", u)
	}
}

// A recognizer that never answers costs the writer nothing: the oldest
// frames make room, counted, and reported once.
func TestWriteDropsOldest(t *testing.T) {
	reports := 0
	var first uint64
	v, _ := NewVendor(recognizer("deepgram"))
	s := Start(Options{Vendor: v, Format: Format{Rate: 8000, Channels: 1}, RingFrames: 4,
		Dial: func(ctx context.Context, _ string, _ map[string]string) (*websocket.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
		Transcript: func(Transcript) {}, Failed: func(err error) { t.Errorf("failed: %v", err) },
		Dropped: func(n uint64) { reports++; first = n },
	})
	frame := make([]byte, s.FrameBytes())
	for i := range 10 {
		frame[0] = byte(i)
		s.Write(frame)
	}
	if s.Dropped() != 6 || reports != 1 || first != 1 {
		t.Fatalf("dropped %d, %d reports (first %d); want 6, 1, 1", s.Dropped(), reports, first)
	}
	for want := 6; want < 10; want++ {
		n, _ := s.ring.Read(frame)
		if n != len(frame) || frame[0] != byte(want) {
			t.Fatalf("ring holds frame %d (%d bytes), want %d", frame[0], n, want)
		}
	}
	start := time.Now()
	s.Wait(50 * time.Millisecond)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Wait took %v", d)
	}
}

// Deepgram's times count from each connection's first frame; after a
// redial the recognizer makes them times in the call again. The first
// connection takes 25 frames (500 ms) and fails; the second's result at
// 0.1 s is 600 ms into the call.
func TestStartMsAcrossReconnect(t *testing.T) {
	frames := make(chan int, 2)      // audio frames each connection read
	redialled := make(chan struct{}) // the second connection is up
	var conns atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		conn := conns.Add(1)
		if conn == 2 {
			close(redialled)
		}
		n := 0
		for n < 25 && conn == 1 || n < 10 && conn == 2 {
			kind, _, err := c.ReadMessage()
			if err != nil {
				return
			}
			if kind == websocket.BinaryMessage {
				n++
			}
		}
		frames <- n
		if conn == 1 {
			c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1011, "gone"))
			return
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"Results","channel_index":[0,1],"start":0.1,"is_final":true,`+
			`"channel":{"alternatives":[{"transcript":"again","confidence":0.9}]}}`))
		c.ReadMessage()
	}))
	defer srv.Close()
	rc := recognizer("deepgram")
	rc.URL = "ws" + strings.TrimPrefix(srv.URL, "http")
	rc.Channels, rc.SampleRate = config.PartyCaller, 8000
	v, _ := NewVendor(rc)
	got := make(chan Transcript, 1)
	s := Start(Options{Vendor: v, Format: Format{Rate: 8000, Channels: 1}, RingFrames: 100,
		Reconnect: config.Reconnect{Attempts: 1, Backoff: 10 * time.Millisecond},
		Dial: func(ctx context.Context, u string, _ map[string]string) (*websocket.Conn, error) {
			c, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
			return c, err
		},
		Transcript: func(tr Transcript) { got <- tr },
		Failed:     func(error) {},
		Dropped:    func(uint64) {},
	})
	defer s.Abort()
	frame := make([]byte, s.FrameBytes())
	for range 25 {
		s.Write(frame)
	}
	if n := <-frames; n != 25 {
		t.Fatalf("first connection read %d frames", n)
	}
	select {
	case <-redialled:
	case <-time.After(10 * time.Second):
		t.Fatal("no redial")
	}
	for range 10 {
		s.Write(frame)
	}
	select {
	case tr := <-got:
		if tr.StartMs != 600 || !tr.Final {
			t.Errorf("transcript %+v, want final at 600 ms", tr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no transcript")
	}
}
