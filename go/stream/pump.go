package stream

import (
	"math"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/protocol"
	"github.com/modlisten/mod_listen/go/wsdial"
)

// drainFrames is how many captured frames one copy out of a ring takes; a
// backlog is drained in as many copies as it needs. The host pushes one
// frame per 20 ms and the ring is drained every few ms, so a copy holds one
// frame nearly always: a larger scratch would only cost memory per stream.
const drainFrames = 2

// pump moves everything that is ready to the socket: captured audio as
// binary frames, queued text frames (DTMF among them), playback notices. It
// flushes after each slice of audio, so a server that does not read holds
// the writer here, and the host's ring drops the oldest audio and counts it,
// rather than the engine queueing more. With final it also sends what is left
// (padded to a whole frame) and the resamplers' tail. The writer's goroutine.
func (s *Stream) pump(conn *wsdial.Conn, final bool) error {
	read := 0
	for more := true; more; {
		n, m, err := s.pumpAudio(conn)
		if err == nil {
			err = s.flush(conn)
		}
		if err != nil {
			return err
		}
		read, more = read+n, m
	}
	f := s.frame
	if final && !s.limited {
		if err := s.emit(conn, true); err != nil {
			return err
		}
	}
	if final {
		f.flushResamplers()
		if err := s.writeFrames(conn, true); err != nil {
			return err
		}
	}
	if err := s.pumpNotices(conn, read); err != nil {
		return err
	}
	return s.flush(conn)
}

// pumpInline pumps from the pacer's goroutine, which saves waking the writer
// for each frame, when the writer is waiting between pumps on a socket that
// keeps up. It takes one slice, never flushes (a write never blocks), and
// reports false to leave the rest to the writer: a slice left over, bytes the
// socket did not take, a write error, an ending listen.
func (s *Stream) pumpInline() bool {
	if !s.pumpMu.TryLock() {
		return false
	}
	defer s.pumpMu.Unlock()
	conn := s.live
	if conn == nil || s.liveErr != nil || s.isEnded() || conn.Queued() > 0 {
		return false
	}
	n, more, err := s.pumpAudio(conn)
	if err == nil {
		err = s.pumpNotices(conn, n)
	}
	if err != nil {
		s.liveErr = err
		return false
	}
	return !more && conn.Queued() == 0
}

// pumpAudio frames and sends up to drainFrames of captured audio: the
// caller's samples read, and whether the rings may hold more.
func (s *Stream) pumpAudio(conn *wsdial.Conn) (read int, more bool, err error) {
	f := s.frame
	if s.scratch == nil {
		s.scratch = make([]int16, drainFrames*f.inFrame)
	}
	n, oldest := s.media.DrainRead(s.scratch)
	f.inL = append(f.inL, s.scratch[:n]...)
	read, more = n, n == len(s.scratch)
	if f.twoSided {
		m, stamp := s.media.DrainWrite(s.scratch)
		f.inR = append(f.inR, s.scratch[:m]...)
		more = more || m == len(s.scratch)
		if stamp != 0 && (oldest == 0 || stamp < oldest) {
			oldest = stamp
		}
	}
	sent := s.framesSent.Load()
	if err := s.emit(conn, false); err != nil {
		return read, false, err
	}
	if oldest != 0 && s.o.Stats != nil && s.framesSent.Load() > sent {
		s.o.Stats.Send.Record(time.Duration(s.media.Now() - oldest))
	}
	return read, more, nil
}

// pumpNotices handles what the playback did meanwhile and sends the text
// frames waiting; read is the caller's audio just taken, in samples.
func (s *Stream) pumpNotices(conn *wsdial.Conn, read int) error {
	s.checkPlayStall(read)
	s.servicePlayback()
	return s.writeOutbox(conn)
}

// playStalled is why queued audio is refused when the host never takes it.
const playStalled = "not played: the channel writes no audio for the listen to replace " +
	"(its application writes none, e.g. a park that started before the listen)"

// checkPlayStall refuses the audio waiting to play when a second of the
// caller's audio has come and none of it was played: the host reads the call
// but writes nothing into it, and the server must not wait for a playDone
// that never comes. It is not the server's doing, so it does not count
// towards maxRefusals. read is the caller's audio that has just come, in samples.
func (s *Stream) checkPlayStall(read int) {
	if s.player == nil || read == 0 {
		return
	}
	if played := s.media.Played(); played != s.lastPlayed || !s.player.Busy() {
		s.lastPlayed, s.unplayedRead = played, 0
		return
	}
	if s.unplayedRead += read; s.unplayedRead < s.o.CodecRate {
		return
	}
	s.unplayedRead = 0
	if s.streamIn != nil {
		s.streamIn.discard()
	}
	clips, marks := s.player.Abandon()
	for _, id := range clips {
		s.tell(id, "playAudio "+playStalled)
	}
	for _, name := range marks {
		s.out.Answer(protocol.MarkEvent(name, "cleared"))
	}
	if len(clips) == 0 {
		s.tell(nil, "audio "+playStalled)
	}
}

// emit frames the captured audio and sends every whole wire frame, up to
// the media time at which the listen ended, if a rule ended it.
func (s *Stream) emit(conn *wsdial.Conn, flush bool) error {
	f := s.frame
	for !s.limited {
		if lim := s.limitMs(); lim > 0 && s.mediaMs.Load() >= lim {
			s.limited = true
			break
		}
		caller, other, ok := f.next(flush)
		if !ok {
			break
		}
		f.add(caller, other)
		s.mediaMs.Add(20)
		if err := s.writeFrames(conn, false); err != nil {
			return err
		}
	}
	return nil
}

// writeFrames sends every whole wire frame the framer holds (with pad, the
// last partial one too).
func (s *Stream) writeFrames(conn *wsdial.Conn, pad bool) error {
	for {
		frame, err := s.frame.wireFrame(pad)
		if err != nil {
			s.end(ReasonError, err.Error())
			return err
		}
		if frame == nil {
			return nil
		}
		if err := s.writeAudio(conn, frame); err != nil {
			return err
		}
	}
}

func (s *Stream) writeAudio(conn *wsdial.Conn, frame []byte) error {
	s.remember(frame)
	s.wireFrames++
	if err := s.sendAudio(conn, s.wireFrames-1, frame); err != nil {
		return err
	}
	s.framesSent.Add(1)
	return nil
}

// sendAudio writes the index-th wire frame of the stream as the protocol
// carries it.
func (s *Stream) sendAudio(conn *wsdial.Conn, index uint64, frame []byte) error {
	kind, msgs := s.wf.audio(index, frame)
	for _, m := range msgs {
		if err := s.send(conn, kind, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) writeOutbox(conn *wsdial.Conn) error {
	for _, m := range s.out.Take() {
		if err := s.send(conn, websocket.TextMessage, s.wf.number(m)); err != nil {
			return err
		}
	}
	return nil
}

// servicePlayback tops up the playback ring and turns completions into
// playDone and mark frames for the server and events for the host.
func (s *Stream) servicePlayback() {
	if s.player == nil {
		return
	}
	s.notices = s.player.Service(time.Now(), s.notices[:0])
	for _, n := range s.notices {
		body := map[string]any{}
		if n.ID != nil {
			key := "id"
			if n.Event == "mark" {
				key = "name"
			}
			body[key] = n.ID
		}
		s.peerEvent(n.Event, body)
		var frame []byte
		switch n.Event {
		case "play_done":
			frame = s.wf.playDone(n.ID)
		case "mark":
			frame = s.wf.mark(n.ID, "playout")
		}
		if frame != nil {
			s.out.Answer(frame)
		}
	}
}

// Beep is the tone playBeep plays when the listen starts: 400 ms of 1 kHz at
// -12 dBFS, with 10 ms ramps so it does not click.
func Beep(rate int) []int16 {
	n := rate * 400 / 1000
	ramp := rate / 100
	out := make([]int16, n)
	amp := 32767 * math.Pow(10, -12.0/20)
	for i := range out {
		g := 1.0
		if i < ramp {
			g = float64(i) / float64(ramp)
		} else if i >= n-ramp {
			g = float64(n-1-i) / float64(ramp)
		}
		out[i] = int16(amp * g * math.Sin(2*math.Pi*1000*float64(i)/float64(rate)))
	}
	return out
}
