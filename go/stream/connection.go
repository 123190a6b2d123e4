package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/wsdial"
)

// replayFrames: after a dropped socket, this many of the last frames are sent
// again, because the ones written just before the drop was noticed may never
// have reached the server. The resumption frame's startMs lets the server
// drop what it already has.
const replayFrames = 5

// stream is the writer: the only goroutine that writes to the socket. It
// dials, streams, and, when reconnect is on, redials a dropped socket.
func (s *Stream) stream() {
	if s.cfg.PlayBeep && s.player != nil {
		s.player.Beep(Beep(s.o.CodecRate))
		s.servicePlayback()
	}
	var lost *outage // the drop being redialled, if any
	redials := 0     // since the last stable connection
	for {
		conn, err := s.dial()
		if err != nil {
			if lost == nil {
				// The listen ends first: a stop that came while dialling
				// has won, and then the stop event alone says why.
				s.end(ReasonConnectFailed, err.Error())
			}
			if s.isEnded() && s.outcome.Reason != ReasonConnectFailed {
				return
			}
			s.log(3, "connect failed: "+err.Error())
			s.event("connect_failed", map[string]any{"url": s.shownURL, "error": err.Error()})
			if lost == nil {
				return
			}
			if !s.redial(&redials) {
				s.end(ReasonConnectionLost, err.Error())
				return
			}
			continue
		}
		connected := time.Now()
		err = s.session(conn, lost)
		conn.Close()
		if err == nil {
			return
		}
		lost = &outage{at: time.Now(), dropped: s.media.Dropped()}
		// A connection that failed soon after the upgrade is one more
		// failure: a server that accepts and drops is not redialled forever.
		if lost.at.Sub(connected) >= s.cfg.Reconnect.Stable {
			redials = 0
		}
		if s.isEnded() || !s.redial(&redials) {
			s.end(ReasonConnectionLost, err.Error())
			return
		}
		s.event("reconnecting", map[string]any{"error": err.Error(), "attempt": redials})
	}
}

// outage is where a dropped connection left the stream.
type outage struct {
	at      time.Time
	dropped uint64 // the rings' drop count then
}

func (s *Stream) dial() (*wsdial.Conn, error) {
	if !s.cfg.TLS.Verify && s.cfg.URL[:4] == "wss:" {
		s.log(4, "TLS certificate verification is OFF for "+s.shownURL)
	}
	// Ending the listen abandons the dial: a hangup must not wait out the
	// connect timeout.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.ended:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := wsdial.Dial(ctx, wsdial.Options{
		URL: s.cfg.URL, Username: s.cfg.Username, Password: s.cfg.Password,
		Subprotocols: s.cfg.Subprotocols, Timeout: s.o.Settings.ConnectTimeout,
		TLS: s.cfg.TLS, Header: s.cfg.Headers,
		SendBuffer:   max(16<<10, s.cfg.SampleRate*2*s.frame.channels),
		PingInterval: s.cfg.PingInterval,
	})
	if err == nil {
		if err = conn.Unblock(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, err
}

// redial counts one more redial and waits its backoff; false when the
// listen must give up instead: its attempts are spent, or it has ended.
func (s *Stream) redial(n *int) bool {
	*n++
	return *n <= s.cfg.Reconnect.Attempts && s.sleep(s.cfg.Reconnect.Delay(*n))
}

// sleep waits d unless the listen ends meanwhile.
func (s *Stream) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-s.ended:
		return false
	}
}

// resumption describes, in the first frame of a new connection, what the
// server missed: where the audio that follows starts in the stream, and how
// much of the outage was kept or lost. It is taken once the new connection
// is up, so audio dropped while redialling is counted too.
func (s *Stream) resumption(out *outage) *protocol.Object {
	o, _ := protocol.ParseObject(nil)
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		o.Set(k, b)
	}
	lostFrames := s.media.Dropped() - out.dropped
	outageMs := time.Since(out.at).Milliseconds()
	s.reconnects++
	set("resumed", true)
	set("reconnects", s.reconnects)
	set("startMs", s.replayStart()*20)
	set("lostMs", lostFrames*20)
	set("bufferedMs", max(outageMs-int64(lostFrames)*20, 0))
	return o
}

// session streams on one connection until the listen ends (nil) or the
// socket is lost while redialling is allowed (the error). After an outage
// the first frame says what the server missed.
func (s *Stream) session(conn *wsdial.Conn, after *outage) error {
	var resume *protocol.Object
	if after != nil {
		resume = s.resumption(after)
	}
	s.conn.Store(conn)
	if d := s.deadline.Load(); d != 0 {
		conn.SetFlushDeadline(time.Unix(0, d))
	}
	lost := make(chan error, 1) // this connection's reader reports its loss here
	opening, err := s.wf.opening(resume)
	for _, frame := range opening {
		if err != nil {
			break
		}
		err = s.send(conn, websocket.TextMessage, frame)
	}
	if err == nil && resume != nil {
		err = s.resend(conn)
	}
	if err == nil {
		err = s.flush(conn)
	}
	if err != nil {
		return s.failed(err)
	}
	s.state.Store(stateStreaming)
	s.event("connect", map[string]any{"url": s.shownURL, "subprotocol": conn.Subprotocol(),
		"resumed": resume != nil})
	readDone := make(chan struct{})
	s.workers.Add(1)
	go s.read(conn.Conn, readDone, lost)

	s.setLive(conn)
	defer s.setLive(nil)
	for !s.isEnded() {
		select {
		case <-s.wake:
		case <-s.ended:
		case err := <-lost:
			return err
		}
		if err := s.writerPump(conn); err != nil {
			if err := s.failed(err); err != nil {
				return err
			}
			return nil
		}
	}
	s.setLive(nil)
	s.state.Store(stateClosing)
	s.pumpMu.Lock()
	err = s.pump(conn, true)
	s.pumpMu.Unlock()
	if last := s.wf.closing(); err == nil && last != nil {
		if err = s.send(conn, websocket.TextMessage, last); err == nil {
			err = s.flush(conn)
		}
	}
	if err == nil {
		s.closeSocket(conn, readDone)
	}
	return nil
}

// setLive lets the pacer pump on conn (nil: no more), once a pump it is
// running has returned.
func (s *Stream) setLive(conn *wsdial.Conn) {
	s.pumpMu.Lock()
	s.live, s.liveErr = conn, nil
	s.pumpMu.Unlock()
}

// writerPump pumps as the writer, first taking up a write error the pacer met.
func (s *Stream) writerPump(conn *wsdial.Conn) error {
	s.pumpMu.Lock()
	defer s.pumpMu.Unlock()
	if err := s.liveErr; err != nil {
		return err
	}
	return s.pump(conn, false)
}

// failed handles a write error: the socket is lost, to be redialled if
// reconnect is on (the error is returned), or the listen ends (nil).
func (s *Stream) failed(err error) error {
	if s.cfg.Reconnect.Attempts > 0 && !s.isEnded() {
		return err
	}
	s.end(ReasonConnectionLost, err.Error())
	return nil
}

// dropped is how the reader reports a lost socket: redialled when reconnect
// is on and the listen goes on, the end of the listen otherwise.
func (s *Stream) dropped(lost chan<- error, err error) {
	if s.cfg.Reconnect.Attempts > 0 && !s.isEnded() {
		select {
		case lost <- err:
		default:
		}
		return
	}
	s.end(ReasonConnectionLost, err.Error())
}

// remember keeps a copy of a sent frame for a resumption.
func (s *Stream) remember(frame []byte) {
	if s.cfg.Reconnect.Attempts == 0 {
		return
	}
	if s.replay == nil {
		s.replay = make([][]byte, replayFrames)
	}
	slot := &s.replay[s.wireFrames%replayFrames]
	*slot = append((*slot)[:0], frame...)
}

// replayStart is the index of the oldest frame kept for a resumption.
func (s *Stream) replayStart() int64 {
	return max(int64(s.wireFrames)-replayFrames, 0)
}

func (s *Stream) resend(conn *wsdial.Conn) error {
	for i := s.replayStart(); i < int64(s.wireFrames); i++ {
		if err := s.sendAudio(conn, uint64(i), s.replay[i%replayFrames]); err != nil {
			return fmt.Errorf("resending: %w", err)
		}
	}
	return nil
}
