// Package outbox holds the text frames waiting for a stream's writer: the
// host's send_text frames, playDone and mark answers, and error frames that
// refuse what the server sent. It is bounded: a server that sends without
// reading must not grow it, however much it sends.
package outbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrFull refuses a frame the host asked to send while the outbox is full.
var ErrFull = errors.New("the server is not reading: its queue of text frames is full")

// ErrTooLarge refuses a frame that could never fit.
var ErrTooLarge = errors.New("the text frame is larger than the queue of text frames for the server")

// Outbox is safe for use by any goroutine.
type Outbox struct {
	mu        sync.Mutex
	frames    [][]byte
	bytes     int
	maxBytes  int
	errors    int // error frames waiting
	maxErrors int

	merged     int    // refusals past maxErrors, told in one frame
	lastMerged string // the last of them
	dropped    int    // answers that did not fit, told in one frame

	errorFrame func(id json.RawMessage, text string) []byte
}

// New makes an outbox holding at most maxBytes of frames, of which at most
// maxErrors error frames. errorFrame makes the frame that tells the server
// of an error (about a clip, when id is not nil); nil when the protocol has
// none (refusals are then not sent).
func New(maxBytes, maxErrors int, errorFrame func(id json.RawMessage, text string) []byte) *Outbox {
	return &Outbox{maxBytes: maxBytes, maxErrors: maxErrors, errorFrame: errorFrame}
}

func (o *Outbox) fits(n int) bool { return o.bytes+n <= o.maxBytes }

func (o *Outbox) add(frame []byte) {
	o.frames = append(o.frames, frame)
	o.bytes += len(frame)
}

// Put queues a frame from the host; ErrFull, and nothing queued, when it
// does not fit now, ErrTooLarge when it never would.
func (o *Outbox) Put(frame []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(frame) > o.maxBytes {
		return ErrTooLarge
	}
	if !o.fits(len(frame)) {
		return ErrFull
	}
	o.add(frame)
	return nil
}

// Answer queues a frame the engine owes the server (playDone, a mark's
// answer, a DTMF digit). One that does not fit is dropped and counted; the server is told
// how many in one error frame when it reads again.
func (o *Outbox) Answer(frame []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.fits(len(frame)) {
		o.dropped++
		return
	}
	o.add(frame)
}

// Refuse queues an error frame with text, naming the clip id when there is
// one. Past maxErrors waiting, refusals are merged: one frame tells how many
// there were and the last one's text.
func (o *Outbox) Refuse(id json.RawMessage, text string) {
	if o.errorFrame == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	frame := o.errorFrame(id, text)
	if o.errors >= o.maxErrors || !o.fits(len(frame)) {
		o.merged++
		o.lastMerged = text
		return
	}
	o.errors++
	o.add(frame)
}

// Take returns everything waiting, in order, the summaries of merged
// refusals and dropped answers last, and empties the outbox.
func (o *Outbox) Take() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.frames
	if o.merged > 0 {
		out = append(out, o.errorFrame(nil, fmt.Sprintf("%d more messages refused, the last: %s", o.merged, o.lastMerged)))
	}
	if o.dropped > 0 && o.errorFrame != nil {
		out = append(out, o.errorFrame(nil, fmt.Sprintf("%d playDone, mark or dtmf frames dropped: the server was not reading", o.dropped)))
	}
	o.frames, o.bytes, o.errors, o.merged, o.lastMerged, o.dropped = nil, 0, 0, 0, "", 0
	return out
}
