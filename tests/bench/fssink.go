package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fsSink is the WebSocket server the streams of the FreeSWITCH benchmark go
// to: it reads every stream as fast as it can and keeps, per URL path, the
// bytes of binary (audio) frames, when the first one arrived and whether the
// stream has closed.
type fsSink struct {
	url string
	srv *http.Server

	mu      sync.Mutex
	streams map[string]*sinkStream
}

type sinkStream struct {
	bytes      atomic.Int64
	firstAudio atomic.Int64 // unix nanoseconds, 0 before the first binary frame
	closed     atomic.Bool
}

func startFSSink() (*fsSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &fsSink{url: "ws://" + ln.Addr().String(), streams: map[string]*sinkStream{}}
	// mod_audio_fork asks for audio.drachtio.org, and mod_listen offers both.
	up := websocket.Upgrader{Subprotocols: []string{"audio.jambonz.org", "audio.drachtio.org"}, ReadBufferSize: 4096}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		st := s.stream(r.URL.Path)
		defer func() {
			conn.Close()
			st.closed.Store(true)
		}()
		for {
			kind, rd, err := conn.NextReader()
			if err != nil {
				return
			}
			if kind != websocket.BinaryMessage {
				continue // JSON metadata: not audio
			}
			n, err := io.Copy(io.Discard, rd)
			if n > 0 {
				st.firstAudio.CompareAndSwap(0, time.Now().UnixNano())
				st.bytes.Add(n)
			}
			if err != nil {
				return
			}
		}
	})}
	go s.srv.Serve(ln)
	return s, nil
}

// stream is the record of a path, created by whichever comes first: the
// benchmark naming it, or the connection.
func (s *fsSink) stream(path string) *sinkStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[path]
	if st == nil {
		st = &sinkStream{}
		s.streams[path] = st
	}
	return st
}

func (s *fsSink) close() { s.srv.Close() }
