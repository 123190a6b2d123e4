package wsdial

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// maxQueued bounds what an unblocked connection holds for a socket that
// takes nothing. Its owner flushes after every few frames, so what it queues
// is at most a few frames, its text frames (64 KiB) and a resumption's
// replay; the rest of the room is for the pongs its reader answers a
// server's pings with. A server that pings without reading fills it and
// loses the connection, rather than growing it.
const maxQueued = 256 << 10

// queue makes a connection's writes non-blocking: a write hands the socket
// what it takes at once and keeps the rest, in order, behind what is kept
// already; flush then waits for the socket to take it all. Writes are
// serialised by the layers above (gorilla and TLS each write one thing at a
// time), flushes by flushMu; mu orders a write against a flush in progress.
type queue struct {
	w   *watched
	raw syscall.RawConn

	mu  sync.Mutex
	buf []byte // kept bytes, from off
	off int
	err error
	dmu sync.Mutex // orders setting the flush deadline against applying it
	by  time.Time  // the flush deadline; zero: none
	fmu sync.Mutex
}

func newQueue(w *watched) (*queue, error) {
	sc, ok := w.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("the connection has no socket to write to without blocking")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &queue{w: w, raw: raw}, nil
}

func (q *queue) write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	rest := b
	if q.off == len(q.buf) {
		n, err := q.writeNow(b)
		if err != nil {
			q.err = q.w.reason(err)
			return 0, q.err
		}
		rest = b[n:]
	}
	if len(rest) == 0 {
		return len(b), nil
	}
	if len(q.buf)-q.off+len(rest) > maxQueued {
		q.err = fmt.Errorf("over %d KiB wait for a server that does not read", maxQueued>>10)
		return 0, q.err
	}
	q.buf = append(q.buf, rest...)
	return len(b), nil
}

// writeNow writes what the socket takes without waiting for it.
func (q *queue) writeNow(b []byte) (int, error) {
	var n int
	var werr error
	err := q.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // never wait: what is left is kept
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

func (q *queue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf) - q.off
}

// setDeadline sets when a flush gives up, unless an earlier time is set.
func (q *queue) setDeadline(t time.Time) {
	q.dmu.Lock()
	defer q.dmu.Unlock()
	if q.by.IsZero() || t.Before(q.by) {
		q.by = t
	}
	q.w.Conn.SetWriteDeadline(q.by) // breaks a flush blocked now
}

func (q *queue) flush() error {
	q.fmu.Lock()
	defer q.fmu.Unlock()
	q.dmu.Lock()
	q.w.Conn.SetWriteDeadline(q.by)
	q.dmu.Unlock()
	for {
		q.mu.Lock()
		chunk, err := q.buf[q.off:], q.err
		q.mu.Unlock()
		if err != nil || len(chunk) == 0 {
			return err
		}
		// The socket's own blocking write, outside mu: writes that come
		// meanwhile see bytes kept and keep theirs behind them. An append
		// that moves buf leaves chunk's bytes where they were.
		n, err := q.w.Conn.Write(chunk)
		q.mu.Lock()
		q.off += n
		if q.off == len(q.buf) {
			q.buf, q.off = q.buf[:0], 0
			if cap(q.buf) > 64<<10 { // what a stall grew is not kept
				q.buf = nil
			}
		}
		if err != nil && q.err == nil {
			q.err = q.w.reason(err)
		}
		err = q.err
		q.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
