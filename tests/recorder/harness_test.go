// Package recorder tests listen-recorder end to end: calls from switchsim
// through the real liblisten.so, recorded by the built listen-recorder.
// They need the build ($LISTEN_BUILD_DIR, else ../../build).
package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/recorder"
	"github.com/modlisten/mod_listen/go/wav"
)

// buildDir is where switchsim, liblisten.so and listen-recorder are. A
// missing build is a failure: CI always builds first.
func buildDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("LISTEN_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build")
	}
	abs, _ := filepath.Abs(dir)
	for _, f := range []string{"switchsim", "liblisten.so", "listen-recorder"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			t.Fatalf("%s is missing (%v): run scripts/build first (or set LISTEN_BUILD_DIR)", filepath.Join(abs, f), err)
		}
	}
	return abs
}

// server is a running listen-recorder.
type server struct {
	cmd    *exec.Cmd
	URL    string // ws://127.0.0.1:port/
	HTTP   string // http://127.0.0.1:port
	Dir    string
	stderr *bytes.Buffer
	waited chan struct{}
}

// startRecorder runs listen-recorder on a free port with a fresh directory
// (unless args has -dir) and the extra flags, and stops it (SIGTERM) when
// the test ends.
func startRecorder(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{Dir: filepath.Join(t.TempDir(), "rec"), stderr: &bytes.Buffer{}, waited: make(chan struct{})}
	full := []string{"-addr", "127.0.0.1:0", "-dir", s.Dir}
	for i, a := range args {
		if a == "-dir" && i+1 < len(args) {
			s.Dir = args[i+1]
		}
	}
	s.cmd = exec.Command(filepath.Join(buildDir(t), "listen-recorder"), append(full, args...)...)
	s.cmd.Stderr = s.stderr
	out, _ := s.cmd.StdoutPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		t.Fatalf("listen-recorder did not start: %q %v\n%s", line, err, s.stderr)
	}
	go io.Copy(io.Discard, out)
	s.URL = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	s.HTTP = "http" + strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s.URL, "wss"), "ws"), "/")
	go func() { s.cmd.Wait(); close(s.waited) }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.waited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			t.Errorf("listen-recorder did not stop within 10 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("listen-recorder's log:\n%s", s.stderr)
		}
	})
	return s
}

// waitRecordings waits for n finished recordings.
func (s *server) waitRecordings(t *testing.T, n int) []*recorder.Sidecar {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := recorder.List(s.Dir, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("%d finished recordings, want %d\nrecorder log:\n%s", len(got), n, s.stderr)
			}
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// audio reads a recording's WAV.
func audio(t *testing.T, dir string, side *recorder.Sidecar) wav.Audio {
	t.Helper()
	p, err := recorder.AudioPath(dir, side)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if int64(len(b)-44) != side.Bytes {
		t.Errorf("%s holds %d bytes of audio, its sidecar says %d", p, len(b)-44, side.Bytes)
	}
	return a
}

// call is one call's line of switchsim's output (the fields used here).
type call struct {
	Reason        *string `json:"reason"`
	DurationMs    *int64  `json:"durationMs"`
	FramesDropped *int64  `json:"framesDropped"`
	Error         string  `json:"error"`
	Events        []struct {
		T    int64           `json:"t"`
		Name string          `json:"name"`
		JSON json.RawMessage `json:"json"`
	} `json:"events"`
}

func (c call) reason() string {
	if c.Reason == nil {
		return "<null>"
	}
	return *c.Reason
}

func (c call) events(name string) []json.RawMessage {
	var out []json.RawMessage
	for _, e := range c.Events {
		if e.Name == name {
			out = append(out, e.JSON)
		}
	}
	return out
}

// sim runs one switchsim call with the arguments (its stop reason, which
// the tests check, never fails the run) and returns its line. It reports
// failures as errors, so it may run on a goroutine of its own.
func sim(t *testing.T, args ...string) (call, error) {
	dir := buildDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "switchsim"),
		append([]string{"--lib", filepath.Join(dir, "liblisten.so"), "--quiet-log", "--json", "--expect", "any"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return call{}, fmt.Errorf("switchsim %q: %v\n%s\n%s", args, err, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, `{"call":`) {
			var c call
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				return call{}, fmt.Errorf("switchsim line %q: %v", line, err)
			}
			t.Logf("switchsim: %s", line)
			return c, nil
		}
	}
	return call{}, fmt.Errorf("switchsim printed no call line\n%s\n%s", stdout.String(), stderr.String())
}

// runSim is sim on the test's goroutine: a failure ends the test.
func runSim(t *testing.T, args ...string) call {
	t.Helper()
	c, err := sim(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// writeWAV writes mono 16-bit samples to a WAV in the test's directory.
func writeWAV(t *testing.T, name string, rate int, samples []int16) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, wav.Encode(rate, 1, samples), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tone is seconds of a sine at freq Hz, amplitude 8000.
func tone(rate int, freq float64, seconds float64) []int16 {
	out := make([]int16, int(seconds*float64(rate)))
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// power is the Goertzel power of x at freq, per sample.
func power(x []int16, rate int, freq float64) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(x)) / float64(len(x))
}

// counter is audio that numbers its samples: sample i is 3·i+1 mod 2^16,
// different for every i below 65536 (3 is invertible mod 2^16), so in a
// call under 8 s at 8 kHz every recorded sample says where it came from.
func counter(i int) int16 { return int16(uint16(3*i + 1)) }

// counterIndex is the i of a counter sample (43691 is 3's inverse mod 2^16).
func counterIndex(v int16) int { return int(uint16((uint16(v) - 1) * 43691)) }

func counterWAV(t *testing.T, rate, n int) string {
	s := make([]int16, n)
	for i := range s {
		s[i] = counter(i)
	}
	return writeWAV(t, "counter.wav", rate, s)
}

// loadAverage is the machine's, for messages: a starved test host drops
// audio by design.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
