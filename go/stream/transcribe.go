package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/actionhook"
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/resample"
	"github.com/modlisten/mod_listen/go/transcribe"
	"github.com/modlisten/mod_listen/go/wsdial"
)

// Bounds on what a recognizer can make a listen hold.
const (
	// hookQueue is how many transcription hook bodies may wait for a slow
	// hook; more are dropped and counted.
	hookQueue = 32
	// maxTranscriptBytes bounds the final transcript kept for the actionHook.
	maxTranscriptBytes = 256 << 10
)

// transcriber is a listen's nested transcribe: the recognizer's audio, read
// from the host's rings at its own pace, and where transcripts go.
type transcriber struct {
	s      *Stream
	cfg    *config.Transcribe
	vendor string
	proto  transcribe.Vendor
	format transcribe.Format
	rec    *transcribe.Recognizer

	// The recognizer reads the rings with read heads of its own, so a
	// listen server that stops reading does not starve it: the pacer pulls
	// (and, at the end, the stream's goroutine), under pullMu.
	pullMu      sync.Mutex
	pair        pairer
	scratch     []int16
	mediaMs     atomic.Int64 // the call's audio taken so far
	closed      bool         // the last audio is taken
	left, right *resample.Resampler
	skip        int // the resamplers' delay still to drop from their output
	outL, outR  []int16
	inter       []int16
	frame       []byte

	mu        sync.Mutex
	finals    []utterance
	kept      int  // bytes of text in finals
	truncated bool // finals were left out past maxTranscriptBytes

	hooks       chan []byte
	hooksDone   chan struct{}
	hookCtx     context.Context
	hookCancel  context.CancelFunc
	hookDropped int // under mu
}

// utterance is one final transcript, for the actionHook.
type utterance struct {
	Party      string  `json:"party"`
	TimeMs     int64   `json:"timeMs"`
	Transcript string  `json:"transcript"`
	Confidence float64 `json:"confidence"`
}

func newTranscriber(s *Stream, cfg *config.Transcribe, codecRate int) (*transcriber, error) {
	proto, err := transcribe.NewVendor(cfg.Recognizer)
	if err != nil {
		return nil, err
	}
	t := &transcriber{s: s, cfg: cfg, vendor: cfg.Recognizer.Vendor, proto: proto, format: transcribe.FormatOf(cfg.Recognizer)}
	t.hookCtx, t.hookCancel = context.WithCancel(context.Background())
	if t.left, err = resample.New(codecRate, t.format.Rate); err != nil {
		return nil, err
	}
	if t.format.Channels == 2 {
		if t.right, err = resample.New(codecRate, t.format.Rate); err != nil {
			return nil, err
		}
	}
	t.skip = t.left.Delay()
	t.pair = newPairer(cfg.Recognizer.Channels != config.PartyCaller, codecRate)
	t.scratch = make([]int16, drainFrames*t.pair.inFrame)
	n := t.format.Rate / 50
	t.inter = make([]int16, 2*n)
	t.frame = make([]byte, 2*n*t.format.Channels)
	return t, nil
}

// start dials the recognizer and starts the hook poster.
func (t *transcriber) start() {
	s := t.s
	if t.cfg.Hook != nil {
		t.hooks = make(chan []byte, hookQueue)
		t.hooksDone = make(chan struct{})
		go t.postHooks()
	}
	tls := s.cfg.TLS
	t.pullMu.Lock() // the pacer may already be pulling
	defer t.pullMu.Unlock()
	t.rec = transcribe.Start(transcribe.Options{
		Vendor: t.proto, Format: t.format,
		RingFrames: max(int(s.o.Settings.BufferSeconds*50), 4),
		Reconnect:  t.cfg.Recognizer.Reconnect,
		Dial: func(ctx context.Context, url string, header map[string]string) (*websocket.Conn, error) {
			conn, err := wsdial.Dial(ctx, wsdial.Options{URL: url, Header: header, Timeout: s.o.Settings.ConnectTimeout,
				TLS: tls, SendBuffer: max(16<<10, t.format.Rate*2*t.format.Channels)})
			if err != nil {
				return nil, err
			}
			return conn.Conn, nil
		},
		Transcript: t.onTranscript,
		Failed:     t.onError,
		Dropped: func(frames uint64) {
			s.log(4, "the recognizer is not keeping up: dropping the oldest audio")
			s.event("transcription_error", map[string]any{"vendor": t.vendor,
				"error": "the recognizer is not keeping up: dropping the oldest audio", "framesDropped": frames})
		},
	})
}

// pull reads what the host captured since the last pull and hands it to the
// recognizer, up to the media time where a rule cut the listen. With final it
// takes the last of it and tells the recognizer that no more will come; later
// pulls do nothing. The host's rings must still be live.
func (t *transcriber) pull(final bool) {
	t.pullMu.Lock()
	defer t.pullMu.Unlock()
	if t.closed || t.rec == nil {
		return
	}
	s, p := t.s, &t.pair
	for {
		n, lost := s.media.PeekRead(t.scratch)
		p.inL = append(p.inL, t.scratch[:n]...)
		got := n
		if p.twoSided {
			var lostR uint64
			n, lostR = s.media.PeekWrite(t.scratch)
			p.inR = append(p.inR, t.scratch[:n]...)
			got += n
			lost = max(lost, lostR)
		}
		if lost > 0 {
			t.rec.Lost(lost)
		}
		for {
			if lim := s.limitMs(); lim > 0 && t.mediaMs.Load() >= lim {
				p.inL, p.inR = p.inL[:0], p.inR[:0]
				break
			}
			caller, other, ok := p.next(final && got == 0)
			if !ok {
				break
			}
			t.mediaMs.Add(20)
			t.feed(caller, other)
		}
		if got == 0 {
			break
		}
	}
	if final {
		t.flush()
		t.closed = true
		t.rec.CloseAudio()
	}
}

// flush sends the resamplers' tail, the last frame padded with silence, so
// the recognizer hears the call to its end.
func (t *transcriber) flush() {
	t.outL = t.left.Flush(t.outL)
	if t.right != nil {
		t.outR = t.right.Flush(t.outR)
	}
	dropDelay(&t.skip, &t.outL, &t.outR)
	n := t.format.Rate / 50
	for _, out := range []*[]int16{&t.outL, &t.outR} {
		if len(*out)%n != 0 {
			*out = append(*out, make([]int16, n-len(*out)%n)...)
		}
	}
	t.send()
}

// feed takes one 20 ms frame pair at the call's rate: the transcriber's own
// copies, never the host's memory.
func (t *transcriber) feed(caller, other []int16) {
	switch t.cfg.Recognizer.Channels {
	case config.PartyCaller:
		t.outL = t.left.Process(t.outL, caller)
	case config.PartyCallee:
		t.outL = t.left.Process(t.outL, other)
	default:
		t.outL = t.left.Process(t.outL, caller)
		t.outR = t.right.Process(t.outR, other)
	}
	dropDelay(&t.skip, &t.outL, &t.outR)
	t.send()
}

// send hands the recognizer every whole 20 ms frame of the resampled audio.
func (t *transcriber) send() {
	n := t.format.Rate / 50
	for len(t.outL) >= n && (t.right == nil || len(t.outR) >= n) {
		if t.right != nil {
			pcm.Interleave(t.inter, t.outL[:n], t.outR[:n])
			pcm.PutLE(t.frame, t.inter)
			t.outR = t.outR[:copy(t.outR, t.outR[n:])]
		} else {
			pcm.PutLE(t.frame, t.outL[:n])
		}
		t.outL = t.outL[:copy(t.outL, t.outL[n:])]
		t.rec.Write(t.frame)
	}
}

func (t *transcriber) onTranscript(tr transcribe.Transcript) {
	s := t.s
	defer s.guard("transcription")
	if len(tr.Alternatives) == 0 || tr.Alternatives[0].Transcript == "" || !tr.Final && !t.cfg.Recognizer.Interim {
		return // silence, or an interim nobody asked for
	}
	if tr.Channel < 0 || tr.Channel >= t.format.Channels {
		tr.Channel = 0 // a channel the recognizer was never sent
	}
	party := transcribe.Party(t.cfg.Recognizer, tr.Channel)
	speech := map[string]any{
		"vendor":        map[string]any{"name": t.vendor},
		"language_code": t.cfg.Recognizer.Language,
		"channel_tag":   tr.Channel + 1,
		"is_final":      tr.Final,
		"alternatives":  tr.Alternatives,
	}
	body := map[string]any{"vendor": t.vendor, "party": party, "is_final": tr.Final,
		"transcript": tr.Alternatives[0].Transcript, "confidence": tr.Alternatives[0].Confidence,
		"language_code": t.cfg.Recognizer.Language, "channel_tag": tr.Channel + 1, "alternatives": tr.Alternatives}
	if tr.SpeechFinal != nil {
		body["speech_final"] = *tr.SpeechFinal
	}
	if tr.Final {
		at := tr.StartMs
		if at < 0 {
			at = t.mediaMs.Load()
		}
		t.keep(utterance{Party: party, TimeMs: at, Transcript: tr.Alternatives[0].Transcript,
			Confidence: tr.Alternatives[0].Confidence})
	}
	s.peerEvent("transcription", body)
	if t.cfg.Forward {
		if frame, err := json.Marshal(map[string]any{"type": "transcription", "data": body}); err == nil {
			s.out.Answer(frame)
			s.signal()
		}
	}
	t.hook(map[string]any{"speech": speech, "party": party})
}

func (t *transcriber) keep(u utterance) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kept+len(u.Transcript) > maxTranscriptBytes {
		t.truncated = true
		return
	}
	t.kept += len(u.Transcript)
	t.finals = append(t.finals, u)
}

func (t *transcriber) onError(err error) {
	s := t.s
	defer s.guard("transcription")
	text := err.Error()
	if s.peer.Allow("transcription_error", text) {
		s.log(4, "transcription: "+text)
		s.event("transcription_error", map[string]any{"vendor": t.vendor, "error": text})
	}
	t.hook(map[string]any{"vendor": t.vendor, "error": text})
}

// hook queues one body for the transcriptionHook, after the call's
// attributes; a hook that does not keep up loses the newest, counted.
func (t *transcriber) hook(fields map[string]any) {
	if t.hooks == nil {
		return
	}
	body := t.s.callAttributes()
	for k, v := range fields {
		b, _ := json.Marshal(v)
		body.Set(k, b)
	}
	payload, _ := body.MarshalJSON()
	select {
	case t.hooks <- payload:
	default:
		t.mu.Lock()
		t.hookDropped++
		first := t.hookDropped == 1
		t.mu.Unlock()
		if first {
			t.s.log(4, "the transcription hook is not keeping up: transcripts are not posted")
		}
	}
}

func (t *transcriber) postHooks() {
	defer close(t.hooksDone)
	defer t.s.guard("transcription hook")
	s := t.s
	h := t.cfg.Hook
	for payload := range t.hooks {
		if t.hookCtx.Err() != nil {
			continue // the listen is over and the hooks' time is up: drain
		}
		if _, err := actionhook.Post(t.hookCtx, h, payload, s.o.Settings.HookTimeout, s.o.Settings.HookRetries); err != nil {
			if s.peer.Allow("transcription_error", err.Error()) {
				s.log(3, "transcription hook: "+err.Error())
				s.event("transcription_error", map[string]any{"vendor": t.vendor, "error": err.Error()})
			}
		}
	}
}

// wait gives the recognizer finalTimeoutMs for its last final, then the
// hook poster hookTimeoutMs for what is queued; every goroutine of the
// transcriber has returned after it.
func (t *transcriber) wait() {
	t.rec.Wait(t.cfg.FinalTimeout)
	if t.hooks != nil {
		close(t.hooks)
		timer := time.AfterFunc(t.s.o.Settings.HookTimeout, t.hookCancel)
		<-t.hooksDone
		timer.Stop()
	}
	t.hookCancel()
	t.mu.Lock()
	dropped := t.hookDropped
	t.mu.Unlock()
	if dropped > 0 {
		t.s.log(4, fmt.Sprintf("%d transcripts were not posted to the transcription hook: it was not keeping up", dropped))
	}
}

// abort ends the recognizer's connection and hooks now (engine shutdown).
func (t *transcriber) abort() {
	t.rec.Abort()
	t.hookCancel()
}

// transcript is the whole final transcript, for the actionHook.
func (t *transcriber) transcript() ([]utterance, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]utterance{}, t.finals...), t.truncated
}
