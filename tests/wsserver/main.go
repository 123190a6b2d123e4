// Command wsserver is a small WebSocket server for trying the engine by hand: it accepts
// listen streams, records each one's audio to a WAV file, logs every text
// frame, and can talk back with a playAudio clip.
//
// With -sink it is the benchmarks' server instead: it reads every stream as
// fast as it can, counting frames and bytes and keeping nothing, and with
// -stream-back RATE it also streams audio back to each one in real time.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/wav"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	out := flag.String("out", ".", "directory for the recordings")
	play := flag.String("play", "", "a WAV file sent back as playAudio once the stream starts")
	sinkMode := flag.Bool("sink", false, "benchmark sink: read every stream as fast as possible, count "+
		"frames and bytes, record nothing; one line per stream when it closes")
	streamBack := flag.Int("stream-back", 0, "with -sink: from the first text frame on, send each stream "+
		"binary 20 ms frames of raw 16-bit PCM (a -20 dBFS 1 kHz tone) at this rate, in real time "+
		"(the listen needs \"bidirectionalAudio\":{\"enabled\":true,\"streaming\":true,\"sampleRate\":RATE})")
	flag.Parse()
	if *streamBack != 0 && (!*sinkMode || *streamBack < 50 || *streamBack%50 != 0) {
		log.Fatal("-stream-back needs -sink and a rate that is a multiple of 50 Hz")
	}

	var clip []byte
	if *play != "" {
		b, err := os.ReadFile(*play)
		if err != nil {
			log.Fatal(err)
		}
		clip = b
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The first line is for scripts: where to point the listen.
	fmt.Printf("listening ws://%s/\n", ln.Addr())
	var n atomic.Int64
	up := websocket.Upgrader{Subprotocols: []string{"audio.jambonz.org", "audio.drachtio.org"}}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		id := n.Add(1)
		if *sinkMode {
			sink(conn, id, *streamBack)
			return
		}
		record(conn, filepath.Join(*out, fmt.Sprintf("call-%d.wav", id)), clip)
	})
	log.Fatal(http.Serve(ln, nil))
}

type summary struct {
	File         string          `json:"file"`
	Initial      json.RawMessage `json:"initial"`
	AudioFrames  int             `json:"audioFrames"`
	Seconds      float64         `json:"seconds"`
	TextFrames   []string        `json:"textFrames"`
	CloseCode    int             `json:"closeCode"`
	Subprotocol  string          `json:"subprotocol"`
	BadFrameSize int             `json:"badFrameSizes"`
}

func record(conn *websocket.Conn, file string, clip []byte) {
	defer conn.Close()
	sum := summary{File: file, Subprotocol: conn.Subprotocol(), CloseCode: -1}
	var first struct {
		SampleRate int    `json:"sampleRate"`
		MixType    string `json:"mixType"`
	}
	var samples []int16
	channels := 1
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				sum.CloseCode = ce.Code
			}
			break
		}
		switch {
		case kind == websocket.TextMessage && sum.Initial == nil:
			sum.Initial = data
			if err := json.Unmarshal(data, &first); err != nil || first.SampleRate == 0 {
				log.Printf("first frame is not the listen JSON: %s", data)
			}
			if first.MixType == "stereo" {
				channels = 2
			}
			if clip != nil {
				msg, _ := json.Marshal(map[string]any{"type": "playAudio", "data": map[string]any{
					"audioContentType": "wav", "audioContent": base64.StdEncoding.EncodeToString(clip), "id": "demo"}})
				conn.WriteMessage(websocket.TextMessage, msg)
			}
		case kind == websocket.TextMessage:
			sum.TextFrames = append(sum.TextFrames, string(data))
		default:
			if len(data) != first.SampleRate/50*2*channels {
				sum.BadFrameSize++
			}
			sum.AudioFrames++
			samples = pcm.FromLE(samples, data)
		}
	}
	if first.SampleRate > 0 {
		sum.Seconds = float64(len(samples)/channels) / float64(first.SampleRate)
		if err := os.WriteFile(file, wav.Encode(first.SampleRate, channels, samples), 0o644); err != nil {
			log.Print(err)
		}
	}
	b, _ := json.Marshal(sum)
	fmt.Printf("stream %s\n", b)
}

// sinkLine is what -sink prints for each stream when it closes.
type sinkLine struct {
	ID          int64   `json:"id"`
	TextFrames  int64   `json:"textFrames"`
	AudioFrames int64   `json:"audioFrames"`
	AudioBytes  int64   `json:"audioBytes"`
	CloseCode   int     `json:"closeCode"`
	Seconds     float64 `json:"seconds"` // from the upgrade to the close
	SentBack    int64   `json:"sentBackFrames,omitempty"`
	// How late the streamed-back frames left against their real-time
	// schedule (a late frame is followed by a catch-up burst).
	BackLateMaxMs float64 `json:"sentBackLateMaxMs,omitempty"`
	BackLate20    int64   `json:"sentBackLate20ms,omitempty"` // frames more than 20 ms late
}

// printMu keeps the per-stream lines whole.
var printMu sync.Mutex

// twilioMedia starts the media messages of a Twilio stream.
const twilioMedia = `{"event":"media"`

// sink reads a stream as fast as it can, keeping nothing.
func sink(conn *websocket.Conn, id int64, backRate int) {
	defer conn.Close()
	start := time.Now()
	line := sinkLine{ID: id, CloseCode: -1}
	stop := make(chan struct{})
	var back sync.WaitGroup
	var sentBack atomic.Int64
	var late backLate
	head := make([]byte, len(twilioMedia))
	for {
		kind, r, err := conn.NextReader()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				line.CloseCode = ce.Code
			}
			break
		}
		k, _ := io.ReadFull(r, head)
		n, err := io.Copy(io.Discard, r)
		n += int64(k)
		if err != nil {
			break
		}
		// A Twilio stream's audio is in its media messages.
		if kind == websocket.TextMessage && string(head[:k]) != twilioMedia {
			if line.TextFrames == 0 && backRate > 0 {
				back.Go(func() { streamBack(conn, backRate, stop, &sentBack, &late) })
			}
			line.TextFrames++
			continue
		}
		line.AudioFrames++
		line.AudioBytes += n
	}
	close(stop)
	back.Wait()
	line.Seconds = time.Since(start).Seconds()
	line.SentBack = sentBack.Load()
	line.BackLateMaxMs = float64(late.max.Microseconds()) / 1000
	line.BackLate20 = late.over20
	b, _ := json.Marshal(line)
	printMu.Lock()
	fmt.Printf("stream %s\n", b)
	printMu.Unlock()
}

// toneFrames is one second of a -20 dBFS 1 kHz tone at rate, as 16-bit
// little-endian PCM: 50 frames of 20 ms that repeat seamlessly.
func toneFrames(rate int) []byte {
	b := make([]byte, 2*rate)
	for i := range rate {
		v := int16(math.Round(3277 * math.Sin(2*math.Pi*1000*float64(i)/float64(rate))))
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

var toneCache sync.Map // rate -> []byte

// backLate is how late streamBack's frames left; read after it returned.
type backLate struct {
	max    time.Duration
	over20 int64
}

// streamBack sends 20 ms binary frames on an absolute real-time schedule
// until stop is closed or a write fails. A frame that is due goes out at once,
// so after a delay the frames missed follow in a burst.
func streamBack(conn *websocket.Conn, rate int, stop <-chan struct{}, sent *atomic.Int64, late *backLate) {
	v, ok := toneCache.Load(rate)
	if !ok {
		v, _ = toneCache.LoadOrStore(rate, toneFrames(rate))
	}
	tone := v.([]byte)
	size := rate / 50 * 2
	t := time.NewTimer(0)
	defer t.Stop()
	next := time.Now()
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if d := time.Since(next); d > late.max {
			late.max = d
		}
		if time.Since(next) > 20*time.Millisecond {
			late.over20++
		}
		off := (k % 50) * size
		conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMessage(websocket.BinaryMessage, tone[off:off+size]); err != nil {
			return
		}
		sent.Add(1)
		next = next.Add(20 * time.Millisecond)
		t.Reset(time.Until(next))
	}
}
