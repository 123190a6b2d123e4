package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a 127.0.0.1 address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scrape reads /metrics as series name{labels} -> value; nil while nothing
// answers.
func scrape(addr string) (map[string]float64, string) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, string(body)
}

var labelValue = regexp.MustCompile(`="([^"]*)"`)

// TestMetricsMatchTheRun: while a call streams, /metrics shows it live;
// once it has ended, frames sent equal what the server received, drops and
// the latency histogram are there, and no label value is a URL or a uuid.
func TestMetricsMatchTheRun(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	addr := freeAddr(t)
	const callSid = "8c1f3f0e-5a49-4c55-9d0e-2f7d1b3c4a5e"
	sim := Sim{Config: mustJSON(t, map[string]any{"url": srv.URL + "/bot?token=abc"}),
		Settings: mustJSON(t, map[string]any{"metrics-listen": addr}),
		Call:     `{"callSid":"` + callSid + `"}`, Hangup: 2, Extra: []string{"--linger", "6"}, QuietLog: true}
	done := make(chan *Result, 1)
	go func() { done <- RunSim(t, sim) }()

	var live, ended map[string]float64
	var text string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ended == nil {
		m, body := scrape(addr)
		switch {
		case m == nil:
		case m[`listen_streams_active{state="streaming"}`] == 1 && live == nil:
			live = m
		case m[`listen_streams_ended_total{reason="hangup"}`] == 1:
			ended, text = m, body
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := <-done
	r.MustSucceed(t, 1)
	if live == nil || ended == nil {
		t.Fatalf("never scraped the stream live (%v) and then ended (%v)\n%s", live != nil, ended != nil, r.Describe())
	}
	if live[`listen_streams_started_total`] != 1 || live[`listen_frames_sent_total`] <= 0 {
		t.Errorf("live: started %v, frames sent %v", live[`listen_streams_started_total`], live[`listen_frames_sent_total`])
	}
	conns := srv.WaitDone(t, 1, 5*time.Second)
	got := float64(len(conns[0].BinaryFrames()))
	stop, _ := r.Call(t, 0).Stop()
	var sent float64
	stop.Field("framesSent", &sent)
	for name, want := range map[string]float64{
		`listen_frames_sent_total`:                           got,
		`listen_audio_bytes_sent_total`:                      got * 320,
		`listen_frames_dropped_total`:                        0,
		`listen_streams_active{state="streaming"}`:           0,
		`listen_streams_active{state="connecting"}`:          0,
		`listen_streams_started_total`:                       1,
		`listen_capture_to_socket_seconds_count`:             got,
		`listen_capture_to_socket_seconds_bucket{le="+Inf"}`: got,
		`listen_connect_seconds_count`:                       1,
		`listen_reconnects_total`:                            0,
	} {
		if v, ok := ended[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if got < 90 || sent != got {
		t.Errorf("server received %v audio frames, the stop event says %v", got, sent)
	}
	// Frames captured while connecting are not timed: the socket was not
	// there to write them.
	n := ended[`listen_capture_to_socket_seconds_count`]
	if n < got/2 || n > got || ended[`listen_capture_to_socket_seconds_bucket{le="+Inf"}`] != n {
		t.Errorf("capture-to-socket histogram counts %v of %v frames:\n%s", n, got, text)
	}
	// Nearly every frame reaches the socket within 200 ms on an idle
	// engine; the bound is loose for a loaded machine.
	if b := ended[`listen_capture_to_socket_seconds_bucket{le="0.2"}`]; b < got/2 {
		t.Errorf("only %v of %v frames within 200 ms:\n%s", b, got, text)
	}
	for _, m := range labelValue.FindAllStringSubmatch(text, -1) {
		v := m[1]
		if strings.Contains(v, "/") || strings.Contains(v, "127.0.0.1") || strings.Contains(v, callSid) ||
			regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`).MatchString(v) {
			t.Errorf("label value %q is a URL, an address or a uuid", v)
		}
	}
}

// TestMetricsPortInUse: a metrics address already taken is logged clearly,
// and the streams work all the same.
func TestMetricsPortInUse(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL}),
		Settings: mustJSON(t, map[string]any{"metrics-listen": busy.Addr().String()}), Hangup: 1})
	r.MustSucceed(t, 1)
	want := fmt.Sprintf("metrics: cannot serve on %s: ", busy.Addr())
	if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "address already in use; metrics are off") {
		t.Errorf("no log line %q...address already in use; metrics are off\n%s", want, r.Describe())
	}
	conns := srv.WaitDone(t, 1, 5*time.Second)
	if n := len(conns[0].BinaryFrames()); n < 40 {
		t.Errorf("%d audio frames for a 1 s call", n)
	}
}
