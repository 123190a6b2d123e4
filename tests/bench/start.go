package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// startOptions: the start-latency runs (startbench).
type startOptions struct {
	streams, starts, rounds, runs int
	compareLib                    string // another build's liblisten.so, measured in the same run
}

// startRun is what one startbench run printed.
type startRun struct {
	Lib           string    `json:"lib"`
	Streams       int       `json:"streams"`
	Starts        int       `json:"starts"`
	Connected     int       `json:"connected"`
	ConnectFailed int       `json:"connect_failed"`
	Created       int       `json:"created"`
	Stops         int       `json:"stops"`
	Shutdown      int       `json:"shutdown"`
	BurstsMs      []float64 `json:"bursts_ms"`
	RampCreate    latency   `json:"ramp_create"`
	Create        latency   `json:"create"`
	Start         latency   `json:"start"`
	Hangup        latency   `json:"hangup"`
	StatusAll     latency   `json:"status_all"`
	Exit          int       `json:"exit"`
	// Cores of the whole machine busy over the run (all processes): at
	// 1.8 of 2 or more the tails measure the machine, not the engine.
	MachineBusy float64 `json:"machine_busy"`
}

// saturated tells whether the machine was busy enough (other processes
// included) to make the run's tails the scheduler's rather than the engine's.
func (r startRun) saturated() bool { return r.MachineBusy >= 0.9*float64(runtime.NumCPU()) }

type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// startBench measures how long a start waits with many listens live: this
// build's library, and -compare-lib's interleaved with it when given.
func startBench(o options, out map[string]any, report *strings.Builder) error {
	build, err := filepath.Abs(o.build)
	if err != nil {
		return err
	}
	libs := []string{filepath.Join(build, "liblisten.so")}
	if o.start.compareLib != "" {
		libs = append(libs, o.start.compareLib)
	}
	runs := map[string][]startRun{}
	for i := 0; i < o.start.runs; i++ {
		for _, lib := range libs {
			r, err := runStartbench(build, lib, o.start)
			if err != nil {
				return err
			}
			runs[lib] = append(runs[lib], r)
			time.Sleep(time.Second) // let the sockets of the last run close
		}
	}
	mine := summarizeStarts(runs[libs[0]])
	out["start"] = mine
	for _, k := range []string{"create_p50_ms", "create_p99_ms", "create_max_ms", "start_p99_ms", "starts_burst_max_ms"} {
		out[k] = mine[k]
	}
	out["start_streams"] = o.start.streams
	if len(libs) > 1 {
		out["start_compared"] = summarizeStarts(runs[libs[1]])
	}
	startReport(report, o.start, libs, runs)
	return nil
}

func runStartbench(build, lib string, so startOptions) (startRun, error) {
	progress("startbench %s: %d live, %d starts x %d", lib, so.streams, so.starts, so.rounds)
	sk, err := startSink(build, 0)
	if err != nil {
		return startRun{}, err
	}
	defer sk.stop()
	cmd := exec.Command(filepath.Join(build, "startbench"), "--lib", lib, "--url", sk.url,
		"--streams", strconv.Itoa(so.streams), "--starts", strconv.Itoa(so.starts), "--rounds", strconv.Itoa(so.rounds))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	r := startRun{Lib: lib}
	busy0, _ := machineCPU(clockTicks())
	t0 := time.Now()
	err = cmd.Run()
	busy1, _ := machineCPU(clockTicks())
	r.MachineBusy = (busy1 - busy0) / time.Since(t0).Seconds()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return r, err
		}
		r.Exit = ee.ExitCode()
	}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		return r, fmt.Errorf("startbench printed %q: %v", stdout.String(), err)
	}
	return r, nil
}

// summarizeStarts is the median over runs of each figure, how many runs
// had the machine saturated, and the problems seen (a run is unsound when a
// listen did not connect or did not stop).
func summarizeStarts(runs []startRun) map[string]any {
	saturated := 0
	for _, r := range runs {
		if r.saturated() {
			saturated++
		}
	}
	med := func(f func(startRun) float64) nullable {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return num(v[len(v)/2])
	}
	problems := []string{}
	for i, r := range runs {
		if r.Exit != 0 || r.Connected != r.Streams || r.Stops != r.Created || r.Shutdown != 0 {
			problems = append(problems, fmt.Sprintf("run %d: exit %d, %d of %d connected, %d stops of %d created, shutdown %d",
				i+1, r.Exit, r.Connected, r.Streams, r.Stops, r.Created, r.Shutdown))
		}
	}
	return map[string]any{
		"runs":                len(runs),
		"saturated_runs":      saturated,
		"create_p50_ms":       med(func(r startRun) float64 { return r.Create.P50 }),
		"create_p99_ms":       med(func(r startRun) float64 { return r.Create.P99 }),
		"create_max_ms":       med(func(r startRun) float64 { return r.Create.Max }),
		"start_p50_ms":        med(func(r startRun) float64 { return r.Start.P50 }),
		"start_p99_ms":        med(func(r startRun) float64 { return r.Start.P99 }),
		"hangup_p99_ms":       med(func(r startRun) float64 { return r.Hangup.P99 }),
		"status_all_p50_ms":   med(func(r startRun) float64 { return r.StatusAll.P50 }),
		"ramp_create_p99_ms":  med(func(r startRun) float64 { return r.RampCreate.P99 }),
		"starts_burst_max_ms": med(func(r startRun) float64 { return slices.Max(r.BurstsMs) }),
		"problems":            problems,
	}
}

func startReport(w *strings.Builder, so startOptions, libs []string, runs map[string][]startRun) {
	fmt.Fprintf(w, "\nStarts with %d listens live (startbench: %d starts back to back x %d, each listen_config_resolve + create + status;\n"+
		"meanwhile another thread hangs up the oldest listen per start, another polls listen_status_all every 100 ms; ms):\n",
		so.streams, so.starts, so.rounds)
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "library\trun\tcreate p50\tp99\tmax\tstart p50\tp99\tmax\thangup p99\tstatus_all p50\tramp create p99\tbursts\tsound\tmachine busy\t")
	for i := 0; i < so.runs; i++ {
		for _, lib := range libs {
			if i >= len(runs[lib]) {
				continue
			}
			r := runs[lib][i]
			bursts := make([]string, len(r.BurstsMs))
			for j, b := range r.BurstsMs {
				bursts[j] = strconv.FormatFloat(b, 'f', 0, 64)
			}
			sound := "yes"
			if r.Exit != 0 || r.Connected != r.Streams || r.Stops != r.Created {
				sound = "NO"
			}
			name := lib
			if r.saturated() {
				name = "(!) " + lib
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, i+1,
				f3(r.Create.P50), f2(r.Create.P99), f1(r.Create.Max), f3(r.Start.P50), f2(r.Start.P99), f1(r.Start.Max),
				f2(r.Hangup.P99), f1(r.StatusAll.P50), f2(r.RampCreate.P99), strings.Join(bursts, "/"), sound, f2(r.MachineBusy))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "(!) = the machine was saturated (busy >= 90 %% of its cores, other processes included): the tails are the scheduler's.\n")
}
