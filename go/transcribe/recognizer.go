package transcribe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/smallnest/ringbuffer"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/peertext"
)

// KeepAliveEvery: Deepgram closes a connection that hears nothing for 10 s
// and asks for a KeepAlive every 3 to 5 s while no audio is sent.
const KeepAliveEvery = 3 * time.Second

// MaxMessage bounds a recognizer's text message, as maxTextBytes bounds the
// listen's server: transcripts are short.
const MaxMessage = 64 << 10

// Dialer opens the recognizer's connection.
type Dialer func(ctx context.Context, url string, header map[string]string) (*websocket.Conn, error)

// Options describe one recognizer connection.
type Options struct {
	Vendor Vendor
	Format Format
	Dial   Dialer
	// RingFrames is how many 20 ms frames may wait for the recognizer;
	// beyond that the oldest are dropped.
	RingFrames int
	Reconnect  config.Reconnect

	// Called from the recognizer's goroutines, Dropped from Write's.
	Transcript func(Transcript)
	Failed     func(err error)
	Dropped    func(frames uint64) // the first time audio is dropped
}

// Recognizer is one recognizer connection. Audio goes in through Write, from
// one goroutine; its own goroutines do the network.
type Recognizer struct {
	o          Options
	frameBytes int
	ring       *ringbuffer.RingBuffer
	discard    []byte // Write's
	dropped    atomic.Uint64
	// position counts the frames of the call given to Write or lost before
	// it, so a new connection knows where its audio starts in the call.
	position atomic.Uint64
	told     bool        // the drop was reported; Write's
	dead     atomic.Bool // no connection will come any more: audio is no longer kept

	ctx      context.Context
	cancel   context.CancelFunc
	finish   chan struct{} // closed by CloseAudio
	closeOne sync.Once
	done     chan struct{}

	connMu sync.Mutex
	conn   *websocket.Conn
}

// Start dials in the background and returns at once.
func Start(o Options) *Recognizer {
	fb := o.Format.Rate / 50 * 2 * o.Format.Channels
	s := &Recognizer{o: o, frameBytes: fb,
		ring:    ringbuffer.New(max(o.RingFrames, 4) * fb),
		discard: make([]byte, fb),
		finish:  make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s
}

// FrameBytes is the size of the 20 ms frames Write takes.
func (s *Recognizer) FrameBytes() int { return s.frameBytes }

// Write queues one 20 ms frame, copied; when the recognizer has fallen
// behind, the oldest frames make room. Never blocks on the network.
func (s *Recognizer) Write(frame []byte) {
	if s.dead.Load() || len(frame) != s.frameBytes {
		return
	}
	var n uint64
	for s.ring.Free() < len(frame) {
		if got, _ := s.ring.Read(s.discard); got == 0 {
			break
		}
		n++
	}
	s.drop(n)
	s.position.Add(1)
	s.ring.Write(frame)
}

// Lost counts frames of the call that never reached Write because the
// recognizer's reader fell behind; from Write's goroutine.
func (s *Recognizer) Lost(frames uint64) {
	s.position.Add(frames)
	s.drop(frames)
}

func (s *Recognizer) drop(frames uint64) {
	if frames == 0 {
		return
	}
	total := s.dropped.Add(frames)
	if !s.told {
		s.told = true
		s.o.Dropped(total)
	}
}

// Dropped counts the frames dropped because the recognizer fell behind.
func (s *Recognizer) Dropped() uint64 { return s.dropped.Load() }

// CloseAudio says no more audio will come: what is held is sent, then the
// vendor's finish message. Non-blocking.
func (s *Recognizer) CloseAudio() { s.closeOne.Do(func() { close(s.finish) }) }

// Wait gives the recognizer until timeout to send its last results and
// close, then closes the connection itself; it returns once every goroutine
// of the recognizer has returned.
func (s *Recognizer) Wait(timeout time.Duration) {
	s.CloseAudio()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.done:
		return
	case <-t.C:
	}
	s.Abort()
	<-s.done
}

// Abort ends the connection now.
func (s *Recognizer) Abort() {
	s.cancel()
	s.closeConn()
}

func (s *Recognizer) closeConn() {
	s.connMu.Lock()
	if s.conn != nil {
		s.conn.UnderlyingConn().Close()
	}
	s.connMu.Unlock()
}

// run keeps a connection to the recognizer until the audio is done, redialling
// a lost one when reconnect allows.
func (s *Recognizer) run() {
	defer close(s.done)
	defer s.cancel()
	defer s.dead.Store(true)
	defer func() {
		// The listen goes on without its recognizer, and says why if it can.
		if r := recover(); r != nil {
			defer func() { _ = recover() }()
			s.o.Failed(fmt.Errorf("internal error: %v", r))
		}
	}()
	failures := 0 // since the last stable connection
	for {
		began := time.Now()
		err := s.connection()
		if err == nil || s.ctx.Err() != nil {
			return
		}
		s.o.Failed(err)
		if time.Since(began) >= s.o.Reconnect.Stable {
			failures = 0
		}
		failures++
		if failures > s.o.Reconnect.Attempts || s.finishing() {
			return
		}
		select {
		case <-time.After(s.o.Reconnect.Delay(failures)):
		case <-s.finish:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Recognizer) finishing() bool {
	select {
	case <-s.finish:
		return true
	default:
		return false
	}
}

// connection dials, sends and reads until the recognizer is done (nil) or
// the connection is lost (why). A panic in either of its goroutines is a
// lost connection: the listen goes on.
func (s *Recognizer) connection() (lost error) {
	var loss lossOnce
	var readDone chan struct{}
	defer func() {
		if r := recover(); r != nil {
			loss.set(fmt.Errorf("internal error sending: %v", r))
			s.closeConn()
		}
		if readDone != nil {
			<-readDone // the reader is joined whatever happens
		}
		if lost == nil {
			lost = loss.err
		}
	}()
	url, header := s.o.Vendor.Endpoint()
	conn, err := s.o.Dial(s.ctx, url, header)
	if err != nil {
		return err
	}
	conn.SetReadLimit(MaxMessage)
	s.connMu.Lock()
	s.conn = conn
	aborted := s.ctx.Err() != nil
	s.connMu.Unlock()
	defer conn.Close()
	if aborted {
		return nil
	}
	// The vendor's times count from this connection's first frame: the
	// oldest still in the ring (to a frame, as Write may be adding one).
	baseMs := (int64(s.position.Load()) - int64(s.ring.Length()/s.frameBytes)) * 20
	readDone = make(chan struct{})
	var finished atomic.Bool
	go func() {
		defer close(readDone)
		defer func() {
			if r := recover(); r != nil {
				loss.set(fmt.Errorf("internal error reading: %v", r))
				s.closeConn()
			}
		}()
		s.read(conn, baseMs, &finished, &loss)
	}()
	if err := s.send(conn, readDone, &finished); err != nil {
		loss.set(fmt.Errorf("sending to the recognizer: %v", err))
		conn.UnderlyingConn().Close()
	}
	<-readDone // the recognizer's last results, until it closes or Wait gives up
	return nil
}

// lossOnce keeps the first reason a connection was lost: the reader and the
// sender may both see it.
type lossOnce struct {
	once sync.Once
	err  error
}

func (l *lossOnce) set(err error) { l.once.Do(func() { l.err = err }) }

// send writes the start frame, the audio as it comes, keepalives in pauses,
// and at the end the rest of the audio and the finish frame.
func (s *Recognizer) send(conn *websocket.Conn, readDone <-chan struct{}, finished *atomic.Bool) error {
	if start := s.o.Vendor.Start(); start != nil {
		if err := conn.WriteMessage(websocket.TextMessage, start); err != nil {
			return err
		}
	}
	buf := make([]byte, s.frameBytes)
	last := time.Now()
	// A vendor without keepalives costs no timer.
	keepAlive := s.o.Vendor.KeepAlive()
	var tick <-chan time.Time
	if keepAlive != nil {
		t := time.NewTicker(KeepAliveEvery / 3)
		defer t.Stop()
		tick = t.C
	}
	drain := func() error {
		for {
			n, _ := s.ring.Read(buf)
			if n == 0 {
				return nil
			}
			if err := conn.WriteMessage(websocket.BinaryMessage, buf[:n]); err != nil {
				return err
			}
			last = time.Now()
		}
	}
	for {
		if err := drain(); err != nil {
			return err
		}
		select {
		case <-s.ring.Notify():
		case <-tick:
			if time.Since(last) >= KeepAliveEvery {
				if err := conn.WriteMessage(websocket.TextMessage, keepAlive); err != nil {
					return err
				}
				last = time.Now()
			}
		case <-s.finish:
			if err := drain(); err != nil {
				return err
			}
			finished.Store(true)
			return conn.WriteMessage(websocket.TextMessage, s.o.Vendor.Finish())
		case <-readDone:
			return nil
		case <-s.ctx.Done():
			return nil
		}
	}
}

// read turns the recognizer's messages into transcripts until it closes;
// baseMs is where the connection's audio starts in the call.
func (s *Recognizer) read(conn *websocket.Conn, baseMs int64, finished *atomic.Bool, loss *lossOnce) {
	for {
		kind, msg, err := conn.ReadMessage()
		if err != nil {
			// After the finish frame, the recognizer ending the connection
			// is the expected end, unless it says it failed.
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce) && (ce.Code != websocket.CloseNormalClosure || !finished.Load()):
				loss.set(fmt.Errorf("the recognizer closed the connection: %d %s", ce.Code, peertext.Show(ce.Text)))
			case !finished.Load():
				loss.set(fmt.Errorf("the recognizer's connection was lost: %v", err))
			}
			return
		}
		if kind != websocket.TextMessage {
			continue
		}
		ts, perr := s.o.Vendor.Parse(msg)
		if perr != nil {
			s.o.Failed(perr)
			continue
		}
		for _, t := range ts {
			if t.StartMs >= 0 {
				t.StartMs += baseMs
			}
			s.o.Transcript(t)
		}
	}
}
