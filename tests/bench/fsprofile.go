package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Profiling inside FreeSWITCH (-profile DIR): perf samples the switch's CPU
// (cpu-clock, so it works in a virtual machine) during one extra baseline
// cell and one extra mod_listen cell after the measured runs, which perf's
// own cost would skew. Each place's time is its share of the samples times
// the switch's CPU in that cell, and the baseline's is subtracted, per
// stream and 20 ms frame.

// perfRecord starts perf on pid; stop ends it and waits until its file is written.
func perfRecord(pid int, file string) (stop func() error, err error) {
	cmd := exec.Command("perf", "record", "-q", "-e", "cpu-clock", "-F", "997", "-g", "-p", strconv.Itoa(pid), "-o", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf (Debian linux-perf): %v", err)
	}
	return func() error {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil && !strings.Contains(err.Error(), "interrupt") {
			return fmt.Errorf("perf record: %v: %s", err, out.String())
		}
		return nil
	}, nil
}

// perfShares reads a perf file: each (dso, symbol)'s share of the samples, in %.
func perfShares(file string) (map[[2]string]float64, error) {
	out, err := exec.Command("perf", "report", "-i", file, "--stdio", "--no-children", "--sort", "dso,sym",
		"-g", "none", "--percent-limit", "0").Output()
	if err != nil {
		return nil, fmt.Errorf("perf report: %v", err)
	}
	shares := map[[2]string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// "  12.34%  liblisten.so  [.] runtime.findRunnable"
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") || !strings.HasPrefix(f[2], "[") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		shares[[2]string{f[1], strings.Join(f[3:], " ")}] += pct
	}
	return shares, nil
}

// place names where a sample's time goes, by its dso and symbol.
func place(dso, sym string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(sym, s) {
				return true
			}
		}
		return false
	}
	switch {
	case dso == "mod_listen.so":
		return "the media bug (mod_listen.so)"
	case dso == "liblisten.so" && has("lr_push", "lr_pull", "lr_drain", "lr_dtmf", "lr_play", "listen_stream_push", "listen_stream_pull", "lr_collect", "lr_lookup"):
		return "the C push and pull (rings)"
	case dso == "liblisten.so" && has("pacer"):
		return "the pacer"
	case dso == "liblisten.so" && has("runtime.gc", "runtime.scanobject", "runtime.markroot", "runtime.greyobject", "runtime.findObject", "runtime.sweep", "runtime.bgsweep", "runtime.bgscavenge", "runtime.(*mspan)", "runtime.(*gcWork)", "runtime.wbBuf", "runtime.heapBits"):
		return "GC"
	case dso == "liblisten.so" && has("runtime.mallocgc", "runtime.newobject", "runtime.makeslice", "runtime.growslice", "runtime.(*mcache)", "runtime.(*mcentral)", "runtime.(*mheap)", "runtime.memclr"):
		return "allocation"
	case dso == "liblisten.so" && has("runtime.schedule", "runtime.findRunnable", "runtime.park", "runtime.ready", "runtime.goready", "runtime.wakep", "runtime.startm", "runtime.stopm", "runtime.notesleep", "runtime.notewakeup", "runtime.futex", "runtime.mcall", "runtime.gopark", "runtime.netpoll", "runtime.runqget", "runtime.runqsteal", "runtime.checkTimers", "runtime.resetspinning", "runtime.gogo", "runtime.mPark", "runtime.nanotime", "runtime.usleep", "runtime.osyield", "runtime.lock", "runtime.unlock", "runtime.selectgo", "runtime.chansend", "runtime.chanrecv", "runtime.(*timers)", "runtime.sellock", "runtime.selunlock"):
		return "goroutine wake-ups (scheduler, channels, timers)"
	case dso == "liblisten.so" && has("runtime.cgocall", "runtime.cgocallback", "runtime.asmcgocall", "crosscall2", "_cgo_", "runtime.exitsyscall", "runtime.entersyscall", "runtime.needm", "runtime.dropm"):
		return "cgo transitions"
	case dso == "liblisten.so" && has("websocket", "protocol", "bufio"):
		return "framing (WebSocket)"
	case dso == "liblisten.so" && has("syscall", "internal/poll", "net.(*conn)", "net.(*netFD)"):
		return "the socket write (Go side)"
	case dso == "liblisten.so" && has("resample"):
		return "resampling"
	case dso == "liblisten.so":
		return "the engine, other (liblisten.so)"
	case dso == "[kernel.kallsyms]" && has("tcp", "ip_", "__dev_queue", "loopback", "net_rx", "__netif", "skb", "sock_", "__sys_sendto", "sock_write", "__x64_sys_write", "ksys_write"):
		return "the kernel's TCP (both ends' share)"
	case dso == "[kernel.kallsyms]" && has("futex", "schedule", "try_to_wake", "pick_next", "enqueue", "dequeue", "hrtimer", "epoll", "finish_task_switch", "switch_to", "update_curr", "select_task_rq"):
		return "the kernel's scheduling and futexes"
	case dso == "[kernel.kallsyms]":
		return "the kernel, other"
	case strings.HasPrefix(dso, "mod_audio"):
		return dso
	}
	return "FreeSWITCH and libraries (" + dso + ")"
}

// profileReport prints µs per stream and frame by place: the mod_listen
// cell's minus the baseline's.
func profileReport(w io.Writer, n int, base, listen *fsCell, baseShares, listenShares map[[2]string]float64) map[string]float64 {
	perFrame := 1e6 / (float64(n) * 50) // µs of one core-second per stream-frame
	us := map[string]float64{}
	for k, pct := range listenShares {
		us[place(k[0], k[1])] += pct / 100 * listen.CPUCores * perFrame
	}
	for k, pct := range baseShares {
		us[place(k[0], k[1])] -= pct / 100 * base.CPUCores * perFrame
	}
	places := make([]string, 0, len(us))
	for p := range us {
		places = append(places, p)
	}
	slices.SortFunc(places, func(a, b string) int {
		switch {
		case us[a] > us[b]:
			return -1
		case us[a] < us[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "\nWhere mod_listen's time goes inside FreeSWITCH, %d streams (perf, cpu-clock; the mod_listen cell's minus the baseline's), µs per stream and 20 ms frame:\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	total := 0.0
	for _, p := range places {
		fmt.Fprintf(tw, "  %s\t%.2f\n", p, us[p])
		total += us[p]
	}
	fmt.Fprintf(tw, "  total\t%.2f\n", total)
	tw.Flush()
	fmt.Fprintln(w, "Top symbols of liblisten.so and mod_listen.so in the mod_listen cell (µs per stream-frame):")
	type symCost struct {
		name string
		us   float64
	}
	var syms []symCost
	for k, pct := range listenShares {
		if k[0] == "liblisten.so" || k[0] == "mod_listen.so" {
			syms = append(syms, symCost{k[0] + " " + k[1], pct / 100 * listen.CPUCores * perFrame})
		}
	}
	slices.SortFunc(syms, func(a, b symCost) int {
		if a.us > b.us {
			return -1
		}
		if a.us < b.us {
			return 1
		}
		return 0
	})
	for i, s := range syms {
		if i == 20 {
			break
		}
		fmt.Fprintf(w, "  %6.3f  %s\n", s.us, s.name)
	}
	return us
}
