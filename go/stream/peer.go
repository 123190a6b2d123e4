package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modlisten/mod_listen/go/budget"
)

// What a server that sends without reading can make a stream hold: text
// frames waiting for it (send_text, playDone, mark answers, error frames),
// of which only the first error frames one by one, the rest merged.
const (
	outboxBytes  = 64 << 10
	outboxErrors = 16
)

// maxMessageBytes bounds a message passed to the host as a "message"
// event: what servers send for the application (transcriptions and the
// like) is small, and a host event is copied through the switch's event
// system.
const maxMessageBytes = 64 << 10

// refusalWindow: maxRefusals counts the refusals within this long, so a
// long call with an occasional bad message is not ended for it.
const refusalWindow = time.Minute

type refusalCount struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

// add counts one refusal and returns the count of the current window.
func (c *refusalCount) add(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.start) >= refusalWindow {
		c.start, c.n = now, 0
	}
	c.n++
	return c.n
}

// refuse tells the server and the host what was wrong with something the
// server sent; the stream goes on, unless the server keeps at it.
func (s *Stream) refuse(text string) { s.refuseClip(nil, text) }

// refuseClip is refuse for a clip: the error frame and event name its id
// (when it has one), so the server knows which of its clips will never be
// heard.
func (s *Stream) refuseClip(id json.RawMessage, text string) {
	s.tell(id, text)
	s.count(text)
}

// refuseErr refuses for err. The engine-wide budget running out is not the
// server's doing: it does not count towards maxRefusals, or one stream's
// flood would end the others' listens.
func (s *Stream) refuseErr(err error) { s.refuseClipErr(nil, err) }

func (s *Stream) refuseClipErr(id json.RawMessage, err error) {
	if errors.Is(err, budget.ErrExhausted) {
		s.tell(id, err.Error())
		return
	}
	s.refuseClip(id, err.Error())
}

// tell sends the refusal to the server and, within maxEventsPerSecond, to
// the host.
func (s *Stream) tell(id json.RawMessage, text string) {
	s.out.Refuse(id, text)
	s.signal()
	if s.peer.Allow("error", text) {
		s.log(4, "server message refused: "+text)
		body := map[string]any{"error": text}
		if id != nil {
			body["id"] = id
		}
		s.event("error", body)
	}
}

// count ends the listen once the server has sent more than maxRefusals
// refused messages within a minute.
func (s *Stream) count(text string) {
	limit := s.o.Settings.MaxRefusals
	if n := s.refusals.add(time.Now()); n == limit+1 {
		text := fmt.Sprintf("the server sent %d messages that were refused within a minute, over the limit of %d (maxRefusals); the last: %s",
			n, limit, text)
		s.log(3, text)
		s.event("error", map[string]any{"error": text})
		s.end(ReasonServerError, text)
	}
}

// peerEvent tells the host of something the server caused, within
// maxEventsPerSecond of each kind.
func (s *Stream) peerEvent(name string, body map[string]any) {
	if s.peer.Allow(name, "") {
		s.event(name, body)
	}
}

// suppressed is the summary of the events of one kind that went over
// maxEventsPerSecond in the last second; for refusals, last is the last one's text.
func (s *Stream) suppressed(name string, count int, last string) {
	body := map[string]any{"event": name, "count": count}
	if last != "" {
		body["last"] = last
	}
	s.event("suppressed", body)
	s.log(4, fmt.Sprintf("%d more %s events caused by the server in the last second were not reported (maxEventsPerSecond %d)",
		count, name, s.o.Settings.MaxEventsPerSecond))
}
