package stream

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/twilio"
)

// twilioFormat speaks Twilio Media Streams: text frames only, audio as
// base64 µ-law in media messages, the server's audio streamed back the same
// way.
type twilioFormat struct {
	session *twilio.Session
}

func newTwilioFormat(cfg *config.Listen, call *protocol.Object) (*twilioFormat, error) {
	s, err := twilio.New(call, cfg.Metadata, cfg.MixType == config.Stereo)
	if err != nil {
		return nil, err
	}
	return &twilioFormat{session: s}, nil
}

func (t *twilioFormat) opening(resume *protocol.Object) ([][]byte, error) {
	return t.session.Opening(resume), nil
}

func (t *twilioFormat) audio(index uint64, frame []byte) (int, [][]byte) {
	return websocket.TextMessage, t.session.Media(index, frame)
}

func (t *twilioFormat) dtmf(digit byte, _ uint32) []byte { return t.session.DTMF(digit) }

// Twilio has no clips to confirm.
func (t *twilioFormat) playDone(json.RawMessage) []byte { return nil }

// Twilio echoes a mark whether its audio was played or cleared.
func (t *twilioFormat) mark(name json.RawMessage, _ string) []byte { return t.session.Mark(name) }

// Twilio has no message for errors: refusals reach the host alone.
func (t *twilioFormat) refusals() func(json.RawMessage, string) []byte { return nil }

func (t *twilioFormat) number(frame []byte) []byte { return t.session.Number(frame) }
func (t *twilioFormat) closing() []byte            { return t.session.Stop() }

func (t *twilioFormat) text(s *Stream, data []byte) {
	m, err := twilio.Parse(data)
	if err != nil {
		s.refuse(err.Error())
		return
	}
	switch m.Event {
	case twilio.EventMedia:
		s.onTwilioMedia(m)
	case twilio.EventMark:
		s.onMark(m.Name)
	case twilio.EventClear:
		s.kill(twilio.EventClear)
	default:
		s.message(m.Raw)
	}
}

func (t *twilioFormat) binary(s *Stream, _ []byte) {
	s.refuse("binary frame refused: Twilio Media Streams carry audio in media messages")
}

// onTwilioMedia plays the µ-law of a media message as it comes, like
// streamed audio; its length, the queue and the engine's budget are checked
// from the base64's length before it is decoded.
func (s *Stream) onTwilioMedia(m twilio.Message) {
	if s.player == nil {
		s.refuse("media refused: " + playbackOff)
		return
	}
	n, err := m.PayloadLen()
	if err != nil {
		s.refuse(err.Error())
		return
	}
	out := int(int64(n) * int64(s.o.CodecRate) / twilio.Rate)
	if err := s.player.StreamFits(out); err != nil {
		s.refuse(err.Error())
		return
	}
	// The bytes, their samples and the resampled copy; the usual 20 ms
	// messages always get through.
	if work := 3*n + 2*out; n > freeFrameBytes {
		if err := s.o.Budget.Take(work); err != nil {
			s.refuseErr(fmt.Errorf("media refused: %w", err))
			return
		}
		defer s.o.Budget.Give(work)
	}
	codes, err := m.Payload(make([]byte, n+3))
	if err != nil {
		s.refuse(err.Error())
		return
	}
	s.streamIn.samples(g711.DecodeMulawFrame(make([]int16, 0, len(codes)), codes))
}
