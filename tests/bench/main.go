// Command bench measures mod_listen's engine through the real liblisten.so,
// driven by switchsim in real time against a local sink (wsserver -sink)
// that reads as fast as it can, and compares the resampler with speexdsp.
// scripts/bench builds and runs it.
//
// It prints a human-readable report and, as its last line, one JSON object
// with the headline figures (see the README's benchmark section).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modlisten/mod_listen/go/config"
)

type options struct {
	quick         bool
	build         string
	mainCalls     int
	hookCalls     []int
	ramp, hangup  float64
	playbackCalls int
	playbackRate  int
	only          string
	keep          bool
	settings      string
	start         startOptions
}

func main() {
	var o options
	var hookCalls string
	flag.BoolVar(&o.quick, "quick", false, "a small run (under a minute): fewer calls, shorter, fewer rate pairs")
	flag.StringVar(&o.build, "build", "", "the build directory with liblisten.so, switchsim and wsserver (default $LISTEN_BUILD_DIR or ./build)")
	flag.IntVar(&o.mainCalls, "calls", 0, "calls of the per-stream cost runs (default 1000; 150 with -quick)")
	flag.StringVar(&hookCalls, "hook-calls", "", "comma-separated call counts of the hook runs (default 200,1000,2000; 150 with -quick)")
	flag.Float64Var(&o.ramp, "ramp", 0, "seconds over which call starts are spread (default 3; 1 with -quick)")
	flag.Float64Var(&o.hangup, "hangup", 0, "seconds of media per call (default 12; 4.5 with -quick)")
	flag.IntVar(&o.playbackCalls, "playback-calls", 0, "calls of the streamed-playback run (default 200, or -calls if smaller)")
	flag.IntVar(&o.playbackRate, "playback-rate", 16000, "rate of the audio the sink streams back")
	flag.StringVar(&o.only, "only", "", "engine, resampler, opus (the encoder alone) or start: run only that part (the JSON keeps every key, null where not measured)")
	flag.IntVar(&o.start.streams, "start-streams", 1000, "listens live while the start latency is measured")
	flag.IntVar(&o.start.starts, "start-burst", 200, "starts back to back in each burst of the start-latency runs")
	flag.IntVar(&o.start.rounds, "start-rounds", 0, "bursts per start-latency run (default 3; 1 with -quick)")
	flag.IntVar(&o.start.runs, "start-runs", 0, "start-latency runs (default 3; 1 with -quick), interleaved with -compare-lib's")
	flag.StringVar(&o.start.compareLib, "compare-lib", "", "another build's liblisten.so (same LISTEN_ABI_VERSION) whose start latency is measured beside this build's, runs interleaved")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory")
	flag.StringVar(&o.settings, "settings", "", "engine settings JSON passed to switchsim --settings (default: the built-in defaults)")
	freeswitch := flag.Bool("freeswitch", false, "benchmark inside an installed FreeSWITCH, beside mod_audio_fork and mod_audio_stream "+
		"when its module directory has them (see the README's Performance section)")
	var fo fsOptions
	fsCalls := flag.String("fs-calls", "", "with -freeswitch: comma-separated call counts (default 100,200; 100 with -quick)")
	flag.IntVar(&fo.runs, "runs", 3, "with -freeswitch: runs of every cell")
	window := flag.Float64("window", 0, "with -freeswitch: seconds measured per cell (default 15; 5 with -quick)")
	flag.StringVar(&fo.profile, "profile", "", "with -freeswitch: after the runs, profile a baseline and a mod_listen cell at the largest call count with perf, keeping its files in this directory")
	flag.BoolVar(&fo.contention, "contention", false, "with -freeswitch: a CPU hog on every core at normal priority during each cell")
	flag.Parse()

	if o.build == "" {
		o.build = os.Getenv("LISTEN_BUILD_DIR")
	}
	if o.build == "" {
		o.build = "build"
	}
	if *freeswitch {
		if *fsCalls == "" {
			*fsCalls = "100,200"
			if o.quick {
				*fsCalls = "100"
			}
		}
		for _, f := range strings.Split(*fsCalls, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fatal("bad -fs-calls %q", *fsCalls)
			}
			fo.calls = append(fo.calls, n)
		}
		if *window == 0 {
			*window = 15
			if o.quick {
				*window = 5
			}
		}
		fo.window = time.Duration(*window * float64(time.Second))
		if fo.runs < 1 {
			fatal("-runs must be at least 1")
		}
		if err := freeswitchBench(o, fo); err != nil {
			fatal("%v", err)
		}
		return
	}
	def := func(v *float64, full, quick float64) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&o.ramp, 3, 1)
	for _, v := range []*int{&o.start.rounds, &o.start.runs} {
		if *v == 0 {
			*v = 3
			if o.quick {
				*v = 1
			}
		}
	}
	def(&o.hangup, 12, 4.5)
	if o.mainCalls == 0 {
		o.mainCalls = 1000
		if o.quick {
			o.mainCalls = 150
		}
	}
	if hookCalls == "" {
		hookCalls = "200,1000,2000"
		if o.quick {
			hookCalls = strconv.Itoa(o.mainCalls)
		}
	}
	for _, f := range strings.Split(hookCalls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fatal("bad -hook-calls %q", hookCalls)
		}
		o.hookCalls = append(o.hookCalls, n)
	}
	if o.playbackCalls == 0 {
		o.playbackCalls = min(o.mainCalls, 200)
	}
	if o.hangup < o.ramp+2.5 {
		fatal("-hangup must be at least -ramp + 2.5 s (the steady state is measured between them)")
	}
	if err := bench(o); err != nil {
		fatal("%v", err)
	}
}

func fatal(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...)
	os.Exit(1)
}

func progress(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// nullable is a figure that may not have been measured (JSON null).
type nullable = *float64

func num(v float64) nullable {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	v = math.Round(v*1000) / 1000
	return &v
}

func bench(o options) error {
	mode := "full"
	if o.quick {
		mode = "quick"
	}
	out := map[string]any{"mode": mode}
	// Every key is there in both modes, null when not measured.
	headline := []string{"hook_p99_us", "hook_p999_us", "cpu_cores_per_1000_streams_8k_mono",
		"rss_kib_per_stream", "frames_dropped", "send_latency_p99_ms", "playback_latency_p99_ms",
		"hook_calls", "hook_p50_us", "hook_max_us", "cpu_cores_per_1000_streams_16k_mono",
		"cpu_cores_per_1000_streams_16k_stereo", "cpu_cores_per_1000_streams_8k_mono_light", "light_calls",
		"cpu_cores_per_1000_streams_8k_mono_twilio", "twilio_cpu_ratio",
		"frames_dropped_2000_calls", "send_latency_p50_ms", "playback_latency_p50_ms", "playback_latency_count",
		"playback_calls", "playback_rate", "playback_sink_late_max_ms", "playback_sink_frames_late_20ms",
		"cpu_cores_per_1000_streams_8k_mono_transcribe", "transcribe_cpu_ratio", "transcribe_calls",
		"transcribe_recognizer_frames", "overloaded_runs", "problems", "per_stream", "baseline", "hook_by_calls", "resampler", "resampler_worst",
		"encodings", "opus_16k_bytes_ratio", "opus_16k_added_us_per_frame", "opus_encoder", "opus_encoder_us_per_frame",
		"start_streams", "create_p50_ms", "create_p99_ms", "create_max_ms", "start_p99_ms", "starts_burst_max_ms", "start", "start_compared"}
	for _, k := range headline {
		out[k] = nil
	}
	var report strings.Builder

	if o.only == "" || o.only == "resampler" {
		pairs, frames := enginePairs(), 3000
		if o.quick {
			pairs, frames = quickPairs, 1000
		}
		rows, err := measureResamplers(pairs, frames, progress)
		if err != nil {
			return err
		}
		resamplerReport(&report, rows)
		out["resampler"] = rows
		worst := map[string]any{}
		for _, impl := range []string{"mod_listen", "libsoxr HQ", "speexdsp q2", "speexdsp q5"} {
			w := struct{ ripple, reject, snr, ns float64 }{0, math.Inf(1), math.Inf(1), 0}
			met := 0
			n := 0
			for _, r := range rows {
				if r.Impl != impl {
					continue
				}
				n++
				w.ripple = max(w.ripple, r.RippleDB)
				w.reject = min(w.reject, r.RejectDB)
				w.snr = min(w.snr, r.SNR1kDB)
				w.ns = max(w.ns, r.NsPerFrame)
				if r.meetsBar() {
					met++
				}
			}
			worst[impl] = map[string]any{"pairs": n, "pairs_meeting_bar": met, "max_ripple_db": num(w.ripple),
				"min_rejection_db": num(w.reject), "min_snr_1k_db": num(w.snr), "max_ns_per_frame": num(w.ns)}
		}
		out["resampler_worst"] = worst
	}

	if o.only == "" || o.only == "opus" || o.only == "engine" {
		frames := 1500
		if o.quick {
			frames = 250
		}
		rows, err := measureEncoder(frames)
		if err != nil {
			return err
		}
		encoderReport(&report, rows)
		out["opus_encoder"] = rows
		out["opus_encoder_us_per_frame"] = num(rows[config.OpusDefaultComplexity].UsPerFrame)
	}

	if o.only == "" || o.only == "engine" {
		if err := engineBench(o, out, &report); err != nil {
			return err
		}
	}

	if o.only == "" || o.only == "start" {
		if err := startBench(o, out, &report); err != nil {
			return err
		}
	}

	targetsReport(&report, out)
	fmt.Print(report.String())
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// smallCost is the per-stream cost measured at a small call count.
type smallCost struct {
	n         int
	run, base *runResult
}

func engineBench(o options, out map[string]any, report *strings.Builder) error {
	var perStreamSmall *smallCost
	build, err := filepath.Abs(o.build)
	if err != nil {
		return err
	}
	for _, f := range []string{"liblisten.so", "switchsim", "wsserver"} {
		if _, err := os.Stat(filepath.Join(build, f)); err != nil {
			return fmt.Errorf("%v (run scripts/build first)", err)
		}
	}
	dir, err := os.MkdirTemp("", "mod_listen-bench.")
	if err != nil {
		return err
	}
	if o.keep {
		progress("scratch directory %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{build: build, dir: dir, clkTck: clockTicks(), progress: progress}
	if err := e.makeWAVs(o.hangup); err != nil {
		return err
	}

	spec := func(name string, calls, rate int, mix string) runSpec {
		return runSpec{Name: name, Calls: calls, Rate: rate, Mix: mix, Ramp: o.ramp, Hangup: o.hangup, Settings: o.settings}
	}
	var runs []*runResult
	do := func(sp runSpec) (*runResult, error) {
		r, err := e.run(sp)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
		time.Sleep(time.Second) // let sockets and threads wind down
		return r, nil
	}

	baseSpec := func(calls int) runSpec {
		return runSpec{Name: fmt.Sprintf("baseline %d calls (--no-stream)", calls), Calls: calls, NoStream: true,
			Ramp: o.ramp, Hangup: o.hangup, Settings: o.settings}
	}
	base, err := do(baseSpec(o.mainCalls))
	if err != nil {
		return err
	}
	perStream := map[string]*runResult{}
	for _, c := range []struct {
		key      string
		rate     int
		mix      string
		protocol string
	}{{"8k_mono", 8000, "mono", ""}, {"8k_mono_twilio", 8000, "mono", "twilio"},
		{"16k_mono", 16000, "mono", ""}, {"16k_stereo", 16000, "stereo", ""}} {
		if o.quick && c.key != "8k_mono" && c.key != "8k_mono_twilio" {
			continue
		}
		sp := spec(c.key, o.mainCalls, c.rate, c.mix)
		sp.Protocol = c.protocol
		r, err := do(sp)
		if err != nil {
			return err
		}
		perStream[c.key] = r
	}
	hooks := map[int]*runResult{o.mainCalls: perStream["8k_mono"]}
	for _, n := range o.hookCalls {
		if hooks[n] != nil {
			continue
		}
		r, err := do(spec(fmt.Sprintf("8k_mono %d calls", n), n, 8000, "mono"))
		if err != nil {
			return err
		}
		hooks[n] = r
	}
	// The per-stream cost again at the smallest hook run, with its own
	// baseline: at a load the machine surely carries, it is a steady-state
	// figure even when the larger runs fall behind.
	smallN := slices.Min(o.hookCalls)
	var smallBase *runResult
	if smallN != o.mainCalls {
		if smallBase, err = do(baseSpec(smallN)); err != nil {
			return err
		}
	}
	// The same light load with a recognizer per listen: the extra socket's cost.
	trSpec := spec(fmt.Sprintf("8k_mono + transcribe %d calls", smallN), smallN, 8000, "mono")
	trSpec.Transcribe = true
	tr, err := do(trSpec)
	if err != nil {
		return err
	}
	// L16 beside Opus, at a call count the machine carries with Opus's
	// encoder: bytes on the wire and CPU per stream.
	codecCalls := min(o.mainCalls, 200)
	codecBase := base
	if codecCalls != o.mainCalls {
		if smallN == codecCalls {
			codecBase = smallBase
		} else if codecBase, err = do(baseSpec(codecCalls)); err != nil {
			return err
		}
	}
	encodings := map[string]any{}
	for _, c := range []struct {
		rate int
		enc  string
	}{{8000, "l16"}, {8000, "opus"}, {16000, "l16"}, {16000, "opus"}} {
		if o.quick && c.rate == 8000 {
			continue
		}
		sp := spec(fmt.Sprintf("%dk_mono %s", c.rate/1000, c.enc), codecCalls, c.rate, "mono")
		sp.Encoding = c.enc
		r, err := do(sp)
		if err != nil {
			return err
		}
		cost := costOf(r, codecBase)
		perFrame := float64(r.SinkBytes) / max(float64(r.SinkFrames), 1)
		encodings[sp.Name] = map[string]any{"calls": codecCalls, "rate": c.rate, "encoding": c.enc,
			"payload_bytes_per_s": num(perFrame * 50), "wire_bytes_per_s": num((perFrame + wsHeader(perFrame)) * 50),
			"cpu_cores_per_1000_streams": num(cost.cores), "cpu_us_per_frame": num(cost.cores / 1000 / 50 * 1e6),
			"cpu_cores_per_1000_streams_steady": num(cost.steady)}
	}
	out["encodings"] = encodings
	if l, ok := encodings["16k_mono l16"].(map[string]any); ok {
		if p, ok := encodings["16k_mono opus"].(map[string]any); ok {
			lw, _ := asFloat(l["wire_bytes_per_s"])
			pw, _ := asFloat(p["wire_bytes_per_s"])
			out["opus_16k_bytes_ratio"] = num(pw / lw)
			lc, _ := asFloat(l["cpu_us_per_frame"])
			pc, _ := asFloat(p["cpu_us_per_frame"])
			out["opus_16k_added_us_per_frame"] = num(pc - lc)
		}
	}
	encodingsReport(report, encodings)

	pbSpec := spec(fmt.Sprintf("8k_mono + streamed playback at %d", o.playbackRate), o.playbackCalls, 8000, "mono")
	pbSpec.StreamBack = o.playbackRate
	pb, err := do(pbSpec)
	if err != nil {
		return err
	}

	// Per-stream figures: the run minus the baseline, per stream.
	costs := map[string]any{}
	problems0 := []string{}
	for key, r := range perStream {
		c := costOf(r, base).json()
		costs[key] = c
		out["cpu_cores_per_1000_streams_"+key] = c["cpu_cores_per_1000_streams"]
	}
	if smallBase != nil {
		c := costOf(hooks[smallN], smallBase).json()
		costs[fmt.Sprintf("8k_mono_at_%d_calls", smallN)] = c
		out["cpu_cores_per_1000_streams_8k_mono_light"] = c["cpu_cores_per_1000_streams"]
		out["light_calls"] = smallN
		perStreamSmall = &smallCost{n: smallN, run: hooks[smallN], base: smallBase}
	} else {
		out["cpu_cores_per_1000_streams_8k_mono_light"] = out["cpu_cores_per_1000_streams_8k_mono"]
		out["light_calls"] = o.mainCalls
	}
	trBase := base
	if smallBase != nil {
		trBase = smallBase
	}
	trCost, plainCost := costOf(tr, trBase), costOf(hooks[smallN], trBase)
	costs["8k_mono_transcribe"] = trCost.json()
	out["cpu_cores_per_1000_streams_8k_mono_transcribe"] = num(trCost.cores)
	if plainCost.cores > 0 {
		out["transcribe_cpu_ratio"] = num(trCost.cores / plainCost.cores)
	}
	out["transcribe_calls"] = smallN
	out["transcribe_recognizer_frames"] = tr.RecognizerFrames
	if tr.RecognizerStreams != int64(smallN) {
		problems0 = append(problems0, fmt.Sprintf("%s: the recognizers' sink saw %d streams of %d", tr.Spec.Name, tr.RecognizerStreams, smallN))
	}
	out["per_stream"] = costs
	// Twilio's base64 and JSON per frame against the binary L16 frame.
	if tw, ok := asFloat(out["cpu_cores_per_1000_streams_8k_mono_twilio"]); ok {
		if l16, ok := asFloat(out["cpu_cores_per_1000_streams_8k_mono"]); ok && l16 > 0 {
			out["twilio_cpu_ratio"] = num(tw / l16)
		}
	}
	out["rss_kib_per_stream"] = costs["8k_mono"].(map[string]any)["rss_kib_per_stream"]
	out["baseline"] = map[string]any{"calls": base.Spec.Calls, "cores": num(base.Cores()),
		"cores_steady": num(base.SteadyCores), "maxrss_kib": base.Sum.MaxRSSKiB}

	hookOut := map[string]any{}
	for n, r := range hooks {
		hookOut[strconv.Itoa(n)] = map[string]any{"p50_us": r.Sum.Hook.P50, "p99_us": r.Sum.Hook.P99,
			"p999_us": r.Sum.Hook.P999, "max_us": r.Sum.Hook.Max, "count": r.Sum.Hook.Count,
			"frames_dropped": r.FramesDropped, "max_late_ms": r.Sum.MaxLateMs}
	}
	out["hook_by_calls"] = hookOut
	m := perStream["8k_mono"]
	out["hook_calls"] = o.mainCalls
	out["hook_p50_us"] = m.Sum.Hook.P50
	out["hook_p99_us"] = m.Sum.Hook.P99
	out["hook_p999_us"] = m.Sum.Hook.P999
	out["hook_max_us"] = m.Sum.Hook.Max

	var dropped int64
	problems := problems0
	for _, r := range runs {
		dropped += r.FramesDropped
		problems = append(problems, runProblems(r)...)
	}
	out["frames_dropped"] = dropped
	if r := hooks[2000]; r != nil {
		out["frames_dropped_2000_calls"] = r.FramesDropped
	}
	if m.Sum.Engine != nil {
		out["send_latency_p50_ms"] = m.Sum.Engine.SendLatencyP50Ms
		out["send_latency_p99_ms"] = m.Sum.Engine.SendLatencyP99Ms
	}
	if pb.Sum.Engine != nil && pb.Sum.Engine.PlaybackLatencyCount > 0 {
		out["playback_latency_p50_ms"] = pb.Sum.Engine.PlaybackLatencyP50Ms
		out["playback_latency_p99_ms"] = pb.Sum.Engine.PlaybackLatencyP99Ms
		out["playback_latency_count"] = pb.Sum.Engine.PlaybackLatencyCount
	}
	out["playback_calls"] = pb.Spec.Calls
	out["playback_sink_late_max_ms"] = pb.SinkBackLateMaxMs
	out["playback_sink_frames_late_20ms"] = pb.SinkBackLate20
	out["playback_rate"] = o.playbackRate
	out["problems"] = problems

	overloaded := []string{}
	for _, r := range runs {
		if r.Overloaded() {
			overloaded = append(overloaded, r.Spec.Name)
		}
	}
	out["overloaded_runs"] = overloaded
	runsReport(report, runs, base, perStream, perStreamSmall)
	if len(problems) > 0 {
		fmt.Fprintf(report, "\nProblems seen:\n")
		for _, p := range problems {
			fmt.Fprintf(report, "  - %s\n", p)
		}
	}
	return nil
}

// runProblems lists what went wrong in a run besides its figures.
func runProblems(r *runResult) []string {
	var p []string
	name := r.Spec.Name
	if r.Exit != 0 {
		p = append(p, fmt.Sprintf("%s: switchsim exited %d: %s", name, r.Exit, lastLines(r.Stderr, 3)))
	}
	if r.NoStop > 0 {
		p = append(p, fmt.Sprintf("%s: %d calls saw no stop event", name, r.NoStop))
	}
	if !r.Spec.NoStream {
		for reason, n := range r.Reasons {
			if reason != "hangup" {
				p = append(p, fmt.Sprintf("%s: %d calls ended with %q", name, n, reason))
			}
		}
		if r.SinkStreams != int64(r.Spec.Calls) {
			p = append(p, fmt.Sprintf("%s: the sink saw %d streams of %d", name, r.SinkStreams, r.Spec.Calls))
		}
		if r.SinkBadClose > 0 {
			p = append(p, fmt.Sprintf("%s: %d streams closed without code 1000", name, r.SinkBadClose))
		}
		if r.Overruns > 0 {
			p = append(p, fmt.Sprintf("%s: %d streams reported buffer_overrun", name, r.Overruns))
		}
	}
	return p
}

func f3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func runsReport(w *strings.Builder, runs []*runResult, base *runResult, perStream map[string]*runResult, small *smallCost) {
	fmt.Fprintf(w, "\nEngine runs (switchsim, real-time 20 ms pacing, against wsserver -sink; hook = every push_read/push_write/pull_play):\n")
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcalls\thook p50 µs\tp99 µs\tp99.9 µs\tmax µs\tmax late ms\tcores\tsteady cores (media+engine)\tthreads\tmaxrss MiB\tdropped\tframes in\tsink frames\tsink cores\tsend p50/p99 ms\tplay p50/p99 ms\tmachine busy/steal\t")
	for _, r := range runs {
		send, play := "-", "-"
		if en := r.Sum.Engine; en != nil && !r.Spec.NoStream {
			send = f1(en.SendLatencyP50Ms) + "/" + f1(en.SendLatencyP99Ms)
			if en.PlaybackLatencyCount > 0 {
				play = f1(en.PlaybackLatencyP50Ms) + "/" + f1(en.PlaybackLatencyP99Ms)
			}
		}
		sinkFrames, sinkCores := "-", "-"
		if !r.Spec.NoStream {
			sinkFrames, sinkCores = strconv.FormatInt(r.SinkFrames, 10), f3(r.SinkCores)
		}
		name := r.Spec.Name
		if r.Overloaded() {
			name = "(!) " + name
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s (%s+%s)\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s/%s\t\n",
			name, r.Spec.Calls, f2(r.Sum.Hook.P50), f2(r.Sum.Hook.P99), f2(r.Sum.Hook.P999), f1(r.Sum.Hook.Max),
			f1(r.Sum.MaxLateMs), f3(r.Cores()), f3(r.SteadyCores), f3(r.SteadyMedia), f3(r.SteadyOther), r.Threads,
			f1(r.Sum.MaxRSSKiB/1024), r.FramesDropped, r.FramesIn, sinkFrames, sinkCores, send, play,
			f2(r.MachineBusy), f2(r.MachineSteal))
	}
	tw.Flush()
	for _, r := range runs {
		if r.Spec.StreamBack > 0 {
			fmt.Fprintf(w, "%s: the sink sent %d frames back; the latest left %.1f ms behind its schedule, %d more than 20 ms behind (each followed by a catch-up burst).\n",
				r.Spec.Name, r.SinkSentBack, r.SinkBackLateMaxMs, r.SinkBackLate20)
		}
	}
	fmt.Fprintf(w, "(!) = fell behind real time (frames dropped or a tick > 100 ms late): not a steady state.\n"+
		"cores = (user+sys)/wall of the whole switchsim process; steady = from /proc/<pid>/task/*/schedstat while every call was up,\n"+
		"split into media threads (\"sscall\") and the rest (the Go runtime's threads); machine = all of /proc/stat, steal = taken by the hypervisor.\n")

	fmt.Fprintf(w, "\nPer stream, minus the baseline (%d calls, --no-stream: %s cores, %s steady, %.1f MiB):\n",
		base.Spec.Calls, f3(base.Cores()), f3(base.SteadyCores), base.Sum.MaxRSSKiB/1024)
	tw = tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stream\tcores/1000 streams\tsteady\tof which media threads\tengine threads\tRSS KiB/stream (peak)\tsteady\t")
	for _, k := range []string{"8k_mono", "8k_mono_twilio", "16k_mono", "16k_stereo"} {
		r := perStream[k]
		if r == nil {
			continue
		}
		costOf(r, base).row(tw, k)
	}
	if small != nil {
		costOf(small.run, small.base).row(tw, fmt.Sprintf("8k_mono at %d calls", small.n))
	}
	for _, r := range runs {
		if r.Spec.Transcribe {
			b := base
			if small != nil {
				b = small.base
			}
			costOf(r, b).row(tw, fmt.Sprintf("8k_mono + transcribe at %d calls", r.Spec.Calls))
		}
	}
	tw.Flush()
}

func resamplerReport(w *strings.Builder, rows []resRow) {
	fmt.Fprintf(w, "\nResamplers (bar: ripple <= 0.5 dB p-p to 0.9 x the lower Nyquist, rejection >= 80 dB, 1 kHz SNR >= 80 dB; cost: one 20 ms input frame, best of 7 runs):\n")
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "from\tto\timpl\tdelay\tripple dB\tmin gain dB\trejection dB\t1 kHz SNR dB\tns/frame\tbar\t")
	for _, r := range rows {
		bar := "ok"
		if !r.meetsBar() {
			bar = "MISS"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%s\t\n", r.From, r.To, r.Impl, r.Delay,
			f3(r.RippleDB), f2(r.GainMinDB), f1(r.RejectDB), f1(r.SNR1kDB), r.NsPerFrame, bar)
	}
	tw.Flush()
}

func targetsReport(w *strings.Builder, out map[string]any) {
	type target struct {
		key    string
		limit  float64
		atMost bool
		what   string
	}
	ts := []target{
		{"hook_p99_us", 5, true, fmt.Sprintf("hook p99 at %v calls (µs)", out["hook_calls"])},
		{"hook_p999_us", 100, true, fmt.Sprintf("hook p99.9 at %v calls (µs)", out["hook_calls"])},
		{"cpu_cores_per_1000_streams_8k_mono", 0.25, true, "cores per 1000 8 kHz mono streams"},
		{"twilio_cpu_ratio", 1.5, true, "Twilio stream CPU / L16 stream CPU (8 kHz mono)"},
		{"rss_kib_per_stream", 40, true, "RSS per stream (KiB)"},
		{"frames_dropped", 0, true, "frames dropped, all runs"},
		{"frames_dropped_2000_calls", 0, true, "frames dropped at 2000 calls"},
		{"send_latency_p99_ms", 5, true, "capture-to-socket p99 (ms)"},
		{"transcribe_cpu_ratio", 2.0, true, fmt.Sprintf("CPU of a listen with transcription / a plain listen (%v calls)", out["transcribe_calls"])},
		{"playback_latency_p99_ms", 60, true, fmt.Sprintf("playback p99 (ms, %v calls)", out["playback_calls"])},
		{"opus_16k_bytes_ratio", 0.125, true, "Opus/L16 wire bytes, 16 kHz mono"},
		{"opus_encoder_us_per_frame", 40, true, fmt.Sprintf("Opus encoder µs per 20 ms, 16 kHz mono, complexity %d", config.OpusDefaultComplexity)},
		{"opus_16k_added_us_per_frame", 40, true, "CPU Opus adds to a 16 kHz mono stream, µs per 20 ms"},
		{"create_p99_ms", 2, true, fmt.Sprintf("listen_stream_create p99 with %v listens live (ms)", out["start_streams"])},
		{"starts_burst_max_ms", 1000, true, "the slowest burst of 200 starts back to back (ms)"},
	}
	targets := map[string]any{}
	fmt.Fprintf(w, "\nTargets:\n")
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	for _, t := range ts {
		v, ok := asFloat(out[t.key])
		if !ok {
			fmt.Fprintf(tw, "  %s\t%s\tnot measured\t\n", t.what, "-")
			continue
		}
		met := v <= t.limit
		verdict := "met"
		if !met {
			verdict = "MISSED"
		}
		targets[t.key] = met
		fmt.Fprintf(tw, "  %s\t%g\t(target <= %g)\t%s\t\n", t.what, v, t.limit, verdict)
	}
	tw.Flush()
	out["targets_met"] = targets
}

func encodingsReport(w *strings.Builder, enc map[string]any) {
	fmt.Fprintf(w, "\nEncodings (mono streams from 8 kHz calls; wire bytes include the WebSocket frame header; CPU over the baseline of as many calls):\n")
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcalls\tpayload B/s\twire B/s\tcores/1000\tµs/frame\t")
	for _, name := range []string{"8k_mono l16", "8k_mono opus", "16k_mono l16", "16k_mono opus"} {
		m, ok := enc[name].(map[string]any)
		if !ok {
			continue
		}
		g := func(k string) float64 { v, _ := asFloat(m[k]); return v }
		fmt.Fprintf(tw, "%s\t%v\t%.0f\t%.0f\t%.3f\t%.1f\t\n", name, m["calls"], g("payload_bytes_per_s"),
			g("wire_bytes_per_s"), g("cpu_cores_per_1000_streams"), g("cpu_us_per_frame"))
	}
	tw.Flush()
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case *float64:
		if x == nil {
			return 0, false
		}
		return *x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// streamCost is what a run costs per stream over its baseline run.
type streamCost struct{ cores, steady, media, engine, rss, rssSteady float64 }

func costOf(r, base *runResult) streamCost {
	n := float64(r.Spec.Calls)
	return streamCost{
		cores:     (r.Cores() - base.Cores()) / n * 1000,
		steady:    (r.SteadyCores - base.SteadyCores) / n * 1000,
		media:     (r.SteadyMedia - base.SteadyMedia) / n * 1000,
		engine:    (r.SteadyOther - base.SteadyOther) / n * 1000,
		rss:       (r.Sum.MaxRSSKiB - base.Sum.MaxRSSKiB) / n,
		rssSteady: (r.SteadyRSSKiB - base.SteadyRSSKiB) / n,
	}
}

func (c streamCost) json() map[string]any {
	return map[string]any{
		"cpu_cores_per_1000_streams":           num(c.cores),
		"cpu_cores_per_1000_streams_steady":    num(c.steady),
		"media_threads_cores_per_1000_steady":  num(c.media),
		"engine_threads_cores_per_1000_steady": num(c.engine),
		"rss_kib_per_stream":                   num(c.rss),
		"rss_kib_per_stream_steady":            num(c.rssSteady),
	}
}

func (c streamCost) row(w io.Writer, name string) {
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name,
		f3(c.cores), f3(c.steady), f3(c.media), f3(c.engine), f1(c.rss), f1(c.rssSteady))
}
