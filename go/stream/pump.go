package stream

import (
	"math"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/pcm"
	"github.com/modlisten/mod_listen/go/protocol"
)

// drainFrames bounds one drain so a long backlog is sent in slices, with the
// playback and DTMF work in between.
const drainFrames = 16

// pump moves everything that is ready to the socket: captured audio as
// binary frames, DTMF, queued text frames, playback notices. With final it
// also sends what is left (padded to a whole frame) and the resamplers' tail.
func (s *Stream) pump(conn *websocket.Conn, final bool) error {
	f := s.frame
	if s.scratch == nil {
		s.scratch = make([]int16, drainFrames*f.inFrame)
	}
	read := 0
	for {
		n, oldest := s.media.DrainRead(s.scratch)
		f.inL = append(f.inL, s.scratch[:n]...)
		read += n
		got := n
		if f.twoSided() {
			var stamp int64
			n, stamp = s.media.DrainWrite(s.scratch)
			f.inR = append(f.inR, s.scratch[:n]...)
			got += n
			if stamp != 0 && (oldest == 0 || stamp < oldest) {
				oldest = stamp
			}
		}
		sent := s.framesSent.Load()
		if err := s.emit(conn, false); err != nil {
			return err
		}
		if oldest != 0 && s.o.Stats != nil && s.framesSent.Load() > sent {
			s.o.Stats.Send.Record(time.Duration(s.media.Now() - oldest))
		}
		if got == 0 {
			break
		}
	}
	if err := s.pumpDTMF(conn); err != nil {
		return err
	}
	if final && !s.limited {
		if err := s.emit(conn, true); err != nil {
			return err
		}
	}
	if final {
		f.flushResamplers()
		for frame := f.wireFrame(true); frame != nil; frame = f.wireFrame(true) {
			if err := s.writeAudio(conn, frame); err != nil {
				return err
			}
		}
	}
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
// that never comes. read is the caller's audio that has just come, in samples.
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
		s.refuseClip(id, "playAudio "+playStalled)
	}
	for _, name := range marks {
		s.SendText(protocol.MarkEvent(name, "cleared"))
	}
	if len(clips) == 0 {
		s.refuse("audio " + playStalled)
	}
}

// emit frames the captured audio and sends every whole wire frame.
func (s *Stream) emit(conn *websocket.Conn, flush bool) error {
	f := s.frame
	for !s.limited {
		caller, other, ok := f.next(flush)
		if !ok {
			break
		}
		f.add(caller, other)
		ms := s.mediaMs.Add(20)
		s.checkSilence(caller)
		if max := s.cfg.MaxLength; max > 0 && time.Duration(ms)*time.Millisecond >= max {
			s.limited = true
			s.end(ReasonMaxLength, "")
		}
		for frame := f.wireFrame(false); frame != nil; frame = f.wireFrame(false) {
			if err := s.writeAudio(conn, frame); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSilence ends the listen after cfg.Timeout of continuous caller audio
// at or below the silence threshold.
func (s *Stream) checkSilence(caller []int16) {
	if s.cfg.Timeout <= 0 {
		return
	}
	if pcm.Energy(caller) > s.cfg.SilenceDb {
		s.silentMs = 0
		return
	}
	s.silentMs += 20
	if time.Duration(s.silentMs)*time.Millisecond >= s.cfg.Timeout {
		s.limited = true
		s.end(ReasonTimeout, "")
	}
}

func (s *Stream) writeAudio(conn *websocket.Conn, frame []byte) error {
	s.remember(frame)
	s.wireFrames++
	if err := s.send(conn, websocket.BinaryMessage, frame); err != nil {
		return err
	}
	s.framesSent.Add(1)
	return nil
}

// pumpDTMF reports each digit, and ends the listen on a finishOnKey key
// (after the digit's frame, so the server sees the key that ended it).
func (s *Stream) pumpDTMF(conn *websocket.Conn) error {
	for {
		digit, duration, ok := s.media.PopDTMF()
		if !ok {
			return nil
		}
		if s.limited {
			continue // the listen is over; digits after its end are not part of it
		}
		s.event("dtmf", map[string]any{"dtmf": string(rune(digit)), "duration": duration})
		if s.cfg.PassDtmf {
			if err := s.send(conn, websocket.TextMessage, protocol.DTMF(digit, duration)); err != nil {
				return err
			}
		}
		if strings.IndexByte(s.cfg.FinishOnKey, digit) >= 0 {
			s.limited = true
			s.end(ReasonFinishOnKey, "")
			// The key is the outcome's only if it ended the listen; end
			// has returned, so the reason it recorded is safe to read.
			if s.outcome.Reason == ReasonFinishOnKey {
				s.outcome.Digits = string(rune(digit))
			}
		}
	}
}

func (s *Stream) writeOutbox(conn *websocket.Conn) error {
	s.outMu.Lock()
	out := s.outbox
	s.outbox = nil
	s.outMu.Unlock()
	for _, m := range out {
		if err := s.send(conn, websocket.TextMessage, m); err != nil {
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
		s.event(n.Event, body)
		if n.Frame != nil {
			s.outMu.Lock()
			s.outbox = append(s.outbox, n.Frame)
			s.outMu.Unlock()
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
