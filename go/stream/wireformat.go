package stream

import (
	"encoding/json"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/protocol"
)

// wireFormat is what the protocol spoken to the server decides: the frames
// that open and close a connection, how audio and answers are carried, and
// what the server's frames mean. Everything else (framing, limits, playback,
// reconnecting) is the stream's, whatever the protocol.
type wireFormat interface {
	// opening is the text frames that start a connection; resume, when
	// set, says what a redialled connection missed.
	opening(resume *protocol.Object) ([][]byte, error)
	// audio returns the WebSocket kind and the messages carrying the
	// index-th 20 ms wire frame of the stream. They may be reused by the
	// next call. Writer goroutine only.
	audio(index uint64, frame []byte) (int, [][]byte)
	dtmf(digit byte, duration uint32) []byte
	// playDone and mark answer a played clip and a played-out or cleared
	// ("playout", "cleared") mark; nil when the protocol has no answer.
	playDone(id json.RawMessage) []byte
	mark(name json.RawMessage, event string) []byte
	// refusals makes the frames that tell the server what was wrong with
	// something it sent; nil when the protocol has no way to say it.
	refusals() func(id json.RawMessage, text string) []byte
	// number completes a queued frame as it is written. Writer goroutine only.
	number(frame []byte) []byte
	// closing is the last frame before the close handshake, or nil.
	closing() []byte
	// text and binary act on a frame from the server. Reader goroutine.
	text(s *Stream, data []byte)
	binary(s *Stream, data []byte)
}

func newWireFormat(cfg *config.Listen, call *protocol.Object) (wireFormat, error) {
	if cfg.Protocol == config.Twilio {
		return newTwilioFormat(cfg, call)
	}
	return &jambonzFormat{cfg: cfg, call: call}, nil
}

// jambonzFormat is the listen verb's own protocol: a JSON first frame, then
// binary audio frames; JSON text frames with a "type" both ways.
type jambonzFormat struct {
	cfg  *config.Listen
	call *protocol.Object
	one  [][]byte
}

func (j *jambonzFormat) opening(resume *protocol.Object) ([][]byte, error) {
	first, err := protocol.Initial(j.cfg.SampleRate, j.cfg.MixType, j.cfg.Encoding, j.call, resume, j.cfg.Metadata)
	return [][]byte{first}, err
}

func (j *jambonzFormat) audio(_ uint64, frame []byte) (int, [][]byte) {
	j.one = append(j.one[:0], frame)
	return websocket.BinaryMessage, j.one
}

func (j *jambonzFormat) dtmf(digit byte, duration uint32) []byte {
	return protocol.DTMF(digit, duration)
}
func (j *jambonzFormat) playDone(id json.RawMessage) []byte { return protocol.PlayDone(id) }
func (j *jambonzFormat) mark(name json.RawMessage, event string) []byte {
	return protocol.MarkEvent(name, event)
}
func (j *jambonzFormat) refusals() func(json.RawMessage, string) []byte {
	return protocol.ClipError
}
func (j *jambonzFormat) number(frame []byte) []byte    { return frame }
func (j *jambonzFormat) closing() []byte               { return nil }
func (j *jambonzFormat) text(s *Stream, data []byte)   { s.onText(data) }
func (j *jambonzFormat) binary(s *Stream, data []byte) { s.onBinary(data) }
