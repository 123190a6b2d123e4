package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/resample"
	"github.com/modlisten/mod_listen/go/wav"
)

// read is the reader goroutine: it acts on every frame the server sends
// until the socket closes.
func (s *Stream) read(conn *websocket.Conn, done chan struct{}, lost chan<- error) {
	defer close(done)
	defer s.guard("reader")
	max := int64(s.o.Settings.MaxTextBytes)
	for {
		kind, r, err := conn.NextReader()
		if err != nil {
			s.readFailed(lost, err)
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, max+1))
		if err != nil {
			s.readFailed(lost, err)
			return
		}
		if int64(len(data)) > max {
			// Refuse it and keep the stream: skip the rest of the frame.
			if _, err := io.Copy(io.Discard, r); err != nil {
				s.readFailed(lost, err)
				return
			}
			s.refuse(fmt.Sprintf("frame refused: larger than the limit of %d bytes", max))
			continue
		}
		if kind == websocket.TextMessage {
			s.onText(data)
		} else {
			s.onBinary(data)
		}
	}
}

func (s *Stream) readFailed(lost chan<- error, err error) {
	if s.state.Load() >= stateClosing {
		return // our own close handshake
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		s.event("disconnect", map[string]any{"code": ce.Code, "text": ce.Text})
		if ce.Code == websocket.CloseNormalClosure {
			s.end(ReasonServerClosed, "") // a clean close is final
			return
		}
		if ce.Code == websocket.CloseAbnormalClosure {
			err = errors.New("the connection dropped without a close frame")
		} else {
			err = fmt.Errorf("server closed the socket with code %d %s", ce.Code, ce.Text)
		}
	} else {
		s.event("disconnect", map[string]any{"error": err.Error()})
	}
	s.dropped(lost, err)
}

// refuse tells the server and the host what was wrong; the stream goes on.
func (s *Stream) refuse(text string) { s.refuseClip(nil, text) }

// refuseClip is refuse for a clip: the error frame and event name its id
// (when it has one), so the server knows which of its clips will never be
// heard.
func (s *Stream) refuseClip(id json.RawMessage, text string) {
	s.log(4, "server message refused: "+text)
	body := map[string]any{"error": text}
	if id != nil {
		body["id"] = id
	}
	s.event("error", body)
	s.SendText(protocol.ClipError(id, text))
}

const playbackOff = "bidirectional audio is off for this listen"

func (s *Stream) onText(data []byte) {
	m, err := protocol.Parse(data)
	if err != nil {
		s.refuseClip(protocol.ClipID(data), err.Error())
		return
	}
	switch m.Type {
	case protocol.PlayAudio:
		s.onPlay(m.Clip)
	case protocol.KillAudio, protocol.Clear:
		s.kill(m.Type)
	case protocol.Mark:
		if s.player == nil {
			s.refuse("mark refused: " + playbackOff)
			return
		}
		if s.streamIn != nil {
			// The mark follows all the audio sent before it, the tail the
			// resampler holds back included.
			s.streamIn.flush()
		}
		s.player.Mark(m.Name)
		s.Wake()
	case protocol.Disconnect:
		s.event("disconnect", map[string]any{"requested": true})
		s.end(ReasonDisconnect, "")
	case protocol.ErrorType:
		text := string(m.Data)
		if text == "" {
			text = string(m.Raw)
		}
		s.event("error", map[string]any{"error": "server error: " + text})
		s.end(ReasonServerError, "server error: "+text)
	default:
		s.host.Event("message", m.Raw)
	}
}

func (s *Stream) onPlay(c *protocol.Clip) {
	if s.player == nil {
		s.refuseClip(c.ID, "playAudio refused: "+playbackOff)
		return
	}
	if max := s.o.Settings.MaxClipSeconds; float64(len(c.Samples)/c.Channels) > max*float64(c.Rate) {
		s.refuseClip(c.ID, fmt.Sprintf("playAudio refused: the clip is %.1f s long, over the limit of %g s",
			float64(len(c.Samples)/c.Channels)/float64(c.Rate), max))
		return
	}
	mono := wav.Audio{Rate: c.Rate, Channels: c.Channels, Samples: c.Samples}.Mono()
	samples, err := convert(mono, c.Rate, s.o.CodecRate)
	if err != nil {
		s.refuseClip(c.ID, "playAudio refused: "+err.Error())
		return
	}
	if err := s.player.Clip(samples, c.ID); err != nil {
		s.refuseClip(c.ID, err.Error())
		return
	}
	s.Wake()
}

func (s *Stream) kill(kind string) {
	if s.player == nil {
		s.refuse(kind + " refused: " + playbackOff)
		return
	}
	if s.streamIn != nil {
		s.streamIn.discard()
	}
	cleared, clips := s.player.Kill()
	for _, name := range cleared {
		s.SendText(protocol.MarkEvent(name, "cleared"))
	}
	s.event("kill_audio", map[string]any{"clipsDiscarded": clips, "marksCleared": len(cleared)})
}

func (s *Stream) onBinary(data []byte) {
	switch {
	case s.player == nil:
		s.refuse("binary audio refused: " + playbackOff)
		return
	case !s.cfg.Streaming:
		s.refuse("binary audio refused: streamed playback is off (bidirectionalAudio.streaming)")
		return
	}
	s.streamIn.frame(data)
}

// convert resamples a whole clip, tail included.
func convert(in []int16, from, to int) ([]int16, error) {
	r, err := resample.New(from, to)
	if err != nil {
		return nil, err
	}
	out := r.Process(make([]int16, 0, r.MaxOut(len(in))+r.Delay()+64), in)
	// The filter's delay would shift the clip late and cut its end: drop the
	// leading delay and flush the tail instead.
	out = r.Flush(out)
	if d := r.Delay(); d < len(out) {
		out = out[d:]
	}
	want := int(int64(len(in)) * int64(to) / int64(from))
	if len(out) > want {
		out = out[:want]
	}
	return out, nil
}
