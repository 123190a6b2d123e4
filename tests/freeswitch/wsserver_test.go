package freeswitch_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is one WebSocket data frame the server received.
type Frame struct {
	Text bool // a text frame; otherwise binary
	Data []byte
}

// Conn is one accepted connection and what was read on it.
type Conn struct {
	ws   *websocket.Conn
	Path string

	writeMu sync.Mutex

	mu        sync.Mutex
	frames    []Frame
	closeCode int // the peer's close code; 1006 when the socket dropped; 0 while open
}

func (c *Conn) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

func (c *Conn) Texts() []string {
	var out []string
	for _, f := range c.Frames() {
		if f.Text {
			out = append(out, string(f.Data))
		}
	}
	return out
}

func (c *Conn) Binaries() [][]byte {
	var out [][]byte
	for _, f := range c.Frames() {
		if !f.Text {
			out = append(out, f.Data)
		}
	}
	return out
}

func (c *Conn) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

func (c *Conn) WriteText(s string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *Conn) WriteBinary(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.ws.WriteMessage(websocket.BinaryMessage, b)
}

// CloseNormally sends a close frame with code 1000; the reader then gets the
// peer's answer and ends.
func (c *Conn) CloseNormally() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
}

// WSServer accepts listen streams, records every frame, and lets a handler
// per path react to them.
type WSServer struct {
	*httptest.Server
	URL string // ws://127.0.0.1:port

	mu    sync.Mutex
	conns map[string]chan *Conn // accepted connections by path, until Accept takes them
	// onFrame, if set for a path, is called (on the reader goroutine) after
	// each frame is recorded.
	onFrame map[string]func(c *Conn, f Frame)
}

// Handle sets what the server does on each frame received on path.
func (s *WSServer) Handle(path string, fn func(c *Conn, f Frame)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onFrame[path] = fn
}

func (s *WSServer) queue(path string) chan *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.conns[path]
	if q == nil {
		q = make(chan *Conn, 16)
		s.conns[path] = q
	}
	return q
}

func (s *WSServer) handler(path string) func(c *Conn, f Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onFrame[path]
}

func newWSServer() *WSServer {
	s := &WSServer{conns: map[string]chan *Conn{}, onFrame: map[string]func(*Conn, Frame){}}
	up := websocket.Upgrader{Subprotocols: []string{"audio.jambonz.org", "audio.drachtio.org"}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &Conn{ws: ws, Path: r.URL.Path}
		select {
		case s.queue(c.Path) <- c:
		default: // nobody waits for it: recorded nowhere
		}
		defer ws.Close()
		for {
			kind, data, err := ws.ReadMessage()
			if err != nil {
				c.mu.Lock()
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.closeCode = ce.Code
				} else {
					c.closeCode = websocket.CloseAbnormalClosure
				}
				c.mu.Unlock()
				return
			}
			f := Frame{Text: kind == websocket.TextMessage, Data: data}
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
			if h := s.handler(c.Path); h != nil {
				h(c, f)
			}
		}
	}))
	s.URL = "ws" + strings.TrimPrefix(s.Server.URL, "http")
	return s
}

// Accept returns the next connection on path.
func (s *WSServer) Accept(t testing.TB, path string, timeout time.Duration) *Conn {
	t.Helper()
	select {
	case c := <-s.queue(path):
		return c
	case <-time.After(timeout):
		t.Fatalf("no WebSocket connection on %s within %v", path, timeout)
		return nil
	}
}

// WaitFor polls cond until it holds or fails the test after timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
