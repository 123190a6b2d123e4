package stream

import (
	"strings"
	"time"
)

// applyRules ends the listen on finishOnKey, maxLength and the silence
// timeout, and reports DTMF. It runs on the pacer's goroutine and reads the
// host's rings directly, in media time, so it goes on while the writer is
// blocked on a server that has stopped reading.
func (s *Stream) applyRules() {
	mediaMs := int64(s.media.Captured()) * 20
	for {
		digit, duration, ok := s.media.PopDTMF()
		if !ok {
			break
		}
		if s.isEnded() {
			continue // digits after the listen's end are not part of it
		}
		s.event("dtmf", map[string]any{"dtmf": string(rune(digit)), "duration": duration})
		if s.cfg.PassDtmf {
			// Past a full outbox it is dropped and counted, and the
			// server told how many when it reads again.
			s.out.Answer(s.wf.dtmf(digit, duration))
			s.signal()
		}
		if strings.IndexByte(s.cfg.FinishOnKey, digit) >= 0 {
			s.endByRule(Outcome{Reason: ReasonFinishOnKey, Digits: string(rune(digit))}, mediaMs)
		}
	}
	if max := s.cfg.MaxLength; max > 0 && time.Duration(mediaMs)*time.Millisecond >= max {
		s.endByRule(Outcome{Reason: ReasonMaxLength}, max.Milliseconds())
	}
	if t := s.cfg.Timeout; t > 0 && time.Duration(s.media.SilentRun()*20)*time.Millisecond >= t {
		s.endByRule(Outcome{Reason: ReasonTimeout}, mediaMs)
	}
}

// endByRule ends the listen, and the audio sent with it at atMs of media time.
func (s *Stream) endByRule(o Outcome, atMs int64) {
	if s.isEnded() {
		return
	}
	s.cutMs.CompareAndSwap(0, atMs)
	s.endWith(o)
}

// limitMs is the media time after which no audio is framed (0: none yet).
func (s *Stream) limitMs() int64 {
	lim := s.cutMs.Load()
	if max := s.cfg.MaxLength.Milliseconds(); max > 0 && (lim == 0 || max < lim) {
		lim = max
	}
	return lim
}
