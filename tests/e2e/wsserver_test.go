package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Subprotocols the test server accepts, in its order of preference.
var serverSubprotocols = []string{"audio.jambonz.org", "audio.drachtio.org"}

// Frame is one WebSocket data frame the server received.
type Frame struct {
	Kind int // websocket.TextMessage or websocket.BinaryMessage
	Data []byte
	At   time.Time // when ReadMessage returned it
}

// WSConn is one accepted connection: the upgrade request, and everything
// read on it. The handler owns it: when the handler returns the connection
// is closed.
type WSConn struct {
	*websocket.Conn
	Header      http.Header // the upgrade request's headers
	Path        string      // the request URI
	Subprotocol string      // chosen by the server ("" if none matched)
	Accepted    time.Time
	server      *WSServer

	writeMu sync.Mutex

	mu        sync.Mutex
	frames    []Frame
	closeCode int // from the peer's close frame; 1006 if the socket dropped without one; 0 while open
	closeText string
	readErr   error
	done      chan struct{} // closed when the handler has returned
}

// ReadAll reads and records frames until the socket closes or fails, and
// returns the error that ended it. gorilla answers the peer's close frame.
func (c *WSConn) ReadAll() error {
	for {
		kind, data, err := c.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode, c.closeText = ce.Code, ce.Text
			} else {
				c.closeCode = websocket.CloseAbnormalClosure
			}
			c.mu.Unlock()
			return err
		}
		c.mu.Lock()
		c.frames = append(c.frames, Frame{Kind: kind, Data: data, At: time.Now()})
		c.mu.Unlock()
	}
}

// ReadInBackground runs ReadAll on its own goroutine, for handlers that
// also send; the channel yields ReadAll's error when the socket closes.
func (c *WSConn) ReadInBackground() <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.ReadAll() }()
	return ch
}

// WaitFor waits until a frame received so far satisfies match (checked
// every few ms, oldest first) and returns it; false after timeout.
func (c *WSConn) WaitFor(timeout time.Duration, match func(Frame) bool) (Frame, bool) {
	deadline := time.Now().Add(timeout)
	for seen := 0; ; {
		frames := c.Frames()
		for _, f := range frames[seen:] {
			if match(f) {
				return f, true
			}
		}
		seen = len(frames)
		if !time.Now().Before(deadline) {
			return Frame{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SendJSON sends v, marshalled, as a text frame.
func (c *WSConn) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Send(websocket.TextMessage, b)
}

// Send writes one frame; safe to call from any goroutine.
func (c *WSConn) Send(kind int, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.WriteMessage(kind, data)
}

// CloseWith sends a close frame with the code and text.
func (c *WSConn) CloseWith(code int, text string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text),
		time.Now().Add(5*time.Second))
}

// Frames returns a copy of the frames read so far.
func (c *WSConn) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Close code and text of the peer's close frame (1006: no close frame; 0: still open).
func (c *WSConn) CloseCode() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeText
}

// Done is closed once the handler has returned (the socket is closed then).
func (c *WSConn) Done() <-chan struct{} { return c.done }

// Quit is closed when the test ends: handlers that hold a connection open
// without reading wait for it.
func (c *WSConn) Quit() <-chan struct{} { return c.server.quit }

// BinaryFrames returns the data of the binary frames, in order.
func (c *WSConn) BinaryFrames() [][]byte {
	var out [][]byte
	for _, f := range c.Frames() {
		if f.Kind == websocket.BinaryMessage {
			out = append(out, f.Data)
		}
	}
	return out
}

// Audio returns the binary frames' payload as 16-bit little-endian samples
// (channels still interleaved).
func (c *WSConn) Audio() []int16 {
	var out []int16
	for _, b := range c.BinaryFrames() {
		for i := 0; i+1 < len(b); i += 2 {
			out = append(out, int16(binary.LittleEndian.Uint16(b[i:])))
		}
	}
	return out
}

// TextFrames returns the text frames, in order.
func (c *WSConn) TextFrames() []string {
	var out []string
	for _, f := range c.Frames() {
		if f.Kind == websocket.TextMessage {
			out = append(out, string(f.Data))
		}
	}
	return out
}

// OfferedSubprotocols lists the names in the upgrade's Sec-WebSocket-Protocol headers.
func (c *WSConn) OfferedSubprotocols() []string {
	var out []string
	for _, v := range c.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// Handler scripts one connection. ReadAllHandler is the default.
type Handler func(c *WSConn)

// ReadAllHandler records every frame until the client closes.
func ReadAllHandler(c *WSConn) { c.ReadAll() }

// NeverReadHandler accepts and then never reads: the client's writes fill
// the TCP buffers. It holds the socket open until the test ends.
func NeverReadHandler(c *WSConn) { <-c.Quit() }

// WSServer is an in-process WebSocket server that records every connection.
type WSServer struct {
	URL string // ws://127.0.0.1:port/listen

	t       testing.TB
	srv     *httptest.Server
	handler Handler
	up      websocket.Upgrader
	quit    chan struct{}

	mu          sync.Mutex
	conns       []*WSConn
	upgradeErrs []error
	cond        *sync.Cond
}

// UpgradeErrors returns the requests that failed to upgrade (gorilla has
// answered them with an HTTP error).
func (s *WSServer) UpgradeErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.upgradeErrs...)
}

// ServerOption configures NewWSServer.
type ServerOption func(*serverOptions)

type serverOptions struct {
	rcvbuf       int
	maxSeg       int
	subprotocols []string
}

// WithReceiveBuffer sets SO_RCVBUF on the listening socket (accepted sockets
// inherit it), so a server that does not read stops the client sooner.
func WithReceiveBuffer(bytes int) ServerOption {
	return func(o *serverOptions) { o.rcvbuf = bytes }
}

// WithMaxSegment sets TCP_MAXSEG on the listening socket, so connections
// negotiate that MSS instead of loopback's 64 KiB. Linux sizes a sender's
// socket buffer from its MSS: on loopback it grows to megabytes and a server
// that does not read stalls the client only after many seconds of audio;
// with an Ethernet-sized MSS (1460) it stalls as it would across a network.
func WithMaxSegment(bytes int) ServerOption {
	return func(o *serverOptions) { o.maxSeg = bytes }
}

// WithSubprotocols replaces the subprotocols the server accepts.
func WithSubprotocols(p ...string) ServerOption {
	return func(o *serverOptions) { o.subprotocols = p }
}

// NewWSServer starts a server calling handler (nil: ReadAllHandler) for each
// connection; it is closed when the test ends.
func NewWSServer(t testing.TB, handler Handler, opts ...ServerOption) *WSServer {
	t.Helper()
	o := serverOptions{subprotocols: serverSubprotocols}
	for _, f := range opts {
		f(&o)
	}
	if handler == nil {
		handler = ReadAllHandler
	}
	s := &WSServer{t: t, handler: handler, quit: make(chan struct{}),
		up: websocket.Upgrader{
			Subprotocols: o.subprotocols,
			CheckOrigin:  func(*http.Request) bool { return true },
		}}
	s.cond = sync.NewCond(&s.mu)
	lc := net.ListenConfig{}
	if o.rcvbuf > 0 || o.maxSeg > 0 {
		lc.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				if o.rcvbuf > 0 {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvbuf)
				}
				if serr == nil && o.maxSeg > 0 {
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, o.maxSeg)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("test server: %v", err)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = "ws://" + ln.Addr().String() + "/listen"
	t.Cleanup(s.Close)
	return s
}

func (s *WSServer) serve(w http.ResponseWriter, r *http.Request) {
	header := r.Header.Clone()
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		s.mu.Lock()
		s.upgradeErrs = append(s.upgradeErrs, err)
		s.mu.Unlock()
		return
	}
	c := &WSConn{Conn: conn, Header: header, Path: r.RequestURI, Subprotocol: conn.Subprotocol(),
		Accepted: time.Now(), server: s, done: make(chan struct{})}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.cond.Broadcast()
	s.mu.Unlock()
	defer func() {
		conn.Close()
		close(c.done)
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	}()
	s.handler(c)
}

// Conns returns the connections accepted so far, in order of acceptance.
func (s *WSServer) Conns() []*WSConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*WSConn(nil), s.conns...)
}

// WaitDone waits until n connections were accepted and their handlers have
// returned, and returns them; it fails the test after timeout.
func (s *WSServer) WaitDone(t testing.TB, n int, timeout time.Duration) []*WSConn {
	t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		done := 0
		for _, c := range s.conns {
			select {
			case <-c.done:
				done++
			default:
			}
		}
		if len(s.conns) >= n && done >= n {
			return append([]*WSConn(nil), s.conns...)
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("test server: %d connections accepted, %d finished within %v; want %d", len(s.conns), done, timeout, n)
		}
		s.cond.Wait()
	}
}

// Close stops the server and every connection still open.
func (s *WSServer) Close() {
	select {
	case <-s.quit:
		return
	default:
	}
	close(s.quit)
	for _, c := range s.Conns() {
		c.Conn.Close()
	}
	s.srv.Close()
}
