package wsdial

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// longAgo is a deadline that has passed: setting it fails a blocked read or
// write at once.
var longAgo = time.Unix(1, 0)

// watched is the TCP connection under TLS and WebSocket. It notes when the
// server was last heard from; once the keepalive gives the server up, every
// read and write fails with the reason, a blocked one included.
type watched struct {
	net.Conn
	unwatch func() bool // ends the dial's watch of its context

	heard atomic.Int64 // unix ns of the last read that brought data
	limit time.Duration
	gone  atomic.Pointer[error]

	mu     sync.Mutex
	timer  *time.Timer
	closed bool

	q atomic.Pointer[queue] // set by Unblock: writes never block
}

// SetWriteDeadline is a no-op once writes are queued: they never block, and
// the queue's flush has a deadline of its own.
func (w *watched) SetWriteDeadline(t time.Time) error {
	if w.q.Load() != nil {
		return nil
	}
	return w.Conn.SetWriteDeadline(t)
}

func (w *watched) SetDeadline(t time.Time) error {
	if w.q.Load() != nil {
		return w.Conn.SetReadDeadline(t)
	}
	return w.Conn.SetDeadline(t)
}

func watch(c net.Conn) *watched {
	w := &watched{Conn: c}
	w.heard.Store(time.Now().UnixNano())
	return w
}

func (w *watched) Read(b []byte) (int, error) {
	if err := w.gone.Load(); err != nil {
		return 0, *err
	}
	n, err := w.Conn.Read(b)
	if n > 0 {
		w.heard.Store(time.Now().UnixNano())
	}
	if err != nil {
		err = w.reason(err)
	}
	return n, err
}

// Write checks first: gorilla resets the write deadline before each write,
// which would unblock nothing on a server that is gone.
func (w *watched) Write(b []byte) (int, error) {
	if err := w.gone.Load(); err != nil {
		return 0, *err
	}
	if q := w.q.Load(); q != nil {
		return q.write(b)
	}
	n, err := w.Conn.Write(b)
	if err != nil {
		err = w.reason(err)
	}
	return n, err
}

func (w *watched) Close() error {
	w.mu.Lock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	return w.Conn.Close()
}

// reason turns a failed read or write into the keepalive's verdict when the
// server has been silent too long: a ping's write that timed out, or a
// deadline the keepalive set, says more as "silent for 20s" than as an
// i/o timeout.
func (w *watched) reason(err error) error {
	if w.limit > 0 && w.silence() >= w.limit {
		w.giveUp()
	}
	if g := w.gone.Load(); g != nil {
		return *g
	}
	return err
}

func (w *watched) silence() time.Duration {
	return time.Since(time.Unix(0, w.heard.Load()))
}

// giveUp declares the server gone and breaks whatever is blocked on it.
func (w *watched) giveUp() {
	err := fmt.Errorf("the server sent nothing, not even a pong, for %v", w.limit)
	if w.gone.CompareAndSwap(nil, &err) {
		w.Conn.SetDeadline(longAgo)
		if q := w.q.Load(); q != nil {
			q.setDeadline(longAgo) // a flush applies the queue's deadline
		}
	}
}

// keepalive pings every interval and gives the server up after two
// intervals without a byte from it. A server that answers pings and
// sends nothing else is alive.
func (w *watched) keepalive(conn *websocket.Conn, every time.Duration) {
	w.limit = 2 * every
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.timer = time.AfterFunc(every, func() { w.tick(conn, every) })
}

func (w *watched) tick(conn *websocket.Conn, every time.Duration) {
	if w.gone.Load() != nil {
		return
	}
	if w.silence() >= w.limit {
		w.giveUp()
		return
	}
	// The ping may wait behind a write in progress, but not past the
	// moment the server would be given up; WriteControl may be called
	// alongside the stream's own writes.
	giveUpAt := time.Unix(0, w.heard.Load()).Add(w.limit)
	conn.WriteControl(websocket.PingMessage, nil, giveUpAt)
	next := min(every, w.limit-w.silence())
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.timer.Reset(max(next, 0))
	}
}
