// Command wsserver is the bundled WebSocket server of the demo: it accepts
// listen streams, records each one's audio to a WAV file, logs every text
// frame, and can talk back with a playAudio clip.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/wav"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	out := flag.String("out", ".", "directory for the recordings")
	play := flag.String("play", "", "a WAV file sent back as playAudio once the stream starts")
	flag.Parse()

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
