package e2e

import (
	"github.com/modlisten/mod_listen/tests/simsummary"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildDir returns the directory holding switchsim and liblisten.so:
// $LISTEN_BUILD_DIR, else ../../build relative to this package. A missing
// build is a failure, not a skip: CI always builds first.
func buildDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("LISTEN_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("build directory %q: %v", dir, err)
	}
	for _, f := range []string{"switchsim", "liblisten.so"} {
		if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
			t.Fatalf("%s is missing (%v): run scripts/build first (or set LISTEN_BUILD_DIR to the build directory)",
				filepath.Join(abs, f), err)
		}
	}
	return abs
}

// Sim is one switchsim run. JSON fields are raw text, passed as given (so a
// test controls key order, and can pass malformed JSON).
type Sim struct {
	Config   string  // --config (required)
	Settings string  // --settings
	Call     string  // --call
	Rate     int     // --rate (0: switchsim's default, 8000)
	Caller   string  // --caller WAV path
	Callee   string  // --callee WAV path
	Played   string  // --played WAV path
	DTMF     string  // --dtmf list
	Hangup   float64 // --hangup seconds (0: not given)
	Calls    int     // --calls (0: not given)
	Ramp     float64 // --ramp seconds (0: not given)
	Fast     bool    // --fast
	Flags    string  // --flags
	Wait     float64 // --wait seconds (0: not given)
	QuietLog bool    // --quiet-log
	Extra    []string

	// Expect is --expect: the stop reasons that make switchsim exit 0.
	// Empty: "any", so the exit code tells only switchsim's and the
	// engine's own failures (tests check the reasons themselves).
	Expect string
	// Readable asks for the timeline for people instead of --json --stats;
	// the Result then has Stdout and no Calls or Summary.
	Readable bool

	Timeout time.Duration // kill switchsim after this long (0: 60 s)
}

// Args is the command line the Sim stands for.
func (s Sim) Args() []string {
	var a []string
	if !s.Readable {
		a = append(a, "--json", "--stats")
	}
	expect := s.Expect
	if expect == "" {
		expect = "any"
	}
	a = append(a, "--expect", expect)
	add := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name, v)
		}
	}
	num := func(name string, v float64) {
		if v != 0 {
			add(name, strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
	add("config", s.Config)
	add("settings", s.Settings)
	add("call", s.Call)
	if s.Rate != 0 {
		add("rate", strconv.Itoa(s.Rate))
	}
	add("caller", s.Caller)
	add("callee", s.Callee)
	add("played", s.Played)
	add("dtmf", s.DTMF)
	num("hangup", s.Hangup)
	if s.Calls != 0 {
		add("calls", strconv.Itoa(s.Calls))
	}
	num("ramp", s.Ramp)
	if s.Fast {
		a = append(a, "--fast")
	}
	add("flags", s.Flags)
	num("wait", s.Wait)
	if s.QuietLog {
		a = append(a, "--quiet-log")
	}
	return append(a, s.Extra...)
}

// Event is one engine event as switchsim recorded it.
type Event struct {
	T    int64           `json:"t"` // ms since the call's start
	Name string          `json:"name"`
	JSON json.RawMessage `json:"json"`
}

// Field decodes one member of the event's JSON into v; false if absent.
func (e Event) Field(key string, v any) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(e.JSON, &m) != nil {
		return false
	}
	raw, ok := m[key]
	if !ok {
		return false
	}
	return json.Unmarshal(raw, v) == nil
}

// String returns a member of the event's JSON as a string ("" if absent or not a string).
func (e Event) String(key string) string {
	var s string
	e.Field(key, &s)
	return s
}

// CallResult is one call's line of switchsim's output. Pointers are nil
// where switchsim printed null (the "stop" event did not say, or never came).
type CallResult struct {
	Call          int     `json:"call"`
	Reason        *string `json:"reason"`
	DurationMs    *int64  `json:"durationMs"`
	FramesIn      int64   `json:"framesIn"`
	FramesSent    *int64  `json:"framesSent"`
	FramesDropped *int64  `json:"framesDropped"`
	FramesPlayed  int64   `json:"framesPlayed"`  // frames where pull_play supplied audio
	SamplesPlayed int64   `json:"samplesPlayed"` // samples of the server's audio played (the stop event's)
	Digits        *string `json:"digits"`
	Error         string  `json:"error"` // listen_stream_create's error
	Events        []Event `json:"events"`
}

// ReasonString is the stop reason, or "<null>".
func (c CallResult) ReasonString() string {
	if c.Reason == nil {
		return "<null>"
	}
	return *c.Reason
}

// EventsNamed returns the call's events of that name, in order.
func (c CallResult) EventsNamed(name string) []Event {
	var out []Event
	for _, e := range c.Events {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// Stop returns the call's "stop" event, if it came.
func (c CallResult) Stop() (Event, bool) {
	ev := c.EventsNamed("stop")
	if len(ev) == 0 {
		return Event{}, false
	}
	return ev[len(ev)-1], true
}

// Summary is switchsim's last line.
type Summary = simsummary.Summary

// Result is what a switchsim run produced.
type Result struct {
	Args     []string
	ExitCode int
	Stdout   string
	Stderr   string
	Elapsed  time.Duration // wall time of the whole process
	Calls    []CallResult
	Summary  *Summary // nil if switchsim printed none
}

// Call returns call i, failing the test if switchsim did not report it.
func (r *Result) Call(t testing.TB, i int) CallResult {
	t.Helper()
	for _, c := range r.Calls {
		if c.Call == i {
			return c
		}
	}
	t.Fatalf("switchsim reported no call %d\n%s", i, r.Describe())
	return CallResult{}
}

// Describe is the run for failure messages: command, exit code, output
// (stderr tail only: the engine's log lines can be long).
func (r *Result) Describe() string {
	errTail := r.Stderr
	if len(errTail) > 4000 {
		errTail = "..." + errTail[len(errTail)-4000:]
	}
	out := r.Stdout
	if len(out) > 4000 {
		out = out[:4000] + "..."
	}
	return fmt.Sprintf("switchsim %s\nexit code %d after %v\nstdout:\n%s\nstderr:\n%s",
		strings.Join(quoteArgs(r.Args), " "), r.ExitCode, r.Elapsed.Round(time.Millisecond), out, errTail)
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'{}$*#") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// RunSim runs switchsim to the end (or its timeout, which fails the test)
// and parses its output. A non-zero exit is returned, not failed on: the
// caller decides (see MustSucceed).
func RunSim(t testing.TB, s Sim) *Result {
	t.Helper()
	dir := buildDir(t)
	args := append([]string{"--lib", filepath.Join(dir, "liblisten.so")}, s.Args()...)
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "switchsim"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := &Result{Args: args, Elapsed: time.Since(start), Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("switchsim did not finish within %v\n%s", timeout, r.Describe())
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		t.Fatalf("running switchsim: %v\n%s", err, r.Describe())
	}
	// Under the AddressSanitizer build a report fails whichever test saw it.
	if strings.Contains(r.Stderr, "ERROR: AddressSanitizer") {
		t.Fatalf("AddressSanitizer reported an error\n%s", r.Describe())
	}
	for _, line := range strings.Split(r.Stdout, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || s.Readable {
			continue
		}
		if strings.HasPrefix(line, `{"summary"`) {
			var w struct {
				Summary *Summary `json:"summary"`
			}
			if err := json.Unmarshal([]byte(line), &w); err != nil {
				t.Fatalf("switchsim summary line is not valid JSON: %v\n%s\n%s", err, line, r.Describe())
			}
			r.Summary = w.Summary
			continue
		}
		var c CallResult
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("switchsim call line is not valid JSON: %v\n%s\n%s", err, line, r.Describe())
		}
		r.Calls = append(r.Calls, c)
	}
	return r
}

// MustSucceed fails the test unless switchsim exited 0 with a summary and
// one line per call.
func (r *Result) MustSucceed(t testing.TB, calls int) {
	t.Helper()
	if r.ExitCode != 0 {
		t.Fatalf("switchsim exited with %d, want 0\n%s", r.ExitCode, r.Describe())
	}
	if r.Summary == nil {
		t.Fatalf("switchsim printed no summary\n%s", r.Describe())
	}
	if len(r.Calls) != calls {
		t.Fatalf("switchsim reported %d calls, want %d\n%s", len(r.Calls), calls, r.Describe())
	}
}

// RunSims runs several switchsim processes at once (they are real-time and
// mostly idle, so running them together keeps the suite short) and returns
// their results in order.
func RunSims(t testing.TB, sims []Sim) []*Result {
	t.Helper()
	out := make([]*Result, len(sims))
	fatal := make([]string, len(sims))
	var wg sync.WaitGroup
	for i := range sims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// RunSim's t.Fatal must not run off the test goroutine: collect instead.
			rec := &fatalRecorder{TB: t}
			func() {
				defer func() {
					if r := recover(); r != nil && r != errFatal {
						panic(r)
					}
				}()
				out[i] = RunSim(rec, sims[i])
			}()
			fatal[i] = rec.msg
		}()
	}
	wg.Wait()
	for i, m := range fatal {
		if m != "" {
			t.Fatalf("run %d: %s", i, m)
		}
	}
	return out
}

var errFatal = errors.New("fatal")

// fatalRecorder turns Fatalf into a recorded message and a panic caught by
// RunSims, so helpers can be called from goroutines.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}
func (f *fatalRecorder) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(errFatal)
}

// mustJSON marshals v (for configs where key order does not matter).
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
