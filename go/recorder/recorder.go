// Package recorder is the call-recording server's logic: it takes listen
// streams (the jambonz protocol), writes each call to one WAV or Ogg/Opus
// file with a JSON sidecar in a date tree, stitches reconnected streams back into their
// file by media time, and completes files left by a crash.
package recorder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sys/unix"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/wavfile"
)

// Options configure a Recorder. Zero values take the defaults.
type Options struct {
	Dir string // the recordings' tree (required)

	// Format is the recordings': FormatWAV (the default) or FormatOgg,
	// Ogg/Opus files for streams at a rate Opus takes (8, 12, 16, 24 or
	// 48 kHz; others are recorded as WAV).
	Format string

	SyncEvery  time.Duration // how often recordings in progress are put on disk (default 1 s)
	ResumeWait time.Duration // how long a dropped stream's file waits for its resumption (default 60 s)

	MaxStreams     int   // live connections at once; more get HTTP 503 (default 1000)
	MaxStreamBytes int64 // audio bytes per recording; the stream is then closed (default and most: a WAV's 4 GiB)
	MinFreeBytes   int64 // free disk below which new streams get HTTP 507 (default 256 MiB; negative: no check)

	// Prompt is a WAV clip sent back as playAudio when a stream starts,
	// when it passes a DTMF digit, or when it sends another text frame,
	// as PromptOn says.
	Prompt   []byte
	PromptOn PromptOn

	Log *log.Logger
}

// PromptOn says which of a stream's moments the prompt answers.
type PromptOn struct{ Start, DTMF, Text bool }

// Close codes the recorder ends streams with.
const (
	CodeUnsupported = websocket.CloseUnsupportedData // 1003: not a listen stream it can record
	CodePolicy      = websocket.ClosePolicyViolation // 1008: the size limit
	CodeGoingAway   = websocket.CloseGoingAway       // 1001: the recorder is shutting down
	CodeInternal    = websocket.CloseInternalServerErr
)

const (
	firstFrameWait = 10 * time.Second
	maxFrameBytes  = 64 << 10 // 20 ms at 384 kHz stereo is 30 KiB; the first frame's JSON is small
)

// Recorder is an http.Handler that records the listen streams it is given.
type Recorder struct {
	opts     Options
	upgrader websocket.Upgrader
	prompt   []byte // the playAudio frame, built once

	live    atomic.Int64 // connections
	connSeq atomic.Int64

	mu       sync.Mutex
	open     map[string]*recording   // by callSid: the recordings a resumption may continue
	all      map[*recording]struct{} // every unfinished recording, for Shutdown
	conns    map[*websocket.Conn]struct{}
	shutdown bool
	wg       sync.WaitGroup

	stopSync chan struct{}
	syncDone chan struct{}
}

// New makes a Recorder; the directory must be locked by the caller (Lock).
func New(o Options) (*Recorder, error) {
	if o.Dir == "" {
		return nil, errors.New("recorder: no directory")
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, err
	}
	switch o.Format {
	case "":
		o.Format = FormatWAV
	case FormatWAV, FormatOgg:
	default:
		return nil, fmt.Errorf("recorder: format %q is not %s or %s", o.Format, FormatWAV, FormatOgg)
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = time.Second
	}
	o.SyncEvery = max(o.SyncEvery, 10*time.Millisecond)
	if o.ResumeWait <= 0 {
		o.ResumeWait = 60 * time.Second
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 1000
	}
	if o.MaxStreamBytes <= 0 || o.MaxStreamBytes > wavfile.MaxDataBytes {
		o.MaxStreamBytes = wavfile.MaxDataBytes
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 256 << 20
	}
	if o.Log == nil {
		o.Log = log.Default()
	}
	r := &Recorder{opts: o, open: map[string]*recording{}, all: map[*recording]struct{}{},
		conns: map[*websocket.Conn]struct{}{}}
	r.upgrader = websocket.Upgrader{
		Subprotocols: []string{"audio.jambonz.org", "audio.drachtio.org"},
		// Listen streams come from switches, not browsers: no Origin to check.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if o.Prompt != nil {
		b, err := json.Marshal(map[string]any{"type": "playAudio", "data": map[string]any{
			"audioContentType": "wav", "audioContent": base64.StdEncoding.EncodeToString(o.Prompt)}})
		if err != nil {
			return nil, err
		}
		r.prompt = b
	}
	r.stopSync, r.syncDone = make(chan struct{}), make(chan struct{})
	go r.syncLoop()
	return r, nil
}

// syncLoop puts the recordings in progress on disk every SyncEvery: each
// one's buffered audio and header go to its file, then one syncfs puts the
// filesystem on disk. One call for all the files costs far less than an
// fsync of each, and the disk's latency never holds up a stream's reads.
func (r *Recorder) syncLoop() {
	defer close(r.syncDone)
	t := time.NewTicker(r.opts.SyncEvery)
	defer t.Stop()
	dir, err := os.Open(r.opts.Dir)
	if err != nil {
		r.opts.Log.Printf("recordings will not be synced: %v", err)
		return
	}
	defer dir.Close()
	var recs []*recording
	for {
		select {
		case <-r.stopSync:
			return
		case <-t.C:
		}
		r.mu.Lock()
		recs = recs[:0]
		for rec := range r.all {
			recs = append(recs, rec)
		}
		r.mu.Unlock()
		if len(recs) == 0 {
			continue
		}
		for _, rec := range recs {
			if err := rec.flush(); err != nil {
				r.opts.Log.Printf("recording %s: %v", rec.side.ID, err)
			}
		}
		if err := unix.Syncfs(int(dir.Fd())); err != nil {
			r.opts.Log.Printf("syncfs %s: %v", r.opts.Dir, err)
		}
	}
}

// ServeHTTP refuses a stream the limits do not allow (503 over MaxStreams,
// 507 below MinFreeBytes), else upgrades it and records it until it ends.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if n := r.live.Add(1); n > int64(r.opts.MaxStreams) {
		r.live.Add(-1)
		http.Error(w, fmt.Sprintf("listen-recorder: the limit of %d concurrent streams is reached", r.opts.MaxStreams),
			http.StatusServiceUnavailable)
		return
	}
	defer r.live.Add(-1)
	if r.opts.MinFreeBytes > 0 {
		free, err := FreeBytes(r.opts.Dir)
		if err != nil || free < r.opts.MinFreeBytes {
			r.opts.Log.Printf("refused a stream: %d bytes free in %s, below the threshold of %d (%v)",
				free, r.opts.Dir, r.opts.MinFreeBytes, err)
			http.Error(w, fmt.Sprintf("listen-recorder: disk space below the threshold of %d bytes", r.opts.MinFreeBytes),
				http.StatusInsufficientStorage)
			return
		}
	}
	conn, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		return // the upgrader has answered
	}
	r.mu.Lock()
	if r.shutdown {
		r.mu.Unlock()
		closeWith(conn, CodeGoingAway, "listen-recorder is shutting down")
		conn.Close()
		return
	}
	r.conns[conn] = struct{}{}
	r.wg.Add(1)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.conns, conn)
		r.mu.Unlock()
		conn.Close()
		r.wg.Done()
	}()
	r.serve(conn)
}

// Live is the number of connections being served.
func (r *Recorder) Live() int64 { return r.live.Load() }

// first is what the recorder reads from a stream's first frame.
type first struct {
	SampleRate json.Number `json:"sampleRate"`
	MixType    string      `json:"mixType"`
	Encoding   string      `json:"encoding"`
	CallSid    string      `json:"callSid"`
	From       string      `json:"from"`
	To         string      `json:"to"`
	Resumed    bool        `json:"resumed"`
	Reconnects int         `json:"reconnects"`
	StartMs    int64       `json:"startMs"`
	LostMs     int64       `json:"lostMs"`
	BufferedMs int64       `json:"bufferedMs"`
}

func parseFirst(kind int, data []byte) (first, int, error) {
	var f first
	if kind != websocket.TextMessage {
		return f, 0, errors.New("the first frame must be the listen's JSON text frame")
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, 0, fmt.Errorf("the first frame is not the listen's JSON: %v", err)
	}
	rate, err := f.SampleRate.Int64()
	if err != nil || rate < 1000 || rate > 384000 {
		return f, 0, fmt.Errorf("the first frame's sampleRate %q is not a rate from 1000 to 384000 Hz", f.SampleRate)
	}
	switch f.Encoding {
	case "", "L16", "l16", "audio/l16", "linear16", "pcm":
		f.Encoding = "l16"
	case "mulaw", "alaw":
		if rate != 8000 {
			return f, 0, fmt.Errorf("encoding %s at %d Hz: G.711 is 8000 Hz", f.Encoding, rate)
		}
	case "opus":
		if !slices.Contains(config.OpusRates, int(rate)) {
			return f, 0, fmt.Errorf("encoding opus at %d Hz: an Opus stream is at 8000, 16000, 24000 or 48000 Hz", rate)
		}
	default:
		return f, 0, fmt.Errorf("encoding %q is not supported (l16, mulaw, alaw or opus)", f.Encoding)
	}
	channels := 1
	switch f.MixType {
	case "", "mono", "mixed":
		if f.MixType == "" {
			f.MixType = "mono"
		}
	case "stereo":
		channels = 2
	default:
		return f, 0, fmt.Errorf("mixType %q is not mono, stereo or mixed", f.MixType)
	}
	if f.StartMs < 0 || f.LostMs < 0 {
		return f, 0, errors.New("startMs and lostMs must not be negative")
	}
	return f, channels, nil
}

// serve records one connection.
func (r *Recorder) serve(conn *websocket.Conn) {
	id := r.connSeq.Add(1)
	done := make(chan struct{})
	defer close(done)
	conn.SetReadLimit(maxFrameBytes)
	conn.SetReadDeadline(time.Now().Add(firstFrameWait))
	kind, data, err := conn.ReadMessage()
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	f, channels, err := parseFirst(kind, data)
	if err != nil {
		r.opts.Log.Printf("refused a stream: %v", err)
		closeWith(conn, CodeUnsupported, err.Error())
		return
	}
	rec, err := r.recordingFor(id, conn, done, f, channels, data)
	if err != nil {
		r.opts.Log.Printf("refused a stream (callSid %q): %v", f.CallSid, err)
		code := CodeInternal
		if errors.Is(err, errMismatch) {
			code = CodeUnsupported
		}
		closeWith(conn, code, err.Error())
		return
	}
	if !f.Resumed && r.opts.PromptOn.Start {
		r.sendPrompt(conn)
	}
	code, reason := websocket.CloseAbnormalClosure, ""
	lin, err := newLinear(f.Encoding, int(must(f.SampleRate.Int64())), channels)
	if err != nil {
		r.opts.Log.Printf("recording %s: %v", rec.side.ID, err)
		closeWith(conn, CodeInternal, err.Error())
		r.end(rec, id, "closed", CodeInternal, err.Error())
		return
	}
	// One buffer for every frame of the stream: a frame's bytes are
	// written out before the next is read.
	var buf bytes.Buffer
	for {
		kind, rd, err := conn.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(rd)
		}
		data := buf.Bytes()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Text
			} else {
				reason = err.Error()
			}
			break
		}
		if kind == websocket.TextMessage {
			r.text(conn, rec, id, data)
			continue
		}
		if err := lin.wholeFrame(data, channels, f.Encoding); err != nil {
			closeWith(conn, CodeUnsupported, err.Error())
			r.end(rec, id, "closed", CodeUnsupported, err.Error())
			return
		}
		pcm, invalid := lin.linear(data)
		var packet []byte
		if lin.opus != nil && !invalid {
			packet = data
		}
		if err := rec.audio(id, pcm, packet, invalid); err != nil {
			if errors.Is(err, errSizeLimit) {
				msg := fmt.Sprintf("recording size limit of %d bytes reached", r.opts.MaxStreamBytes)
				// disconnect first: the listen must not redial a stream
				// the recorder cannot take any more of.
				conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"disconnect"}`))
				closeWith(conn, CodePolicy, msg)
				r.end(rec, id, "size_limit", CodePolicy, msg)
				return
			}
			r.opts.Log.Printf("recording %s: %v", rec.side.ID, err)
			closeWith(conn, CodeInternal, "recording failed: "+err.Error())
			r.end(rec, id, "closed", CodeInternal, err.Error())
			return
		}
	}
	if code == websocket.CloseNormalClosure || f.CallSid == "" {
		r.end(rec, id, "closed", code, reason)
		return
	}
	// A drop the listen may redial: keep the file open for its resumption.
	rec.suspend(id, r.opts.ResumeWait, code, reason, func() {
		r.end(rec, unowned, "connection_lost", 0, "")
	})
}

var errMismatch = errors.New("the resumed stream's format differs from its recording's")

// recordingFor finds the recording a resumed stream continues, or starts a
// new one, and makes connection id its writer.
func (r *Recorder) recordingFor(id int64, conn *websocket.Conn, done chan struct{}, f first, channels int, raw []byte) (*recording, error) {
	r.mu.Lock()
	rec := r.open[f.CallSid]
	r.mu.Unlock()
	if rec != nil && f.CallSid != "" && f.Resumed {
		if rec.side.SampleRate != int(must(f.SampleRate.Int64())) || rec.side.Channels != channels {
			return nil, errMismatch
		}
		res := &Resumption{At: time.Now().UTC(), Reconnects: f.Reconnects, StartMs: f.StartMs,
			LostMs: f.LostMs, BufferedMs: f.BufferedMs}
		err := rec.attach(id, conn, done, res)
		if err == nil || errors.Is(err, errSizeLimit) {
			return rec, nil
		}
		if !errors.Is(err, errFinished) {
			return nil, err
		}
		// Its recording was finished meanwhile: a new one follows.
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	side := Sidecar{First: json.RawMessage(raw), CallSid: f.CallSid, From: f.From, To: f.To,
		SampleRate: int(must(f.SampleRate.Int64())), MixType: f.MixType, Channels: channels, Encoding: f.Encoding}
	rec, err := createRecording(r.opts.Dir, time.Now(), side, r.opts.MaxStreamBytes, r.opts.Format)
	if err != nil {
		return nil, err
	}
	if f.Resumed {
		// Its first part went to a recorder that is gone: it starts
		// where the listen resumes.
		rec.side.Resumptions = []Resumption{{At: rec.side.Start, Reconnects: f.Reconnects,
			StartMs: f.StartMs, LostMs: f.LostMs, BufferedMs: f.BufferedMs}}
	}
	rec.attach(id, conn, done, nil)
	r.all[rec] = struct{}{}
	if f.CallSid != "" {
		if old := r.open[f.CallSid]; old != nil {
			// A new stream of a call whose last one is waiting for its
			// resumption: that one will not come. (One still streaming
			// goes on to its end.)
			go r.end(old, unowned, "connection_lost", 0, "")
		}
		r.open[f.CallSid] = rec
	}
	return rec, nil
}

func must(v int64, _ error) int64 { return v }

// end finishes rec if conn may (see recording.finish).
func (r *Recorder) end(rec *recording, conn int64, ended string, code int, reason string) {
	finished, err := rec.finish(conn, ended, code, reason)
	if err != nil {
		r.opts.Log.Printf("recording %s: %v", rec.side.ID, err)
	}
	r.mu.Lock()
	if finished {
		delete(r.all, rec)
		if r.open[rec.side.CallSid] == rec {
			delete(r.open, rec.side.CallSid)
		}
	}
	r.mu.Unlock()
}

// text handles a text frame after the first: DTMF digits are kept in the
// sidecar; the prompt answers as configured.
func (r *Recorder) text(conn *websocket.Conn, rec *recording, id int64, data []byte) {
	var ev struct {
		Event string `json:"event"`
		DTMF  string `json:"dtmf"`
	}
	json.Unmarshal(data, &ev)
	isDTMF := ev.Event == "dtmf" && len(ev.DTMF) == 1
	digit := ""
	if isDTMF {
		digit = ev.DTMF
	}
	rec.text(id, digit)
	if (isDTMF && r.opts.PromptOn.DTMF) || (!isDTMF && r.opts.PromptOn.Text) {
		r.sendPrompt(conn)
	}
}

func (r *Recorder) sendPrompt(conn *websocket.Conn) {
	if r.prompt == nil {
		return
	}
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	conn.WriteMessage(websocket.TextMessage, r.prompt)
}

func closeWith(conn *websocket.Conn, code int, reason string) {
	if len(reason) > 120 { // a close frame's reason must fit in 123 bytes
		reason = reason[:120]
	}
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
}

// Shutdown closes every stream (code 1001) and finishes every recording,
// those waiting for a resumption included.
func (r *Recorder) Shutdown() {
	r.mu.Lock()
	r.shutdown = true
	for c := range r.conns {
		closeWith(c, CodeGoingAway, "listen-recorder is shutting down")
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.mu.Lock()
	recs := make([]*recording, 0, len(r.all))
	for rec := range r.all {
		recs = append(recs, rec)
	}
	r.mu.Unlock()
	for _, rec := range recs {
		r.end(rec, anyone, "shutdown", 0, "")
	}
	select {
	case <-r.syncDone:
	default:
		close(r.stopSync)
		<-r.syncDone
	}
}
