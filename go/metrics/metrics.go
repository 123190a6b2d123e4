// Package metrics serves the engine's figures to Prometheus. Nothing here is
// on the per-frame path: counters move on the streams' event goroutines,
// and what the streams count themselves (frames, drops, states, latencies)
// is read only when /metrics is scraped.
package metrics

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/modlisten/mod_listen/go/histogram"
)

// Figures are what a live stream has counted so far.
type Figures struct {
	State         string // connecting, streaming, closing, ended
	FramesSent    uint64
	FramesDropped uint64
}

// Source is a live stream as the scrape sees it.
type Source interface{ Figures() Figures }

// Latencies are the engine-wide latency histograms the streams record into.
type Latencies struct {
	Send *histogram.Histogram // captured frame pushed -> written to the socket
	Play *histogram.Histogram // streamed audio received -> first sample played
}

// Connect failure causes: a fixed set, so the label stays bounded whatever
// the error text says.
const (
	CauseRefused    = "refused"
	CauseTimeout    = "timeout"
	CauseTLS        = "tls"
	CauseHTTPStatus = "http_status"
	CauseOther      = "other"
)

// latencyBounds are the upper bounds of the latency histograms' buckets.
var latencyBounds = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

type tracked struct {
	src           Source
	bytesPerFrame uint64
	dialing       time.Time // when the current connect began; zero once connected
}

// Metrics holds the engine's series.
type Metrics struct {
	lat Latencies
	reg *prometheus.Registry

	mu   sync.Mutex
	live map[uint64]*tracked
	// What streams that have ended counted, added once at their stop event
	// under mu, so a scrape never counts a stream twice or loses it.
	endedFrames, endedDropped, endedBytes uint64

	started         prometheus.Counter
	ended           *prometheus.CounterVec
	connectFailures *prometheus.CounterVec
	reconnects      prometheus.Counter
	clips           *prometheus.CounterVec
	connectTime     prometheus.Histogram

	srvMu sync.Mutex
	addr  string
	srv   *http.Server
}

// New makes the series; lat's histograms are read at each scrape.
func New(lat Latencies) *Metrics {
	m := &Metrics{lat: lat, reg: prometheus.NewRegistry(), live: map[uint64]*tracked{}}
	m.started = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "listen_streams_started_total", Help: "Listens started."})
	m.ended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "listen_streams_ended_total", Help: "Listens ended, by the stop event's reason."}, []string{"reason"})
	m.connectFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "listen_connect_failures_total",
		Help: "Connects or reconnects that failed, by cause (refused, timeout, tls, http_status, other)."},
		[]string{"cause"})
	m.reconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "listen_reconnects_total", Help: "Dropped sockets being redialled."})
	m.clips = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "listen_clips_total",
		Help: "Clips from servers, by outcome: played to the end, refused, or killed by killAudio/clear."},
		[]string{"outcome"})
	for _, o := range []string{"played", "refused", "killed"} {
		m.clips.WithLabelValues(o)
	}
	m.connectTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "listen_connect_seconds",
		Help:    "Time from the start of a connect (or redial) to the WebSocket upgrade.",
		Buckets: seconds(latencyBounds)})
	m.reg.MustRegister(m.started, m.ended, m.connectFailures, m.reconnects, m.clips, m.connectTime, scrape{m})
	return m
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// Track registers a new stream under its handle. bytesPerFrame is the size
// of one audio frame on the wire, for the bytes sent.
func (m *Metrics) Track(id uint64, src Source, bytesPerFrame int) {
	m.started.Inc()
	m.mu.Lock()
	m.live[id] = &tracked{src: src, bytesPerFrame: uint64(bytesPerFrame), dialing: time.Now()}
	m.mu.Unlock()
}

// Event counts what one event of stream id says. It runs on the stream's
// event goroutine.
func (m *Metrics) Event(id uint64, name string, body []byte) {
	switch name {
	case "connect":
		m.mu.Lock()
		var began time.Time
		if t := m.live[id]; t != nil {
			began, t.dialing = t.dialing, time.Time{}
		}
		m.mu.Unlock()
		if !began.IsZero() {
			m.connectTime.Observe(time.Since(began).Seconds())
		}
	case "reconnecting":
		m.reconnects.Inc()
		m.mu.Lock()
		if t := m.live[id]; t != nil {
			t.dialing = time.Now()
		}
		m.mu.Unlock()
	case "connect_failed":
		var b struct{ Error string }
		_ = json.Unmarshal(body, &b)
		m.connectFailures.WithLabelValues(Cause(b.Error)).Inc()
	case "play_done":
		m.clips.WithLabelValues("played").Inc()
	case "error":
		// A refusal that names a clip's id is a refused clip.
		var b struct{ ID json.RawMessage }
		if json.Unmarshal(body, &b) == nil && b.ID != nil {
			m.clips.WithLabelValues("refused").Inc()
		}
	case "suppressed":
		var b struct {
			Event string
			Count uint64
		}
		if json.Unmarshal(body, &b) == nil && b.Event == "play_done" {
			m.clips.WithLabelValues("played").Add(float64(b.Count))
		}
	case "kill_audio":
		var b struct{ ClipsDiscarded uint64 }
		if json.Unmarshal(body, &b) == nil {
			m.clips.WithLabelValues("killed").Add(float64(b.ClipsDiscarded))
		}
	case "stop":
		var b struct {
			Reason                    string
			FramesSent, FramesDropped uint64
		}
		_ = json.Unmarshal(body, &b)
		m.mu.Lock()
		if t := m.live[id]; t != nil {
			delete(m.live, id)
			m.endedFrames += b.FramesSent
			m.endedDropped += b.FramesDropped
			m.endedBytes += b.FramesSent * t.bytesPerFrame
		}
		m.mu.Unlock()
		m.ended.WithLabelValues(Reason(b.Reason)).Inc()
	}
}

// reasons are the stop reasons the engine gives; anything else is "other",
// so the label stays bounded.
var reasons = map[string]bool{"hangup": true, "stop": true, "disconnect": true, "server_closed": true,
	"connection_lost": true, "connect_failed": true, "server_error": true, "finishOnKey": true,
	"maxLength": true, "timeout": true, "error": true, "shutdown": true}

// Reason is a stop reason as a label value.
func Reason(r string) string {
	if reasons[r] {
		return r
	}
	return "other"
}

// Cause sorts a connect error's text into one of the Cause* values.
func Cause(text string) string {
	t := strings.ToLower(text)
	switch {
	case strings.Contains(t, "refused the upgrade: http "):
		return CauseHTTPStatus
	case strings.Contains(t, "connection refused"):
		return CauseRefused
	case strings.Contains(t, "no answer within"), strings.Contains(t, "timeout"), strings.Contains(t, "timed out"):
		return CauseTimeout
	case strings.Contains(t, "tls"), strings.Contains(t, "x509"), strings.Contains(t, "certificate"):
		return CauseTLS
	}
	return CauseOther
}

// scrape collects, at scrape time, what the streams count themselves.
type scrape struct{ m *Metrics }

var (
	activeDesc = prometheus.NewDesc("listen_streams_active", "Live listens, by state.", []string{"state"}, nil)
	framesDesc = prometheus.NewDesc("listen_frames_sent_total", "Audio frames written to servers.", nil, nil)
	bytesDesc  = prometheus.NewDesc("listen_audio_bytes_sent_total", "Audio bytes written to servers.", nil, nil)
	dropsDesc  = prometheus.NewDesc("listen_frames_dropped_total",
		"20 ms moments of calls lost because a server did not keep up (or while redialling).", nil, nil)
	sendDesc = prometheus.NewDesc("listen_capture_to_socket_seconds",
		"From a captured frame's push to its write on the socket (buckets within 1/16 of their bounds).", nil, nil)
	playDesc = prometheus.NewDesc("listen_playback_latency_seconds",
		"From streamed playback audio's arrival to its first sample played.", nil, nil)
)

var states = []string{"connecting", "streaming", "closing"}

func (s scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, framesDesc, bytesDesc, dropsDesc, sendDesc, playDesc} {
		ch <- d
	}
}

func (s scrape) Collect(ch chan<- prometheus.Metric) {
	m := s.m
	byState := map[string]float64{}
	for _, st := range states {
		byState[st] = 0
	}
	m.mu.Lock()
	frames, dropped, bytes := m.endedFrames, m.endedDropped, m.endedBytes
	for _, t := range m.live {
		f := t.src.Figures()
		frames += f.FramesSent
		dropped += f.FramesDropped
		bytes += f.FramesSent * t.bytesPerFrame
		if _, known := byState[f.State]; known {
			byState[f.State]++
		}
	}
	m.mu.Unlock()
	for _, st := range states {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, byState[st], st)
	}
	ch <- prometheus.MustNewConstMetric(framesDesc, prometheus.CounterValue, float64(frames))
	ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, float64(dropped))
	ch <- constHistogram(sendDesc, m.lat.Send)
	ch <- constHistogram(playDesc, m.lat.Play)
}

func constHistogram(d *prometheus.Desc, h *histogram.Histogram) prometheus.Metric {
	below, count, sum := h.Buckets(latencyBounds)
	buckets := make(map[float64]uint64, len(below))
	for i, n := range below {
		buckets[latencyBounds[i].Seconds()] = n
	}
	return prometheus.MustNewConstHistogram(d, count, sum.Seconds(), buckets)
}

// Listen serves /metrics on addr ("host:port"), replacing a server on
// another address; empty addr stops serving. A bind failure is returned and
// leaves metrics off.
func (m *Metrics) Listen(addr string) error {
	m.srvMu.Lock()
	defer m.srvMu.Unlock()
	if addr == m.addr && (m.srv != nil || addr == "") {
		return nil
	}
	m.closeLocked()
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: cannot serve on %s: %v; metrics are off", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.addr = addr
	go m.srv.Serve(ln) // returns when Close or a replacement closes it
	return nil
}

// Close stops serving.
func (m *Metrics) Close() {
	m.srvMu.Lock()
	defer m.srvMu.Unlock()
	m.closeLocked()
}

func (m *Metrics) closeLocked() {
	if m.srv != nil {
		m.srv.Close()
	}
	m.srv, m.addr = nil, ""
}

// Handler serves the series, for tests and embedding.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }
