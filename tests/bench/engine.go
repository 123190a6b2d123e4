package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modlisten/mod_listen/go/wav"
	"github.com/modlisten/mod_listen/tests/simsummary"
)

// runSpec is one switchsim run against a fresh sink.
type runSpec struct {
	Name       string
	Calls      int
	Rate       int    // stream sampleRate (0 with NoStream)
	Mix        string // mono, stereo
	Protocol   string // the listen's "protocol"; "" for the default (jambonz)
	Encoding   string // l16 (""), opus
	NoStream   bool   // switchsim --no-stream: the baseline
	StreamBack int    // sink -stream-back rate; the listen then plays streamed audio
	Ramp       float64
	Hangup     float64
	Settings   string // engine settings JSON for switchsim --settings, or ""
	// Transcribe adds a nested transcribe to every listen, its recognizer a
	// second sink (the custom vendor): one more socket per call.
	Transcribe bool
}

type callLine struct {
	Call          int             `json:"call"`
	Reason        *string         `json:"reason"`
	FramesIn      int64           `json:"framesIn"`
	FramesDropped *int64          `json:"framesDropped"`
	SamplesPlayed int64           `json:"samplesPlayed"`
	Error         *string         `json:"error"`
	Events        json.RawMessage `json:"events"`
}

type sinkLine struct {
	TextFrames  int64   `json:"textFrames"`
	AudioFrames int64   `json:"audioFrames"`
	AudioBytes  int64   `json:"audioBytes"`
	CloseCode   int     `json:"closeCode"`
	SentBack    int64   `json:"sentBackFrames"`
	BackLateMax float64 `json:"sentBackLateMaxMs"`
	BackLate20  int64   `json:"sentBackLate20ms"`
}

// runResult holds what one run measured.
type runResult struct {
	Spec    runSpec
	Sum     simsummary.Summary
	Exit    int
	Stderr  string
	Reasons map[string]int
	// Totals over the calls.
	FramesIn, FramesDropped, SamplesPlayed int64
	NoStop, Overruns                       int
	// Steady state (all calls live), from /proc: cores of the whole
	// process, of the media threads ("sscall") and of the rest (the Go
	// runtime's threads and the main thread, which only waits).
	SteadyCores, SteadyMedia, SteadyOther float64
	SteadyRSSKiB                          float64
	Threads                               int // tasks of the process in the steady state
	OtherThreads                          int
	// The sink.
	SinkStreams, SinkFrames, SinkBytes, SinkSentBack int64
	SinkBadClose                                     int
	SinkBackLateMaxMs                                float64
	SinkBackLate20                                   int64
	SinkCores                                        float64
	// The recognizers' sink, with Transcribe.
	RecognizerStreams, RecognizerFrames int64
	// The machine over the whole run, from /proc/stat: cores busy (all
	// processes) and cores stolen by the hypervisor.
	MachineBusy, MachineSteal float64
}

// Overloaded tells whether the run fell behind real time: then its figures
// describe a machine that could not keep up, not a steady state.
func (r *runResult) Overloaded() bool {
	return r.FramesDropped > 0 || r.Sum.MaxLateMs > 100
}

// machineCPU reads /proc/stat's first line: busy and steal seconds, summed
// over the CPUs.
func machineCPU(tck float64) (busy, steal float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	v := make([]float64, len(f))
	for i := 1; i < len(f); i++ {
		v[i], _ = strconv.ParseFloat(f[i], 64)
	}
	// user nice system idle iowait irq softirq steal ...
	busy = v[1] + v[2] + v[3] + v[6] + v[7]
	return busy / tck, v[8] / tck
}

func (r *runResult) Cores() float64 { return (r.Sum.UserS + r.Sum.SysS) / r.Sum.WallS }

// env is what every run needs.
type env struct {
	build    string
	dir      string // scratch
	caller   string
	callee   string
	clkTck   float64
	progress func(string, ...any)
}

// makeWAVs writes the calls' audio: 8 kHz, a few tones and noise around
// -20 dBFS, so that nothing is silent and both sides differ.
func (e *env) makeWAVs(seconds float64) error {
	n := int(seconds*8000) + 8000
	gen := func(f1, f2 float64, seed uint32) []int16 {
		s := make([]int16, n)
		x := seed
		for i := range s {
			x = x*1664525 + 1013904223
			noise := float64(int32(x)>>16) / 32768 * 600
			t := float64(i) / 8000
			v := 2500*math.Sin(2*math.Pi*f1*t) + 1500*math.Sin(2*math.Pi*f2*t) + noise
			s[i] = int16(v)
		}
		return s
	}
	e.caller = filepath.Join(e.dir, "caller.wav")
	e.callee = filepath.Join(e.dir, "callee.wav")
	if err := os.WriteFile(e.caller, wav.Encode(8000, 1, gen(440, 1230, 1)), 0o644); err != nil {
		return err
	}
	return os.WriteFile(e.callee, wav.Encode(8000, 1, gen(620, 2210, 2)), 0o644)
}

// sink is a running wsserver -sink.
type sink struct {
	cmd   *exec.Cmd
	url   string
	mu    sync.Mutex
	lines []sinkLine
	done  chan struct{}
}

func startSink(build string, streamBack int) (*sink, error) {
	args := []string{"-sink"}
	if streamBack > 0 {
		args = append(args, "-stream-back", strconv.Itoa(streamBack))
	}
	cmd := exec.Command(filepath.Join(build, "wsserver"), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &sink{cmd: cmd, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "listening "); ok {
				urlc <- u
				continue
			}
			if j, ok := strings.CutPrefix(line, "stream "); ok {
				var l sinkLine
				if json.Unmarshal([]byte(j), &l) == nil {
					s.mu.Lock()
					s.lines = append(s.lines, l)
					s.mu.Unlock()
				}
			}
		}
	}()
	select {
	case s.url = <-urlc:
		return s, nil
	case <-time.After(10 * time.Second):
		s.stop()
		return nil, fmt.Errorf("wsserver -sink did not say where it listens")
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// stop ends the sink process this program started.
func (s *sink) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	<-s.done
}

// procCPU returns a process's user+sys CPU seconds from /proc.
func procCPU(pid int, tck float64) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(b, tck)
}

// statCPU parses utime+stime from a /proc stat line.
func statCPU(b []byte, tck float64) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the comm: state is field 3 of the whole line, utime 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line")
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / tck, nil
}

// taskCPU returns each thread's CPU seconds and whether it is a media thread.
type taskCPU struct {
	cpu   float64
	media bool
}

func tasksCPU(pid int, tck float64) map[string]taskCPU {
	m := map[string]taskCPU{}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return m
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		// schedstat's first figure is the thread's run time in ns; stat's
		// clock ticks are too coarse for threads that run microseconds
		// at a time (each thread's figure is rounded down).
		var c float64
		if ss, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat")); err == nil {
			if f := strings.Fields(string(ss)); len(f) > 0 {
				if ns, err := strconv.ParseFloat(f[0], 64); err == nil {
					c = ns / 1e9
				}
			}
		}
		if c == 0 {
			if c, err = statCPU(b, tck); err != nil {
				continue
			}
		}
		comm := ""
		if i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')'); i >= 0 && j > i {
			comm = string(b[i+1 : j])
		}
		m[e.Name()] = taskCPU{c, comm == "sscall"}
	}
	return m
}

func vmRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				x, _ := strconv.ParseFloat(f[0], 64)
				return x
			}
		}
	}
	return 0
}

func (e *env) config(url, recognizer string, sp runSpec) string {
	c := map[string]any{"url": url, "sampleRate": sp.Rate, "mixType": sp.Mix}
	if sp.Protocol != "" {
		c["protocol"] = sp.Protocol
	}
	if recognizer != "" {
		c["transcribe"] = map[string]any{"finalTimeoutMs": 200, "recognizer": map[string]any{
			"vendor": "custom", "url": recognizer, "auth": map[string]any{"apiKey": "bench"}}}
	}
	if sp.Encoding != "" {
		c["encoding"] = sp.Encoding
	}
	if sp.StreamBack > 0 {
		c["bidirectionalAudio"] = map[string]any{"enabled": true, "streaming": true, "sampleRate": sp.StreamBack}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// run does one switchsim run against a fresh sink and gathers its figures.
func (e *env) run(sp runSpec) (*runResult, error) {
	e.progress("run %s: %d calls, ramp %gs, hangup %gs", sp.Name, sp.Calls, sp.Ramp, sp.Hangup)
	res := &runResult{Spec: sp, Reasons: map[string]int{}}
	var sk, rk *sink // the listen's server and the recognizer
	args := []string{"--json", "--stats", "--quiet-log", "--calls", strconv.Itoa(sp.Calls),
		"--ramp", fmt.Sprint(sp.Ramp), "--hangup", fmt.Sprint(sp.Hangup), "--caller", e.caller}
	if sp.Settings != "" {
		args = append(args, "--settings", sp.Settings)
	}
	if sp.NoStream {
		args = append(args, "--no-stream", "--callee", e.callee)
	} else {
		var err error
		if sk, err = startSink(e.build, sp.StreamBack); err != nil {
			return nil, err
		}
		defer sk.stop()
		recognizer := ""
		if sp.Transcribe {
			if rk, err = startSink(e.build, 0); err != nil {
				return nil, err
			}
			defer rk.stop()
			recognizer = rk.url
		}
		args = append(args, "--config", e.config(sk.url, recognizer, sp))
		if sp.Mix != "mono" {
			args = append(args, "--callee", e.callee)
		}
	}
	cmd := exec.Command(filepath.Join(e.build, "switchsim"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	busy0, steal0 := machineCPU(e.clkTck)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid

	// The steady state: every call started (and connected) and none ended.
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	from := time.Duration((sp.Ramp + 1.0) * float64(time.Second))
	to := time.Duration((sp.Hangup - 0.5) * float64(time.Second))
	var exited error
	gotExit := false
	sleepUntil := func(d time.Duration) bool {
		select {
		case exited = <-waitDone:
			gotExit = true
			return false
		case <-time.After(time.Until(start.Add(d))):
			return true
		}
	}
	if to-from >= time.Second && sleepUntil(from) {
		t1, c1 := time.Now(), tasksCPU(pid, e.clkTck)
		if sleepUntil(to) {
			t2, c2 := time.Now(), tasksCPU(pid, e.clkTck)
			res.SteadyRSSKiB = vmRSS(pid)
			wall := t2.Sub(t1).Seconds()
			for tid, b := range c2 {
				d := b.cpu - c1[tid].cpu
				if b.media {
					res.SteadyMedia += d / wall
				} else {
					res.SteadyOther += d / wall
					res.OtherThreads++
				}
			}
			res.Threads = len(c2)
			res.SteadyCores = res.SteadyMedia + res.SteadyOther
		}
	}
	if !gotExit {
		exited = <-waitDone
	}
	if exited != nil {
		if ee, ok := exited.(*exec.ExitError); ok {
			res.Exit = ee.ExitCode()
		} else {
			return nil, exited
		}
	}
	res.Stderr = stderr.String()
	busy1, steal1 := machineCPU(e.clkTck)
	if wall := time.Since(start).Seconds(); wall > 0 {
		res.MachineBusy, res.MachineSteal = (busy1-busy0)/wall, (steal1-steal0)/wall
	}

	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	gotSummary := false
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"summary":`)) {
			var s struct {
				Summary simsummary.Summary `json:"summary"`
			}
			if err := json.Unmarshal(line, &s); err != nil {
				return nil, fmt.Errorf("%s: summary: %v", sp.Name, err)
			}
			res.Sum, gotSummary = s.Summary, true
			continue
		}
		var c callLine
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("%s: call line: %v", sp.Name, err)
		}
		res.FramesIn += c.FramesIn
		res.SamplesPlayed += c.SamplesPlayed
		if c.FramesDropped != nil {
			res.FramesDropped += *c.FramesDropped
		}
		if bytes.Contains(c.Events, []byte(`"buffer_overrun"`)) {
			res.Overruns++
		}
		switch {
		case c.Reason != nil:
			res.Reasons[*c.Reason]++
		case c.Error != nil:
			res.Reasons["create failed: "+*c.Error]++
		case !sp.NoStream:
			res.NoStop++
		}
	}
	if !gotSummary {
		return nil, fmt.Errorf("%s: switchsim printed no summary (exit %d): %s", sp.Name, res.Exit, lastLines(res.Stderr, 10))
	}

	if rk != nil {
		for deadline := time.Now().Add(5 * time.Second); rk.count() < sp.Calls && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		rk.mu.Lock()
		for _, l := range rk.lines {
			res.RecognizerStreams++
			res.RecognizerFrames += l.AudioFrames
		}
		rk.mu.Unlock()
	}
	if sk != nil {
		// The sink prints a stream's line when its socket closes, which may
		// trail switchsim's exit a little.
		for deadline := time.Now().Add(5 * time.Second); sk.count() < sp.Calls && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		if c, err := procCPU(sk.cmd.Process.Pid, e.clkTck); err == nil {
			res.SinkCores = c / time.Since(start).Seconds()
		}
		sk.mu.Lock()
		for _, l := range sk.lines {
			res.SinkStreams++
			res.SinkFrames += l.AudioFrames
			res.SinkBytes += l.AudioBytes
			res.SinkSentBack += l.SentBack
			res.SinkBackLateMaxMs = max(res.SinkBackLateMaxMs, l.BackLateMax)
			res.SinkBackLate20 += l.BackLate20
			if l.CloseCode != 1000 {
				res.SinkBadClose++
			}
		}
		sk.mu.Unlock()
	}
	return res, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
