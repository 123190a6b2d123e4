// Package stream is one listen: it connects to the server, sends the first
// frame, turns the host's captured audio into 20 ms binary frames at the
// requested rate and mix, acts on what the server sends back, and decides
// when and why the listen ends.
package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/actionhook"
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/histogram"
	"github.com/modlisten/mod_listen/go/playback"
	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/redact"
)

// Media is the engine's side of one stream's rings in host memory.
type Media interface {
	// DrainRead copies whole captured frames of the caller into dst and
	// returns the samples copied and the push time (ns) of the oldest.
	DrainRead(dst []int16) (int, int64)
	DrainWrite(dst []int16) (int, int64)
	PopDTMF() (digit byte, duration uint32, ok bool)
	Dropped() uint64
	// TakeOverrun reports whether audio was dropped since the last call.
	TakeOverrun() bool
	// Now is the clock of the capture stamps, in ns.
	Now() int64
	// End makes the host's pushes no-ops: nobody will drain them any more.
	End()
	// Play is the playback ring, or nil when the stream has none.
	Play() playback.Ring
	// Played counts the samples of server audio the host has played (a
	// killAudio's skipped samples excluded).
	Played() uint64
}

// Host receives the stream's events and log lines, from any goroutine.
type Host interface {
	Event(name string, body []byte)
	Log(level int, line string)
}

// Reasons a listen ends.
const (
	ReasonHangup         = "hangup"
	ReasonStop           = "stop"
	ReasonDisconnect     = "disconnect"
	ReasonServerClosed   = "server_closed"
	ReasonConnectionLost = "connection_lost"
	ReasonConnectFailed  = "connect_failed"
	ReasonServerError    = "server_error"
	ReasonFinishOnKey    = "finishOnKey"
	ReasonMaxLength      = "maxLength"
	ReasonTimeout        = "timeout"
	ReasonError          = "error"
	ReasonShutdown       = "shutdown"
)

// States reported in status.
const (
	stateConnecting int32 = iota
	stateStreaming
	stateClosing
	stateEnded
)

var stateNames = [...]string{"connecting", "streaming", "closing", "ended"}

// Options describe one stream.
type Options struct {
	Config    *config.Listen
	Settings  config.Settings
	Call      *protocol.Object
	CodecRate int
	Stats     *Stats
	// Finished, if set, is called last, once the stream is done with the
	// host's memory (a callback, not a goroutine waiting on Done).
	Finished func()
}

// Stats are figures shared by all streams, for benchmarks and status.
type Stats struct {
	Send histogram.Histogram // captured frame pushed -> written to the socket
	Play histogram.Histogram // streamed audio received -> first sample played
}

// Outcome is how a listen ended.
type Outcome struct {
	Reason     string
	Error      string
	Digits     string
	DurationMs int64
}

// Stream is one listen in progress.
type Stream struct {
	o      Options
	cfg    *config.Listen
	media  Media
	host   Host
	player *playback.Player
	ctx    context.Context
	cancel context.CancelFunc

	wake    chan struct{}
	endOnce sync.Once
	ended   chan struct{}
	outcome Outcome // written once, under endOnce
	done    chan struct{}

	connMu   sync.Mutex
	conn     *websocket.Conn
	deadline atomic.Int64 // unix ns by which an ending stream must have sent everything

	outMu  sync.Mutex
	outbox [][]byte

	state      atomic.Int32
	framesSent atomic.Uint64
	mediaMs    atomic.Int64
	overrun    bool // reported already; ticker goroutine only

	// Writer goroutine only.
	frame    *framer
	scratch  []int16
	limited  bool // an ending condition met: no more audio is framed
	silentMs int64
	notices  []playback.Notice
	// What was played when the caller's audio last came with audio waiting
	// to play, and how much of the caller's audio has come since.
	lastPlayed   uint64
	unplayedRead int

	// Reconnect state.
	replay     [][]byte
	wireFrames uint64 // audio frames produced, each sent at least once
	reconnects int

	streamIn *streamInput // streamed playback, when on
}

// New validates the pairing of config and call and prepares the stream. It
// does not touch the network; Start does.
func New(o Options, media Media, host Host) (*Stream, error) {
	if err := config.CheckCodecRate(o.CodecRate); err != nil {
		return nil, err
	}
	f, err := newFramer(o.Config, o.CodecRate)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		o: o, cfg: o.Config, media: media, host: host, frame: f,
		wake:  make(chan struct{}, 1),
		ended: make(chan struct{}), done: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if ring := media.Play(); ring != nil {
		s.player = playback.New(ring, o.CodecRate, o.Settings.MaxQueuedClips, o.Config.JitterMs)
		if o.Stats != nil {
			s.player.Latency = &o.Stats.Play
		}
		s.player.MaxQueuedSamples = int(o.Settings.MaxQueuedSeconds * float64(o.CodecRate))
	}
	if s.cfg.Streaming && s.player != nil {
		s.streamIn, err = newStreamInput(s.cfg.StreamingRate, o.CodecRate, func(samples []int16) {
			if err := s.player.Stream(samples, time.Now()); err != nil {
				s.refuse(err.Error())
				return
			}
			s.Wake()
		}, s.guard)
		if err != nil {
			return nil, err
		}
	}
	for _, k := range s.cfg.IgnoredKeys {
		s.log(5, fmt.Sprintf("%q is handled by the application, not by the stream; ignored", k))
	}
	return s, nil
}

// Start connects and streams in the background.
func (s *Stream) Start() { go s.run() }

// Done is closed after the stop event, when the stream is finished with the
// host's memory.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Wake tells the stream its rings have news. Non-blocking; called by the
// engine's pacing goroutine.
func (s *Stream) Wake() {
	defer s.guard("wake")
	if s.media.TakeOverrun() && !s.overrun {
		s.overrun = true
		s.event("buffer_overrun", map[string]any{"framesDropped": s.media.Dropped(),
			"bufferSeconds": s.o.Settings.BufferSeconds})
		s.log(4, "the server is not keeping up: dropping the oldest audio")
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stop asks the stream to end: what was captured is still sent.
func (s *Stream) Stop(reason string) {
	s.end(reason, "")
}

// Abort ends the stream without waiting for the network (engine shutdown).
func (s *Stream) Abort() {
	s.Stop(ReasonShutdown)
	s.cancel()
	s.connMu.Lock()
	if s.conn != nil {
		s.conn.UnderlyingConn().Close()
	}
	s.connMu.Unlock()
}

// send writes one message, within the flush deadline once the stream is
// ending. Writer goroutine only.
func (s *Stream) send(conn *websocket.Conn, kind int, data []byte) error {
	if d := s.deadline.Load(); d != 0 {
		conn.SetWriteDeadline(time.Unix(0, d))
	}
	return conn.WriteMessage(kind, data)
}

// SendText queues a text frame for the server, behind the audio already captured.
func (s *Stream) SendText(frame []byte) {
	s.outMu.Lock()
	s.outbox = append(s.outbox, frame)
	s.outMu.Unlock()
	s.Wake()
}

// Status describes the stream for listen_status.
func (s *Stream) Status() map[string]any {
	st := map[string]any{
		"url":           redact.URL(s.cfg.URL),
		"state":         stateNames[s.state.Load()],
		"seconds":       float64(s.mediaMs.Load()) / 1000,
		"framesSent":    s.framesSent.Load(),
		"framesDropped": s.media.Dropped(),
		"mixType":       s.cfg.MixType,
		"sampleRate":    s.cfg.SampleRate,
	}
	if s.media.Play() != nil {
		st["samplesPlayed"] = s.media.Played()
	}
	return st
}

// end records the first reason the listen ends for, and gives the writer
// flushTimeout to send what it holds.
func (s *Stream) end(reason, errText string) {
	s.endOnce.Do(func() {
		s.outcome.Reason, s.outcome.Error = reason, errText
		close(s.ended)
	})
	// A writer stuck on a server that does not read must give up in time.
	s.deadline.CompareAndSwap(0, time.Now().Add(s.o.Settings.FlushTimeout).UnixNano())
	s.connMu.Lock()
	if s.conn != nil {
		// gorilla applies a deadline at its next write; the socket's own
		// deadline also breaks a write that is blocked now.
		s.conn.UnderlyingConn().SetWriteDeadline(time.Unix(0, s.deadline.Load()))
	}
	s.connMu.Unlock()
}

func (s *Stream) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

func (s *Stream) event(name string, body map[string]any) {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{}`)
	}
	s.host.Event(name, b)
}

func (s *Stream) log(level int, line string) {
	if level <= s.o.Settings.LogLevel {
		s.host.Log(level, line)
	}
}

// guard turns a panic in one of the stream's goroutines into the end of this
// stream alone: an error event, then the normal ending.
func (s *Stream) guard(where string) {
	if r := recover(); r != nil {
		text := fmt.Sprintf("internal error in %s: %v", where, r)
		s.log(3, text+"\n"+string(debug.Stack()))
		s.event("error", map[string]any{"error": text})
		s.end(ReasonError, text)
	}
}

func (s *Stream) run() {
	defer func() {
		// The ending itself (hook, stop event, release) must not take the
		// switch down either; by then there is nobody left to tell.
		if r := recover(); r != nil {
			s.host.Log(3, fmt.Sprintf("internal error ending a stream: %v\n%s", r, debug.Stack()))
		}
	}()
	defer s.finish()
	func() {
		defer s.guard("stream")
		s.stream()
	}()
}

func (s *Stream) closeSocket(conn *websocket.Conn, readDone chan struct{}) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		return
	}
	// The server's close reply ends the reader; don't wait for a server that never sends it.
	select {
	case <-readDone:
	case <-time.After(time.Second):
	}
}

// finish runs once the socket is gone: hook, stop event, release.
func (s *Stream) finish() {
	s.end(ReasonError, "stream ended unexpectedly")
	s.state.Store(stateEnded)
	s.media.End()
	s.outcome.DurationMs = s.mediaMs.Load()
	func() {
		defer s.guard("action hook")
		s.callHook()
	}()
	body := map[string]any{
		"reason":        s.outcome.Reason,
		"durationMs":    s.outcome.DurationMs,
		"duration":      float64(s.outcome.DurationMs) / 1000,
		"framesSent":    s.framesSent.Load(),
		"framesDropped": s.media.Dropped(),
	}
	if s.outcome.Digits != "" {
		body["digits"] = s.outcome.Digits
	}
	if s.outcome.Error != "" {
		body["error"] = s.outcome.Error
	}
	if s.media.Play() != nil {
		body["samplesPlayed"] = s.media.Played()
	}
	s.event("stop", body)
	if s.streamIn != nil {
		s.streamIn.close()
	}
	s.cancel()
	close(s.done)
	if s.o.Finished != nil {
		s.o.Finished()
	}
}

// callHook posts the outcome to the actionHook, if there is one, and tells
// the host what came of it.
func (s *Stream) callHook() {
	h := s.cfg.ActionHook
	if h == nil {
		return
	}
	body, _ := protocol.ParseObject(nil)
	if s.o.Call != nil {
		body = s.o.Call.Clone()
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		body.Set(k, b)
	}
	set("reason", s.outcome.Reason)
	set("duration", float64(s.outcome.DurationMs)/1000)
	set("durationMs", s.outcome.DurationMs)
	if s.outcome.Digits != "" {
		set("digits", s.outcome.Digits)
	}
	if s.outcome.Error != "" {
		set("error", s.outcome.Error)
	}
	payload, _ := body.MarshalJSON()
	// Shutdown cancels s.ctx; a plain ending still gets the whole timeout.
	res, err := actionhook.Post(s.ctx, h, payload, s.o.Settings.HookTimeout, s.o.Settings.HookRetries)
	if err != nil {
		s.log(3, err.Error())
		s.event("hook_failed", map[string]any{"url": redact.URL(h.URL), "error": err.Error(), "attempts": res.Attempts})
		return
	}
	s.event("hook_response", map[string]any{"url": redact.URL(h.URL), "status": res.Status, "body": string(res.Body)})
}
