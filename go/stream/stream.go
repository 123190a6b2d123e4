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
	"github.com/modlisten/mod_listen/go/budget"
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/histogram"
	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/outbox"
	"github.com/modlisten/mod_listen/go/playback"
	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/redact"
	"github.com/modlisten/mod_listen/go/throttle"
	"github.com/modlisten/mod_listen/go/wsdial"
)

// Media is the engine's side of one stream's rings in host memory.
type Media interface {
	// DrainRead copies whole captured frames of the caller into dst and
	// returns the samples copied and the push time (ns) of the oldest.
	DrainRead(dst []int16) (int, int64)
	DrainWrite(dst []int16) (int, int64)
	// PeekRead and PeekWrite copy the whole captured frames that came since
	// the last call, without taking them, for a second reader at its own
	// pace (the recognizer; a listen with a transcribe has one). lost counts
	// frames refilled before they could be copied.
	PeekRead(dst []int16) (n int, lost uint64)
	PeekWrite(dst []int16) (n int, lost uint64)
	PopDTMF() (digit byte, duration uint32, ok bool)
	// KeepAhead makes the capture rings' memory resident a little ahead of
	// their backlog, so the host's pushes do not fault pages in while
	// audio piles up. Called every wake; cheap when there is nothing to do.
	KeepAhead()
	// Captured counts the caller's 20 ms frames pushed so far, dropped
	// ones included: the listen's media time, whatever the socket does.
	Captured() uint64
	// SilentRun counts the caller's frames since the last loud one (see
	// pcm.SilenceLimit); only meaningful when the listen has a timeout.
	SilentRun() uint64
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
	Config   *config.Listen
	Settings config.Settings
	Call     *protocol.Object
	// CodecRate is the host's rate; Media frames are 20 ms of it.
	CodecRate int
	Stats     *Stats
	// Budget is the engine-wide memory for server data (nil: no bound).
	Budget *budget.Budget
	// Finished, if set, is called last, once the stream is done with the
	// host's memory (a callback, not a goroutine waiting on Done).
	Finished func()
	// Wire reports every frame sent and received as a "wire" event (see
	// wire.go): a debugging aid, off in production.
	Wire bool
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

	secrets  []string // hidden in "wire" events (Options.Wire)
	shownURL string   // the URL with its password and query hidden, for status and events

	// The connection in progress: read by the control calls (Stop) without
	// a lock, since closing a socket can block (a TLS close writes an
	// alert) and a stop must not wait for it.
	conn     atomic.Pointer[wsdial.Conn]
	deadline atomic.Int64 // unix ns by which an ending stream must have sent everything
	writing  atomic.Int64 // unix ns the flush in progress began; 0 when none

	// pumpMu makes one goroutine at a time the pump: the writer, or the
	// pacer pumping inline while the writer waits.
	pumpMu  sync.Mutex
	live    *wsdial.Conn // the connection the writer streams on, between its pumps
	liveErr error        // a write error met inline, for the writer

	// workers are the goroutines other than run that may touch the host's
	// memory (the readers). The stream tells the host it is done with that
	// memory only after they have all returned.
	workers sync.WaitGroup
	cutMs   atomic.Int64 // media time at which a rule ended the listen; 0 until then

	wf       wireFormat
	out      *outbox.Outbox
	peer     *throttle.Throttle // events and warnings the server causes
	refusals refusalCount

	state      atomic.Int32
	framesSent atomic.Uint64
	mediaMs    atomic.Int64
	overrun    bool // reported already; pacer goroutine only

	// The pump's (under pumpMu, or the writer's outside its streaming loop).
	frame   *framer
	scratch []int16
	limited bool // the audio up to the listen's end is framed: no more is
	notices []playback.Notice
	// What was played when the caller's audio last came with audio waiting
	// to play, and how much of the caller's audio has come since.
	lastPlayed   uint64
	unplayedRead int

	// Reconnect state.
	replay     [][]byte
	wireFrames uint64 // audio frames produced, each sent at least once
	reconnects int

	streamIn *streamInput // streamed playback, when on
	stt      *transcriber // the nested transcribe, when asked for
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
	wf, err := newWireFormat(o.Config, o.Call)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		o: o, cfg: o.Config, media: media, host: host, frame: f, wf: wf,
		wake:  make(chan struct{}, 1),
		ended: make(chan struct{}), done: make(chan struct{}),
		out: outbox.New(outboxBytes, outboxErrors, wf.refusals()),
	}
	s.peer = throttle.New(max(o.Settings.MaxEventsPerSecond, 1), time.Second, s.suppressed)
	s.shownURL = redact.URL(o.Config.URL)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if o.Wire {
		s.secrets = listenSecrets(o.Config.URL, o.Config.Password, o.Config.Headers)
	}
	if ring := media.Play(); ring != nil {
		s.player = playback.New(ring, o.CodecRate, o.Settings.MaxQueuedClips, o.Config.JitterMs)
		if o.Stats != nil {
			s.player.Latency = &o.Stats.Play
		}
		s.player.MaxQueuedSamples = int(o.Settings.MaxQueuedSeconds * float64(o.CodecRate))
		s.player.MaxQueuedMarks = o.Settings.MaxQueuedMarks
		s.player.Budget = o.Budget
	}
	if s.cfg.Streaming && s.player != nil {
		from := s.cfg.StreamingRate
		if s.cfg.StreamingEncoding == config.OpusCode {
			from = opus.DecodeRate(o.CodecRate)
		}
		s.streamIn, err = newStreamInput(from, o.CodecRate, func(samples []int16) {
			if err := s.player.Stream(samples, time.Now()); err != nil {
				s.refuseErr(err)
				return
			}
			s.signal()
		}, s.guard)
		if err != nil {
			return nil, err
		}
		if s.cfg.StreamingEncoding == config.OpusCode {
			// Mono: libopus mixes a stereo stream down as it decodes.
			if s.streamIn.dec, err = opus.NewDecoder(from, 1); err != nil {
				return nil, err
			}
		}
	}
	if s.cfg.Transcribe != nil {
		if s.stt, err = newTranscriber(s, s.cfg.Transcribe, o.CodecRate); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Start connects and streams in the background. The stream's first
// callbacks come from here: a stream made by New and never started (a create
// refused at the last moment) has called nobody.
func (s *Stream) Start() {
	for _, k := range s.cfg.IgnoredKeys {
		s.log(5, fmt.Sprintf("%q is handled by the application, not by the stream; ignored", k))
	}
	if s.stt != nil {
		s.stt.start()
	}
	go s.run()
}

// Done is closed after the stop event, when the stream is finished with the
// host's memory.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Wake tells the stream its rings have news. Non-blocking; called by the
// engine's pacing goroutine only. The listen's rules are applied here, not
// in the writer, so that a server that stops reading cannot suspend them.
// With inline the pacer has time to send the news itself (see pumpInline).
func (s *Stream) Wake(inline bool) {
	defer s.guard("wake")
	if s.media.TakeOverrun() && !s.overrun {
		s.overrun = true
		s.event("buffer_overrun", map[string]any{"framesDropped": s.media.Dropped(),
			"bufferSeconds": s.o.Settings.BufferSeconds})
		s.log(4, "the server is not keeping up: dropping the oldest audio")
	}
	s.media.KeepAhead()
	s.applyRules()
	if s.stt != nil {
		s.stt.pull(false)
	}
	if !inline || !s.pumpInline() {
		s.signal()
	}
}

// signal wakes the writer.
func (s *Stream) signal() {
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
	if s.stt != nil {
		s.stt.abort()
	}
	if c := s.conn.Load(); c != nil {
		c.UnderlyingConn().Close()
	}
}

// send writes one message. It never blocks: what the socket cannot take now
// waits in the connection's queue for flush.
func (s *Stream) send(conn *wsdial.Conn, kind int, data []byte) error {
	err := conn.WriteMessage(kind, data)
	if err == nil {
		s.wire("out", kind, data)
	}
	return err
}

// flush waits until the socket has taken what send queued, up to the flush
// deadline once the listen is ending. The writer's goroutine only.
func (s *Stream) flush(conn *wsdial.Conn) error {
	if conn.Queued() == 0 {
		return nil
	}
	s.writing.Store(time.Now().UnixNano())
	defer s.writing.Store(0)
	return conn.Flush()
}

// SendText queues a text frame for the server, behind the audio already
// captured; outbox.ErrFull when a server that does not read has left no room.
func (s *Stream) SendText(frame []byte) error {
	if err := s.out.Put(frame); err != nil {
		return err
	}
	s.signal()
	return nil
}

// Status is the stream as listen_status reports it. The keys are in sorted
// order, as they have always been in the JSON.
type Status struct {
	Encoding      string `json:"encoding"`
	FramesDropped uint64 `json:"framesDropped"`
	FramesSent    uint64 `json:"framesSent"`
	// Handle is set by the engine in its listing of every stream.
	Handle        uint64            `json:"handle,omitempty"`
	MixType       string            `json:"mixType"`
	Protocol      string            `json:"protocol"`
	SampleRate    int               `json:"sampleRate"`
	SamplesPlayed *uint64           `json:"samplesPlayed,omitempty"` // with a playback ring only
	Seconds       float64           `json:"seconds"`
	State         string            `json:"state"`
	Transcribe    *TranscribeStatus `json:"transcribe,omitempty"`
	URL           string            `json:"url"` // its password and query hidden
}

// TranscribeStatus is the nested transcribe in a Status.
type TranscribeStatus struct {
	FramesDropped uint64 `json:"framesDropped"`
	Vendor        string `json:"vendor"`
}

// Status describes the stream for listen_status. A struct, not a map: the
// status of a thousand streams is asked for at once.
func (s *Stream) Status() Status {
	st := Status{
		URL:           s.shownURL,
		State:         stateNames[s.state.Load()],
		Seconds:       float64(s.mediaMs.Load()) / 1000,
		FramesSent:    s.framesSent.Load(),
		FramesDropped: s.media.Dropped(),
		MixType:       s.cfg.MixType,
		SampleRate:    s.cfg.SampleRate,
		Protocol:      s.cfg.Protocol,
		Encoding:      s.cfg.Encoding,
	}
	if s.media.Play() != nil {
		played := s.media.Played()
		st.SamplesPlayed = &played
	}
	if s.stt != nil {
		st.Transcribe = &TranscribeStatus{Vendor: s.stt.vendor, FramesDropped: s.stt.rec.Dropped()}
	}
	return st
}

// Counts are what the stream has counted so far, without the allocations
// of Status: its state, audio frames sent, and frames dropped.
func (s *Stream) Counts() (state string, sent, dropped uint64) {
	return stateNames[s.state.Load()], s.framesSent.Load(), s.media.Dropped()
}

// stalledAfter: a socket write that has not returned for this long has met
// a full send buffer (a second of audio or more) that the server is not
// reading.
const stalledAfter = 50 * time.Millisecond

// end records the first reason the listen ends for, and gives the writer
// flushTimeout to send what it holds.
func (s *Stream) end(reason, errText string) {
	s.endWith(Outcome{Reason: reason, Error: errText})
}

func (s *Stream) endWith(o Outcome) {
	s.endOnce.Do(func() {
		s.outcome = o
		close(s.ended)
	})
	// A writer stuck on a server that does not read must give up in time,
	// and at once if it is stuck already: what it holds would never arrive,
	// and waiting would hold the call.
	now := time.Now()
	flush := s.o.Settings.FlushTimeout
	if w := s.writing.Load(); w != 0 && now.Sub(time.Unix(0, w)) > stalledAfter {
		flush = 0
	}
	s.deadline.CompareAndSwap(0, now.Add(flush).UnixNano())
	if c := s.conn.Load(); c != nil {
		// A flush blocked now gives up too. A connection stored after this
		// load reads the deadline itself (session).
		c.SetFlushDeadline(time.Unix(0, s.deadline.Load()))
	}
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
	// The listen has ended: the recognizer takes the last of the audio and
	// finishes while the listen's socket closes.
	if s.stt != nil {
		s.stt.pull(true)
	}
	// Whatever way stream returned, the socket is closed so that its reader
	// returns, and the host's memory is let go only after that.
	if c := s.conn.Load(); c != nil {
		c.Close()
	}
	s.workers.Wait()
	if s.streamIn != nil {
		s.streamIn.close()
	}
}

func (s *Stream) closeSocket(conn *wsdial.Conn, readDone chan struct{}) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		return
	}
	conn.SetFlushDeadline(time.Now().Add(time.Second))
	if err := s.flush(conn); err != nil {
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
	s.outcome.DurationMs = s.durationMs()
	if s.stt != nil {
		// Its last final belongs in the actionHook, and its goroutines send
		// events: both before the stop event.
		func() {
			defer s.guard("transcription")
			s.stt.wait()
		}()
	}
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
	s.peer.Close()
	if s.player != nil {
		s.player.Close()
	}
	s.event("stop", body)
	s.cancel()
	close(s.done)
	if s.o.Finished != nil {
		s.o.Finished()
	}
}

// durationMs is the listen's length in media time: up to where a rule ended
// it, or all the audio captured, sent or not (a stalled server does not
// shorten a call).
func (s *Stream) durationMs() int64 {
	if cut := s.cutMs.Load(); cut > 0 {
		return cut
	}
	return max(s.mediaMs.Load(), int64(s.media.Captured())*20)
}

// callAttributes is a copy of the call's attributes, the start of every hook's body.
func (s *Stream) callAttributes() *protocol.Object {
	if s.o.Call != nil {
		return s.o.Call.Clone()
	}
	body, _ := protocol.ParseObject(nil)
	return body
}

// callHook posts the outcome to the actionHook, if there is one, and tells
// the host what came of it.
func (s *Stream) callHook() {
	h := s.cfg.ActionHook
	if h == nil {
		return
	}
	body := s.callAttributes()
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
	if s.stt != nil {
		utterances, truncated := s.stt.transcript()
		set("transcript", utterances)
		if truncated {
			set("transcriptTruncated", true)
		}
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
