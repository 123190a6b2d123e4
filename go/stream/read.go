package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/opus"
	"github.com/modlisten/mod_listen/go/peertext"
	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/resample"
	"github.com/modlisten/mod_listen/go/wav"
)

// read is the reader goroutine: it acts on every frame the server sends
// until the socket closes.
func (s *Stream) read(conn *websocket.Conn, done chan struct{}, lost chan<- error) {
	defer s.workers.Done()
	defer close(done)
	defer s.guard("reader")
	for {
		kind, r, err := conn.NextReader()
		if err != nil {
			s.readFailed(lost, err)
			return
		}
		data, held, refusal, err := s.readFrame(r, kind)
		if err != nil {
			s.o.Budget.Give(held)
			s.readFailed(lost, err)
			return
		}
		if refusal == nil {
			s.wire("in", kind, data)
		}
		switch {
		case refusal != nil:
			s.refuseErr(refusal)
		case kind == websocket.TextMessage:
			s.wf.text(s, data)
		default:
			s.wf.binary(s, data)
		}
		s.o.Budget.Give(held)
	}
}

// freeFrameBytes: a frame's first bytes are read without asking the
// engine's budget, so small messages (killAudio, disconnect) always get
// through, whatever the other streams hold.
const freeFrameBytes = 16 << 10

// readFrame reads one whole frame, within maxTextBytes and the engine's
// budget, and returns what it holds of the budget (to give back once the
// frame is dealt with). A frame over either is skipped and refusal says why.
func (s *Stream) readFrame(r io.Reader, kind int) (data []byte, held int, refusal, err error) {
	limit := s.o.Settings.MaxTextBytes
	// A text frame's JSON is copied once more as it is parsed.
	copies := 1
	if kind == websocket.TextMessage {
		copies = 2
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > limit {
				refusal = fmt.Errorf("frame refused: larger than the limit of %d bytes", limit)
				break
			}
			grow := min(2*cap(buf), limit+1)
			if grow > freeFrameBytes {
				need := copies * (grow - max(cap(buf), freeFrameBytes))
				if err := s.o.Budget.Take(need); err != nil {
					refusal = fmt.Errorf("frame refused: %w", err)
					break
				}
				held += need
			}
			buf = append(make([]byte, 0, grow), buf...)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, held, nil, nil
		}
		if err != nil {
			return nil, held, nil, err
		}
	}
	// Refuse it and keep the stream: skip the rest of the frame.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, held, nil, err
	}
	return nil, held, refusal, nil
}

func (s *Stream) readFailed(lost chan<- error, err error) {
	if s.state.Load() >= stateClosing {
		return // our own close handshake
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		ce.Text = peertext.Show(ce.Text)
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
		s.onMark(m.Name)
	case protocol.Disconnect:
		s.event("disconnect", map[string]any{"requested": true})
		s.end(ReasonDisconnect, "")
	case protocol.ErrorType:
		text := string(m.Data)
		if text == "" {
			text = string(m.Raw)
		}
		text = "server error: " + peertext.Show(text)
		s.event("error", map[string]any{"error": text})
		s.end(ReasonServerError, text)
	default:
		s.message(m.Raw)
	}
}

// onMark queues a mark behind the audio sent before it.
func (s *Stream) onMark(name json.RawMessage) {
	if s.player == nil {
		s.refuse("mark refused: " + playbackOff)
		return
	}
	if s.streamIn != nil {
		// The mark follows all the audio sent before it, the tail the
		// resampler holds back included.
		s.streamIn.flush()
	}
	if err := s.player.Mark(name); err != nil {
		s.refuse(err.Error())
		return
	}
	s.signal()
}

// message passes a server message the engine does not act on to the host.
func (s *Stream) message(raw []byte) {
	if len(raw) > maxMessageBytes {
		s.refuse(fmt.Sprintf("message refused: %d bytes, over the limit of %d for messages passed to the application",
			len(raw), maxMessageBytes))
		return
	}
	// Compact: no raw line breaks of the server's reach the host.
	var b bytes.Buffer
	json.Compact(&b, raw)
	if s.peer.Allow("message", "") {
		s.host.Event("message", b.Bytes())
	}
}

// onPlay checks a clip's length, the queue and the engine's budget from
// the clip's header and lengths, and only then decodes and resamples it.
func (s *Stream) onPlay(c *protocol.Clip) {
	if s.player == nil {
		s.refuseClip(c.ID, "playAudio refused: "+playbackOff)
		return
	}
	if max := s.o.Settings.MaxClipSeconds; c.Seconds() > max {
		s.refuseClip(c.ID, fmt.Sprintf("playAudio refused: the clip is %.1f s long, over the limit of %g s", c.Seconds(), max))
		return
	}
	out := int(int64(c.Frames) * int64(s.o.CodecRate) / int64(c.Rate))
	if err := s.player.ClipFits(out); err != nil {
		s.refuseClip(c.ID, err.Error())
		return
	}
	work := c.DecodeBytes() + 2*c.Frames + 2*out
	if err := s.o.Budget.Take(work); err != nil {
		s.refuseClipErr(c.ID, fmt.Errorf("playAudio refused: %w", err))
		return
	}
	defer s.o.Budget.Give(work)
	decoded, err := c.Decode()
	if err != nil {
		s.refuseClip(c.ID, err.Error())
		return
	}
	mono := wav.Audio{Rate: c.Rate, Channels: c.Channels, Samples: decoded}.Mono()
	samples, err := resample.Clip(mono, c.Rate, s.o.CodecRate)
	if err != nil {
		s.refuseClip(c.ID, "playAudio refused: "+err.Error())
		return
	}
	if err := s.player.Clip(samples, c.ID); err != nil {
		s.refuseClipErr(c.ID, err)
		return
	}
	s.signal()
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
		if frame := s.wf.mark(name, "cleared"); frame != nil {
			s.out.Answer(frame)
		}
	}
	s.signal()
	s.peerEvent("kill_audio", map[string]any{"clipsDiscarded": clips, "marksCleared": len(cleared)})
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
	if s.streamIn.dec != nil {
		s.onPacket(data)
		return
	}
	// Checked before it is resampled: at the call's rate, would it fit?
	out := int(int64(len(data)/2) * int64(s.o.CodecRate) / int64(s.cfg.StreamingRate))
	if err := s.player.StreamFits(out); err != nil {
		s.refuse(err.Error())
		return
	}
	// Its samples and their resampled copy; small frames, the usual 20 ms
	// ones, always get through.
	if work := len(data) + 2*out; len(data) > freeFrameBytes {
		if err := s.o.Budget.Take(work); err != nil {
			s.refuseErr(fmt.Errorf("streamed audio refused: %w", err))
			return
		}
		defer s.o.Budget.Give(work)
	}
	s.streamIn.frame(data)
}

// onPacket plays one Opus packet of streamed audio (or conceals a lost one).
func (s *Stream) onPacket(data []byte) {
	if len(data) > opus.MaxPacketBytes {
		s.refuse(fmt.Sprintf("streamed audio refused: %d bytes is not an Opus packet (at most %d)", len(data), opus.MaxPacketBytes))
		return
	}
	// A packet's audio is at most 120 ms, in the decoder's own buffer.
	if err := s.player.StreamFits(s.o.CodecRate * opus.MaxPacketMs / 1000); err != nil {
		s.refuse(err.Error())
		return
	}
	if err := s.streamIn.packet(data); err != nil {
		s.refuse("streamed audio: " + err.Error() + "; concealed")
	}
}
