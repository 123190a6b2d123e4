package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

// The FreeSWITCH benchmark: N loopback calls on an installed FreeSWITCH,
// each parked and hearing a tone; then, cell by cell, nothing (the
// baseline) or one 8 kHz mono stream per call through one module, to an
// in-process sink. Cells are interleaved run by run, so that the machine's
// drift falls on every module alike.

// fsModule is a module that streams a channel's audio, and how its API
// starts and stops a stream.
type fsModule struct {
	name  string
	so    string // in the module directory; "" for mod_listen (the build's)
	start func(uuid, url string) string
	stop  func(uuid string) string
}

var fsModules = []fsModule{
	{name: "mod_listen",
		start: func(uuid, url string) string {
			return fmt.Sprintf(`uuid_listen %s start {"url":"%s","mixType":"mono","sampleRate":8000}`, uuid, url)
		},
		stop: func(uuid string) string { return "uuid_listen " + uuid + " stop" }},
	{name: "mod_audio_fork", so: "mod_audio_fork",
		start: func(uuid, url string) string { return fmt.Sprintf("uuid_audio_fork %s start %s mono 8k", uuid, url) },
		stop:  func(uuid string) string { return "uuid_audio_fork " + uuid + " stop" }},
	{name: "mod_audio_stream", so: "mod_audio_stream",
		start: func(uuid, url string) string { return fmt.Sprintf("uuid_audio_stream %s start %s mono 8k", uuid, url) },
		stop:  func(uuid string) string { return "uuid_audio_stream " + uuid + " stop" }},
}

const (
	fsBaseline      = "baseline"
	fsBytesPerSec   = 8000 * 2 // 8 kHz mono, 16-bit
	fsSaturatedFrac = 0.9      // of the machine's cores: 1.8 of 2
)

// fsCell is one window of one run.
type fsCell struct {
	Module    string  `json:"module"`
	Calls     int     `json:"calls"`
	Run       int     `json:"run"`
	CPUCores  float64 `json:"fs_cpu_cores"`   // FreeSWITCH's CPU over the window
	BusyCores float64 `json:"busy_cores"`     // the whole machine's, steal included
	Steal     float64 `json:"steal_cores"`    // of which hypervisor steal
	Saturated bool    `json:"saturated"`      // busy ≥ 0.9 of the cores: not averaged
	RSSKiB    float64 `json:"fs_rss_kib"`     // at the window's end
	Threads   int     `json:"fs_threads"`     // at the window's end
	RSSBefore float64 `json:"rss_kib_before"` // before the streams started
	ThrBefore int     `json:"threads_before"`

	// Streams only.
	CPUPctPerStream nullable `json:"extra_cpu_pct_per_stream"` // % of a core, over the same run's baseline
	RSSKiBPerStream nullable `json:"extra_rss_kib_per_stream"`
	ExtraThreads    *int     `json:"extra_threads"`
	DeliveredPct    nullable `json:"delivered_pct"` // bytes at the sink / 16000 B/s × (stop − start call)
	WorstStreamPct  nullable `json:"worst_stream_delivered_pct"`
	StartP50Ms      nullable `json:"start_p50_ms"` // start API call to the first audio at the sink
	StartP99Ms      nullable `json:"start_p99_ms"`
	StartsMs        nullable `json:"starts_total_ms"` // all N start calls, one after the other
	StartErrors     int      `json:"start_errors"`
	NoAudio         int      `json:"streams_without_audio"`
	FirstError      string   `json:"first_error,omitempty"`
}

type fsOptions struct {
	calls      []int
	runs       int
	window     time.Duration
	contention bool
	profile    string // directory for perf files; "" for no profile
}

// fsProfile is the profile's report and its figures by place.
type fsProfile struct {
	text  string
	us    map[string]float64
	calls int
}

func freeswitchBench(o options, fo fsOptions) error {
	build, err := filepath.Abs(o.build)
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "listen-bench-fs-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(scratch)
	}
	if fo.profile != "" {
		if fo.profile, err = filepath.Abs(fo.profile); err != nil {
			return err
		}
		if err := os.MkdirAll(fo.profile, 0o755); err != nil {
			return err
		}
	}
	_, modulesDir, err := fsInstallation()
	if err != nil {
		return err
	}
	var present []fsModule
	var anchors []string
	for _, m := range fsModules {
		if m.so != "" {
			if _, err := os.Stat(filepath.Join(modulesDir, m.so+".so")); err != nil {
				progress("%s is not in %s: left out", m.so, modulesDir)
				continue
			}
			anchors = append(anchors, m.so)
		}
		present = append(present, m)
	}
	sink, err := startFSSink()
	if err != nil {
		return err
	}
	defer sink.close()
	fs, err := startFreeSWITCH(scratch, build, anchors)
	if err != nil {
		return err
	}
	defer fs.stop()
	progress("FreeSWITCH %d up, modules %v, sink %s", fs.pid(), anchors, sink.url)

	b := &fsBench{fs: fs, sink: sink, o: fo, tck: clockTicks(), cores: float64(runtime.NumCPU())}
	var cells []*fsCell
	for _, n := range fo.calls {
		c, err := b.callsRound(n, present)
		cells = append(cells, c...)
		if err != nil {
			return err
		}
	}
	fsReport(os.Stdout, fo, present, cells, b.profile)
	return nil
}

type fsBench struct {
	fs    *fsSwitch
	sink  *fsSink
	o     fsOptions
	tck   float64
	cores float64
	seq   int // makes every stream's path unique

	perfFile string // perf records the next cell's window into it
	profile  *fsProfile
}

// callsRound places n calls, runs every cell fo.runs times, and hangs up.
func (b *fsBench) callsRound(n int, mods []fsModule) ([]*fsCell, error) {
	progress("%d calls: originating", n)
	uuids, err := b.originate(n)
	if err != nil {
		return nil, err
	}
	defer b.hangup()
	time.Sleep(3 * time.Second) // the sessions' threads settle
	names := []string{fsBaseline}
	for _, m := range mods {
		names = append(names, m.name)
	}
	var cells []*fsCell
	for run := 1; run <= b.o.runs; run++ {
		// Rotated each run: no module always follows the same one.
		for k := range names {
			name := names[(k+run-1)%len(names)]
			var mod *fsModule
			for i := range mods {
				if mods[i].name == name {
					mod = &mods[i]
				}
			}
			c, err := b.cell(uuids, mod, run)
			if err != nil {
				return cells, err
			}
			c.Module = name
			cells = append(cells, c)
			progress("%d calls run %d %-16s fs %.3f cores, rss %.0f MiB, busy %.2f%s", n, run, name, c.CPUCores,
				c.RSSKiB/1024, c.BusyCores, map[bool]string{true: " SATURATED"}[c.Saturated])
		}
	}
	if b.o.profile != "" && n == slices.Max(b.o.calls) {
		if err := b.profileCells(uuids, &mods[0]); err != nil {
			return cells, err
		}
	}
	// Extra cost over the same run's baseline.
	for _, c := range cells {
		if c.Module == fsBaseline {
			continue
		}
		for _, base := range cells {
			if base.Module == fsBaseline && base.Run == c.Run {
				c.CPUPctPerStream = num(100 * (c.CPUCores - base.CPUCores) / float64(n))
			}
		}
	}
	return cells, nil
}

// profileCells runs a baseline cell and a mod_listen cell under perf,
// outside the measured runs.
func (b *fsBench) profileCells(uuids []string, listen *fsModule) error {
	var cells [2]*fsCell
	var shares [2]map[[2]string]float64
	for i, mod := range []*fsModule{nil, listen} {
		b.perfFile = filepath.Join(b.o.profile, fmt.Sprintf("perf-%d-%d.data", len(uuids), i))
		progress("%d calls: profiling %s into %s", len(uuids), map[bool]string{true: "the baseline", false: "mod_listen"}[mod == nil], b.perfFile)
		c, err := b.cell(uuids, mod, 0)
		b.perfFile = ""
		if err != nil {
			return err
		}
		if shares[i], err = perfShares(filepath.Join(b.o.profile, fmt.Sprintf("perf-%d-%d.data", len(uuids), i))); err != nil {
			return err
		}
		cells[i] = c
	}
	var text strings.Builder
	us := profileReport(&text, len(uuids), cells[0], cells[1], shares[0], shares[1])
	b.profile = &fsProfile{text: text.String(), us: us, calls: len(uuids)}
	return nil
}

// originate places n loopback calls to the "agent" extension (a 600 Hz
// tone) whose calling leg parks: the leg a stream taps hears the tone.
func (b *fsBench) originate(n int) ([]string, error) {
	uuids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialESL(b.fs.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.close()
			for i := range next {
				out, err := c.api("originate {loopback_bowout=false}loopback/agent/default &park()")
				if err == nil && !strings.HasPrefix(out, "+OK ") {
					err = fmt.Errorf("originate: %q", strings.TrimSpace(out))
				}
				if err != nil {
					errs <- err
					return
				}
				uuids[i] = strings.TrimSpace(strings.TrimPrefix(out, "+OK "))
			}
		}()
	}
	wg.Wait()
	close(errs)
	return uuids, <-errs
}

func (b *fsBench) hangup() {
	if c, err := dialESL(b.fs.addr); err == nil {
		c.api("hupall NORMAL_CLEARING")
		c.close()
	}
	time.Sleep(3 * time.Second)
}

type procSample struct {
	at          time.Time
	fsCPU       float64
	busy, steal float64
}

func (b *fsBench) sample() procSample {
	cpu, _ := procCPU(b.fs.pid(), b.tck)
	busy, steal := machineCPU(b.tck)
	return procSample{time.Now(), cpu, busy, steal}
}

// hogs keeps every core busy at normal priority, for --contention.
func hogs(n int) (stop func()) {
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		// Killed with the benchmark, should it end in the middle of a cell.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if cmd.Start() == nil {
			cmds = append(cmds, cmd)
		}
	}
	return func() {
		for _, cmd := range cmds {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
		}
	}
}

// cell measures one window: with mod nil, the calls alone; otherwise one
// stream per call through mod, started one after the other on one
// event-socket connection, as a dialplan or an application would.
func (b *fsBench) cell(uuids []string, mod *fsModule, run int) (*fsCell, error) {
	n := len(uuids)
	pid := b.fs.pid()
	c := &fsCell{Calls: n, Run: run, RSSBefore: vmRSS(pid), ThrBefore: procThreads(pid)}
	if b.o.contention {
		defer hogs(int(b.cores))()
	}
	conn, err := dialESL(b.fs.addr)
	if err != nil {
		return nil, err
	}
	defer conn.close()

	type stream struct {
		path        string
		start, stop time.Time
		started     bool
	}
	streams := make([]stream, n)
	if mod != nil {
		t0 := time.Now()
		for i, uuid := range uuids {
			b.seq++
			streams[i].path = fmt.Sprintf("/%s/%d", mod.name, b.seq)
			b.sink.stream(streams[i].path)
			streams[i].start = time.Now()
			out, err := conn.api(mod.start(uuid, b.sink.url+streams[i].path))
			if err != nil {
				return nil, err
			}
			if streams[i].started = strings.HasPrefix(out, "+OK"); !streams[i].started {
				c.StartErrors++
				if c.FirstError == "" {
					c.FirstError = strings.TrimSpace(out)
				}
			}
		}
		c.StartsMs = num(float64(time.Since(t0)) / 1e6)
	}
	time.Sleep(time.Second) // connected and streaming
	var perfStop func() error
	if b.perfFile != "" {
		if perfStop, err = perfRecord(pid, b.perfFile); err != nil {
			return nil, err
		}
	}
	s0 := b.sample()
	time.Sleep(b.o.window)
	s1 := b.sample()
	if perfStop != nil {
		if err := perfStop(); err != nil {
			return nil, err
		}
	}
	c.RSSKiB, c.Threads = vmRSS(pid), procThreads(pid)
	wall := s1.at.Sub(s0.at).Seconds()
	c.CPUCores = (s1.fsCPU - s0.fsCPU) / wall
	c.BusyCores = (s1.busy - s0.busy + s1.steal - s0.steal) / wall
	c.Steal = (s1.steal - s0.steal) / wall
	c.Saturated = c.BusyCores >= fsSaturatedFrac*b.cores
	if mod == nil {
		return c, nil
	}
	for i, uuid := range uuids {
		if !streams[i].started {
			continue
		}
		streams[i].stop = time.Now()
		if _, err := conn.api(mod.stop(uuid)); err != nil {
			return nil, err
		}
	}
	// What was captured before the stop is still on its way.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		open := 0
		for _, s := range streams {
			if s.started && !b.sink.stream(s.path).closed.Load() {
				open++
			}
		}
		if open == 0 {
			break
		}
	}
	var got, want float64
	worst := math.Inf(1)
	var lat []float64
	for _, s := range streams {
		if !s.started {
			continue
		}
		st := b.sink.stream(s.path)
		bytes, expect := float64(st.bytes.Load()), fsBytesPerSec*s.stop.Sub(s.start).Seconds()
		got += bytes
		want += expect
		worst = min(worst, 100*bytes/expect)
		if first := st.firstAudio.Load(); first != 0 {
			lat = append(lat, float64(first-s.start.UnixNano())/1e6)
		} else {
			c.NoAudio++
		}
	}
	if want > 0 {
		c.DeliveredPct, c.WorstStreamPct = num(100*got/want), num(worst)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		c.StartP50Ms, c.StartP99Ms = num(percentile(lat, 0.50)), num(percentile(lat, 0.99))
	}
	c.RSSKiBPerStream = num((c.RSSKiB - c.RSSBefore) / float64(n))
	extra := c.Threads - c.ThrBefore
	c.ExtraThreads = &extra
	time.Sleep(time.Second) // the streams' threads end
	return c, nil
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func procThreads(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// fsStat is one figure of one module at one call count over the runs that
// count: the clean ones (all of them with --contention, where saturation is
// the point).
type fsStat struct {
	Mean nullable `json:"mean"`
	Min  nullable `json:"min"`
	Max  nullable `json:"max"`
}

func statOf(vals []float64) fsStat {
	if len(vals) == 0 {
		return fsStat{}
	}
	sum := 0.0
	for _, v := range vals {
		sum += v
	}
	return fsStat{num(sum / float64(len(vals))), num(slices.Min(vals)), num(slices.Max(vals))}
}

var fsFigures = []struct {
	key, head string
	get       func(*fsCell) nullable
}{
	{"extra_cpu_pct_per_stream", "CPU %/stream", func(c *fsCell) nullable { return c.CPUPctPerStream }},
	{"extra_rss_kib_per_stream", "RSS KiB/stream", func(c *fsCell) nullable { return c.RSSKiBPerStream }},
	{"extra_threads", "threads +", func(c *fsCell) nullable {
		if c.ExtraThreads == nil {
			return nil
		}
		return num(float64(*c.ExtraThreads))
	}},
	{"delivered_pct", "delivered %", func(c *fsCell) nullable { return c.DeliveredPct }},
	{"start_p50_ms", "start p50 ms", func(c *fsCell) nullable { return c.StartP50Ms }},
	{"start_p99_ms", "start p99 ms", func(c *fsCell) nullable { return c.StartP99Ms }},
	{"starts_total_ms", "N starts ms", func(c *fsCell) nullable { return c.StartsMs }},
	{"busy_cores", "busy cores", func(c *fsCell) nullable { return num(c.BusyCores) }},
}

func fsReport(w io.Writer, fo fsOptions, mods []fsModule, cells []*fsCell, profile *fsProfile) {
	summary := map[string]map[string]map[string]any{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "FreeSWITCH, loopback calls, one 8 kHz mono stream per call, %d runs of %s windows, interleaved%s.\n",
		fo.runs, fo.window, map[bool]string{true: ", a CPU hog on every core (--contention)"}[fo.contention])
	if fo.contention {
		fmt.Fprintln(w, "Each figure is mean (min–max) over every run: the machine is saturated on purpose.")
	} else {
		fmt.Fprintf(w, "Each figure is mean (min–max) over the runs whose machine was not saturated (busy ≥ %.1f cores, steal included); saturated runs are shown apart and count in no ratio.\n",
			fsSaturatedFrac*float64(runtime.NumCPU()))
	}
	head := "calls\tmodule\truns clean/saturated"
	for _, f := range fsFigures {
		head += "\t" + f.head
	}
	fmt.Fprintln(tw, head+"\t")
	names := []string{fsBaseline}
	for _, m := range mods {
		names = append(names, m.name)
	}
	for _, n := range fo.calls {
		key := strconv.Itoa(n)
		summary[key] = map[string]map[string]any{}
		for _, name := range names {
			var cleanRuns, saturatedRuns []*fsCell
			for _, c := range cells {
				if c.Calls != n || c.Module != name {
					continue
				}
				if c.Saturated {
					saturatedRuns = append(saturatedRuns, c)
				} else {
					cleanRuns = append(cleanRuns, c)
				}
			}
			runs := cleanRuns
			if fo.contention {
				runs = append(runs, saturatedRuns...)
			}
			s, row := fsSummary(runs)
			s["runs_clean"], s["runs_saturated"] = len(cleanRuns), len(saturatedRuns)
			fmt.Fprintf(tw, "%d\t%s\t%d/%d%s\t\n", n, name, len(cleanRuns), len(saturatedRuns), row)
			if !fo.contention && len(saturatedRuns) > 0 {
				sat, row := fsSummary(saturatedRuns)
				s["saturated"] = sat
				fmt.Fprintf(tw, "%d\t%s\tsaturated runs (in no ratio)%s\t\n", n, name, row)
			}
			summary[key][name] = s
		}
	}
	tw.Flush()

	clean, saturated := fsRatios(summary, mods, ""), fsRatios(summary, mods, "saturated")
	fmt.Fprintln(w, "mod_listen against the better anchor (ratio, lower is better; delivered: difference in points):")
	for _, n := range fo.calls {
		c, _ := json.Marshal(clean[strconv.Itoa(n)])
		sat, _ := json.Marshal(saturated[strconv.Itoa(n)])
		fmt.Fprintf(w, "  %d calls: %s\n", n, c)
		if !fo.contention {
			fmt.Fprintf(w, "  %d calls, saturated runs: %s\n", n, sat)
		}
	}
	if profile != nil {
		fmt.Fprint(w, profile.text)
	}
	out := map[string]any{"mode": "freeswitch", "contention": fo.contention, "calls": fo.calls, "runs": fo.runs,
		"window_s": fo.window.Seconds(), "cores": runtime.NumCPU(), "summary": summary,
		"mod_listen_vs_best_anchor": clean, "mod_listen_vs_best_anchor_saturated": saturated, "cells": cells}
	if profile != nil {
		out["profile_us_per_frame"] = map[string]any{"calls": profile.calls, "by_place": profile.us}
	}
	b, err := json.Marshal(out)
	if err != nil {
		fatal("%v", err)
	}
	fmt.Fprintln(w, string(b))
}

// fsRatios is mod_listen over the better anchor at each call count, figure
// by figure (lower is better, except delivery, where the difference is
// given), from the clean runs' summary or, with part "saturated", from the
// saturated runs'.
func fsRatios(summary map[string]map[string]map[string]any, mods []fsModule, part string) map[string]map[string]any {
	ratios := map[string]map[string]any{}
	for key, byMod := range summary {
		r := map[string]any{}
		mean := func(mod, fig string) (float64, bool) {
			s, ok := byMod[mod]
			if ok && part != "" {
				s, ok = s[part].(map[string]any)
			}
			if !ok {
				return 0, false
			}
			st := s[fig].(fsStat)
			if st.Mean == nil {
				return 0, false
			}
			return *st.Mean, true
		}
		for _, fig := range []string{"extra_cpu_pct_per_stream", "extra_rss_kib_per_stream", "start_p99_ms", "delivered_pct"} {
			mine, ok := mean("mod_listen", fig)
			if !ok {
				r[fig] = nil
				continue
			}
			best, bestName := math.NaN(), ""
			for _, m := range mods[1:] {
				v, ok := mean(m.name, fig)
				if !ok {
					continue
				}
				better := v < best
				if fig == "delivered_pct" {
					better = v > best
				}
				if math.IsNaN(best) || better {
					best, bestName = v, m.name
				}
			}
			if bestName == "" {
				r[fig] = nil
			} else if fig == "delivered_pct" {
				r[fig] = map[string]any{"anchor": bestName, "difference": num(mine - best)}
			} else {
				r[fig] = map[string]any{"anchor": bestName, "ratio": num(mine / best)}
			}
		}
		ratios[key] = r
	}
	return ratios
}

// fsSummary is the figures over some runs: by key for the JSON, and as
// table cells.
func fsSummary(runs []*fsCell) (map[string]any, string) {
	s := map[string]any{}
	row := ""
	for _, f := range fsFigures {
		var vals []float64
		for _, c := range runs {
			if v := f.get(c); v != nil {
				vals = append(vals, *v)
			}
		}
		st := statOf(vals)
		s[f.key] = st
		if st.Mean == nil {
			row += "\t–"
		} else if *st.Min == *st.Max {
			row += "\t" + fmtFig(*st.Mean)
		} else {
			row += fmt.Sprintf("\t%s (%s–%s)", fmtFig(*st.Mean), fmtFig(*st.Min), fmtFig(*st.Max))
		}
	}
	return s, row
}

func fmtFig(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
