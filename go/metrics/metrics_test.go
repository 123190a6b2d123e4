package metrics

import (
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/histogram"
)

type fixed Figures

func (f *fixed) Figures() Figures { return Figures(*f) }

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func hasLine(t *testing.T, text, line string) {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return
		}
	}
	t.Fatalf("no line %q in:\n%s", line, text)
}

func TestLiveAndEndedStreamsAreCountedOnce(t *testing.T) {
	var send, play histogram.Histogram
	m := New(Latencies{Send: &send, Play: &play})
	a := &fixed{State: "streaming", FramesSent: 10, FramesDropped: 1}
	b := &fixed{State: "connecting"}
	m.Track(1, a, 320)
	m.Track(2, b, 640)
	text := scrapeText(t, m)
	hasLine(t, text, `listen_streams_active{state="streaming"} 1`)
	hasLine(t, text, `listen_streams_active{state="connecting"} 1`)
	hasLine(t, text, `listen_frames_sent_total 10`)
	hasLine(t, text, `listen_audio_bytes_sent_total 3200`)
	hasLine(t, text, `listen_streams_started_total 2`)

	// The stop event's figures replace the live ones: frames are not
	// counted twice, and a second stop event for the handle adds nothing.
	m.Event(1, "stop", []byte(`{"reason":"hangup","framesSent":12,"framesDropped":2}`))
	m.Event(1, "stop", []byte(`{"reason":"hangup","framesSent":12,"framesDropped":2}`))
	m.Event(2, "stop", []byte(`{"reason":"https://example.com/x","framesSent":0}`))
	text = scrapeText(t, m)
	hasLine(t, text, `listen_frames_sent_total 12`)
	hasLine(t, text, `listen_frames_dropped_total 2`)
	hasLine(t, text, `listen_audio_bytes_sent_total 3840`)
	hasLine(t, text, `listen_streams_active{state="streaming"} 0`)
	hasLine(t, text, `listen_streams_ended_total{reason="hangup"} 2`)
	hasLine(t, text, `listen_streams_ended_total{reason="other"} 1`)
	if strings.Contains(text, "example.com") {
		t.Fatalf("a reason became a label value:\n%s", text)
	}
}

func TestEventsCountConnectsAndClips(t *testing.T) {
	var send, play histogram.Histogram
	send.Record(3 * time.Millisecond)
	send.Record(30 * time.Millisecond)
	m := New(Latencies{Send: &send, Play: &play})
	m.Track(7, &fixed{State: "connecting"}, 320)
	m.Event(7, "connect", []byte(`{"url":"ws://127.0.0.1:1/"}`))
	m.Event(7, "reconnecting", []byte(`{"error":"x","attempt":1}`))
	m.Event(7, "connect_failed", []byte(`{"url":"ws://127.0.0.1:1/","error":"ws://127.0.0.1:1/: dial tcp 127.0.0.1:1: connect: connection refused"}`))
	m.Event(7, "connect_failed", []byte(`{"error":"ws://h/ refused the upgrade: HTTP 403 Forbidden"}`))
	m.Event(7, "connect_failed", []byte(`{"error":"wss://h/: tls: failed to verify certificate: x509: unknown authority"}`))
	m.Event(7, "connect_failed", []byte(`{"error":"ws://h/: no answer within 5s"}`))
	m.Event(7, "play_done", []byte(`{"id":"a"}`))
	m.Event(7, "suppressed", []byte(`{"event":"play_done","count":3}`))
	m.Event(7, "error", []byte(`{"error":"bad clip","id":"b"}`))
	m.Event(7, "error", []byte(`{"error":"bad message"}`))
	m.Event(7, "kill_audio", []byte(`{"clipsDiscarded":2,"marksCleared":0}`))
	text := scrapeText(t, m)
	for _, l := range []string{
		`listen_reconnects_total 1`,
		`listen_connect_failures_total{cause="refused"} 1`,
		`listen_connect_failures_total{cause="http_status"} 1`,
		`listen_connect_failures_total{cause="tls"} 1`,
		`listen_connect_failures_total{cause="timeout"} 1`,
		`listen_clips_total{outcome="played"} 4`,
		`listen_clips_total{outcome="refused"} 1`,
		`listen_clips_total{outcome="killed"} 2`,
		`listen_connect_seconds_count 1`,
		`listen_capture_to_socket_seconds_bucket{le="0.005"} 1`,
		`listen_capture_to_socket_seconds_bucket{le="0.05"} 2`,
		`listen_capture_to_socket_seconds_count 2`,
		`listen_playback_latency_seconds_count 0`,
	} {
		hasLine(t, text, l)
	}
}

func TestListenReportsABindFailureAndServes(t *testing.T) {
	var send, play histogram.Histogram
	m := New(Latencies{Send: &send, Play: &play})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = m.Listen(busy.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "metrics: cannot serve on "+busy.Addr().String()) ||
		!strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("bind on a busy port: %v", err)
	}
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	m.Close()
}
