package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/resample"
	"github.com/modlisten/mod_listen/go/wav"
)

// encoderRow is the Opus encoder's cost at one complexity: 16 kHz mono at
// the default bitrate, on speech (espeak-ng's, repeated), or on two tones
// and noise where espeak-ng is missing.
type encoderRow struct {
	Complexity int     `json:"complexity"`
	UsPerFrame float64 `json:"us_per_frame"`
	Bytes      float64 `json:"bytes_per_frame"`
	Audio      string  `json:"audio"`
}

// espeak returns a sentence spoken by espeak-ng at rate, or nil.
func espeak(rate int) ([]int16, string) {
	dir, err := os.MkdirTemp("", "mod_listen-bench-speech.")
	if err != nil {
		return nil, "tones"
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "speech.wav")
	if exec.Command("espeak-ng", "-w", path, "Thank you for calling. Please say the name of the person you want to reach, or press one for sales and two for support.").Run() != nil {
		return nil, "tones"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "tones"
	}
	a, err := wav.Parse(b)
	if err != nil {
		return nil, "tones"
	}
	out, err := resample.Clip(a.Mono(), a.Rate, rate)
	if err != nil {
		return nil, "tones"
	}
	return out, "speech"
}

// measureEncoder encodes frames 20 ms frames at each complexity and takes
// the thread's CPU time (not the wall clock: on a shared machine the
// encoder waits for a core as often as it runs), best of three passes.
func measureEncoder(frames int) ([]encoderRow, error) {
	const rate = 16000
	n := rate / 50
	audio := make([]int16, frames*n)
	speech, source := espeak(rate)
	for i := range audio {
		if speech != nil {
			audio[i] = speech[i%len(speech)]
			continue
		}
		t := float64(i) / rate
		audio[i] = int16(2500*math.Sin(2*math.Pi*440*t) + 1500*math.Sin(2*math.Pi*1230*t) + 300*math.Sin(2*math.Pi*3100*t))
	}
	var rows []encoderRow
	for c := 0; c <= 10; c++ {
		best := math.Inf(1)
		var bytes int
		for pass := 0; pass < 3; pass++ {
			enc, err := opus.NewEncoder(rate, 1, config.Opus{Bitrate: 32000, Application: config.OpusVoIP, Complexity: c})
			if err != nil {
				return nil, err
			}
			bytes = 0
			runtime.LockOSThread()
			start := threadCPU()
			for k := 0; k < frames; k++ {
				p, err := enc.Encode(audio[k*n : (k+1)*n])
				if err != nil {
					runtime.UnlockOSThread()
					return nil, err
				}
				bytes += len(p)
			}
			used := threadCPU() - start
			runtime.UnlockOSThread()
			best = min(best, float64(used.Microseconds())/float64(frames))
		}
		rows = append(rows, encoderRow{Complexity: c, UsPerFrame: best, Bytes: float64(bytes) / float64(frames), Audio: source})
	}
	return rows, nil
}

// threadCPU is the CPU time the calling thread has used
// (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

func encoderReport(w *strings.Builder, rows []encoderRow) {
	fmt.Fprintf(w, "\nOpus encoder, 16 kHz mono, 32 kbit/s, voip, on %s (thread CPU time, best of 3 passes; default complexity %d):\n", rows[0].Audio, config.OpusDefaultComplexity)
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "complexity\tµs/frame\tbytes/frame\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t\n", r.Complexity, r.UsPerFrame, r.Bytes)
	}
	tw.Flush()
}

// wsHeader is the size of the header of a client's (masked) WebSocket
// frame with n bytes of payload (RFC 6455 5.2).
func wsHeader(n float64) float64 {
	switch {
	case n < 126:
		return 2 + 4
	case n < 65536:
		return 4 + 4
	}
	return 10 + 4
}
