// Command recorderbench measures listen-recorder's CPU per stream: it runs
// the built listen-recorder, feeds it N concurrent 8 kHz mono listen
// streams in real time (20 ms frames of 16-bit PCM, the jambonz protocol),
// reads the recorder's own CPU time from /proc over a measured window, and
// checks that every frame sent is in the recordings. It prints one JSON
// line.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/recorder"
)

type result struct {
	Streams          int     `json:"streams"`
	Rate             int     `json:"sampleRate"`
	WindowS          float64 `json:"windowS"`
	RecorderCores    float64 `json:"recorderCores"`        // the recorder's CPU over the window, in cores
	PerStreamPercent float64 `json:"perStreamPercentCore"` // of one core, per stream
	StreamsPerCore   float64 `json:"streamsPerCore"`
	RSSKiB           int64   `json:"recorderRssKiB"`
	FramesSent       int64   `json:"framesSent"`
	FramesRecorded   int64   `json:"framesRecorded"`
	SyncEvery        string  `json:"sync"`
	// How far the load generator fell behind its schedule: far behind,
	// frames came in bursts and the figure is not a real-time one.
	LateMaxMs float64 `json:"senderLateMaxMs"`
	RealTime  bool    `json:"realTime"` // the generator kept within 3 frames of its schedule
}

func main() {
	build := flag.String("build", "build", "directory holding listen-recorder")
	streams := flag.Int("streams", 500, "concurrent streams")
	rate := flag.Int("rate", 8000, "sample rate of the streams")
	warmup := flag.Duration("warmup", 3*time.Second, "time after the last stream started before measuring")
	window := flag.Duration("window", 20*time.Second, "measured window")
	syncEvery := flag.Duration("sync", time.Second, "listen-recorder's -sync")
	flag.Parse()

	dir, err := os.MkdirTemp("", "recorderbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(filepath.Join(*build, "listen-recorder"), "-addr", "127.0.0.1:0", "-dir", dir,
		"-max-streams", strconv.Itoa(*streams+10), "-min-free-disk", "0", "-sync", syncEvery.String())
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatalf("listen-recorder did not start: %v", err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "listening "))

	frameBytes := *rate / 50 * 2
	frame := make([]byte, frameBytes)
	for i := range frameBytes / 2 {
		binary.LittleEndian.PutUint16(frame[2*i:], uint16(int16(3000*math.Sin(2*math.Pi*440*float64(i)/float64(*rate)))))
	}
	conns := make([]*websocket.Conn, *streams)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			log.Fatalf("stream %d: %v", i, err)
		}
		first, _ := json.Marshal(map[string]any{"sampleRate": *rate, "mixType": "mono", "callSid": fmt.Sprintf("bench-%d", i)})
		c.WriteMessage(websocket.TextMessage, first)
		conns[i] = c
	}

	// A few senders share the streams, each on an absolute 20 ms schedule:
	// one wake-up per tick for many streams keeps the generator cheap.
	var sent atomic.Int64
	var lateMax atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	shards := 4
	for s := range shards {
		wg.Go(func() {
			next := time.Now()
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Until(next)):
				}
				if late := time.Since(next); int64(late) > lateMax.Load() {
					lateMax.Store(int64(late))
				}
				for i := s; i < len(conns); i += shards {
					if err := conns[i].WriteMessage(websocket.BinaryMessage, frame); err != nil {
						log.Fatalf("stream %d: %v", i, err)
					}
					sent.Add(1)
				}
				next = next.Add(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(*warmup)
	lateMax.Store(0)
	t0, c0 := time.Now(), cpuTicks(cmd.Process.Pid)
	time.Sleep(*window)
	t1, c1 := time.Now(), cpuTicks(cmd.Process.Pid)
	rss := rssKiB(cmd.Process.Pid)
	close(stop)
	wg.Wait()
	for _, c := range conns {
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.Close()
	}

	// No loss: every frame sent is in a recording.
	var recorded int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		sides, err := recorder.List(dir, nil, 0)
		if err != nil {
			log.Fatal(err)
		}
		recorded = 0
		for _, s := range sides {
			recorded += s.Bytes / int64(frameBytes)
		}
		if len(sides) == *streams || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	const clkTck = 100 // USER_HZ on Linux
	secs := t1.Sub(t0).Seconds()
	cores := float64(c1-c0) / clkTck / secs
	r := result{Streams: *streams, Rate: *rate, WindowS: math.Round(secs*10) / 10, RecorderCores: round(cores, 4),
		PerStreamPercent: round(100*cores/float64(*streams), 4), StreamsPerCore: math.Round(float64(*streams) / cores),
		RSSKiB: rss, FramesSent: sent.Load(), FramesRecorded: recorded,
		SyncEvery: syncEvery.String(), LateMaxMs: round(float64(lateMax.Load())/1e6, 1)}
	r.RealTime = r.LateMaxMs <= 60
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	if !r.RealTime {
		log.Printf("the load generator fell %.0f ms behind (the machine is busy): the streams came in bursts, "+
			"so the figure is not a real-time one", r.LateMaxMs)
	}
	if recorded != sent.Load() {
		cmd.Process.Kill()
		log.Fatalf("lost audio: %d frames sent, %d recorded", sent.Load(), recorded)
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// cpuTicks is a process's user plus system CPU time, in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

func rssKiB(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
