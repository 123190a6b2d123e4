// Package twilio is the Twilio Media Streams wire format: the JSON text
// messages Twilio sends a WebSocket server during a call (connected, start,
// media, dtmf, mark, stop) and the ones a bidirectional server sends back
// (media, mark, clear). Field names and types follow Twilio's message
// reference: sequenceNumber, chunk and timestamp are strings there, the
// media format's sampleRate and channels numbers.
package twilio

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modlisten/mod_listen/go/peertext"
	"github.com/modlisten/mod_listen/go/protocol"
)

// Rate is the only rate of a Twilio stream: µ-law at 8 kHz, mono per track.
const Rate = 8000

// Tracks: the caller's audio is Twilio's inbound track, what the caller
// hears its outbound one.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Session numbers and builds the messages of one stream. Opening, Media and
// Stop are for the one goroutine that writes the socket; DTMF and Mark may
// be called from any goroutine (they are numbered by Number as they are
// written).
type Session struct {
	StreamSid  string
	AccountSid string
	CallSid    string
	tracks     []string
	params     *protocol.Object // customParameters, every value a string

	seq   uint64    // sequence numbers used on this connection
	chunk [2]uint64 // chunks sent per track on this connection
	split []byte    // one track's payload of a two-track frame
	bufs  [2][]byte
	msgs  [][]byte

	unnumbered [2][]byte // the start of the DTMF and mark messages Number completes
}

// New prepares the messages of one stream. The call's attributes and the
// listen's metadata (whose keys win) become customParameters, as strings;
// the call's callSid becomes a Twilio call SID, and metadata may give the
// accountSid.
func New(call *protocol.Object, metadata json.RawMessage, twoTracks bool) (*Session, error) {
	meta, err := protocol.ParseObject(metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	s := &Session{StreamSid: "MZ" + randomHex(), AccountSid: "AC" + strings.Repeat("0", 32), tracks: []string{Inbound}}
	if twoTracks {
		s.tracks = append(s.tracks, Outbound)
	}
	s.params, _ = protocol.ParseObject(nil)
	var callID string
	for _, src := range []*protocol.Object{call, meta} {
		if src == nil {
			continue
		}
		for _, k := range src.Keys() {
			v, _ := src.Get(k)
			text := flatten(v)
			switch {
			case k == "callSid" && src == call:
				callID = text
				continue
			case k == "accountSid" && src == meta && isSid(text, "AC"):
				s.AccountSid = text
			}
			b, _ := json.Marshal(text)
			s.params.Set(k, b)
		}
	}
	s.CallSid = callSid(callID)
	for i, event := range []string{"dtmf", "mark"} {
		s.unnumbered[i] = []byte(`{"event":"` + event + `","streamSid":"` + s.StreamSid + `",`)
	}
	return s, nil
}

// flatten gives a JSON value as Twilio's custom parameters carry it: a
// string as itself, anything else as its JSON text.
func flatten(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isSid(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

// callSid makes a Twilio call SID ("CA" and 32 hex digits) of the call's id:
// itself when it is one, a UUID's digits, else a digest of it; a random one
// when the call has none.
func callSid(id string) string {
	if isSid(id, "CA") {
		return id
	}
	if digits := strings.ReplaceAll(id, "-", ""); len(id) == 36 && len(digits) == 32 {
		if _, err := hex.DecodeString(digits); err == nil {
			return "CA" + strings.ToLower(digits)
		}
	}
	if id == "" {
		return "CA" + randomHex()
	}
	sum := sha256.Sum256([]byte(id))
	return "CA" + hex.EncodeToString(sum[:16])
}

func (s *Session) next() string {
	s.seq++
	return strconv.FormatUint(s.seq, 10)
}

func str(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Opening is the first two messages of a connection, connected and start;
// numbering starts again with each connection. extra (a resumption notice)
// is added to the customParameters.
func (s *Session) Opening(extra *protocol.Object) [][]byte {
	s.seq, s.chunk = 0, [2]uint64{}
	params := s.params
	if extra != nil {
		params = s.params.Clone()
		for _, k := range extra.Keys() {
			v, _ := extra.Get(k)
			b, _ := json.Marshal(flatten(v))
			params.Set(k, b)
		}
	}
	p, _ := params.MarshalJSON()
	tracks, _ := json.Marshal(s.tracks)
	connected := `{"event":"connected","protocol":"Call","version":"1.0.0"}`
	start := `{"event":"start","sequenceNumber":"` + s.next() + `","start":{"accountSid":"` + s.AccountSid +
		`","streamSid":"` + s.StreamSid + `","callSid":"` + s.CallSid + `","tracks":` + string(tracks) +
		`,"customParameters":` + string(p) +
		`,"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"` + s.StreamSid + `"}`
	return [][]byte{[]byte(connected), []byte(start)}
}

// Media returns the media messages of one 20 ms frame of µ-law (the two
// tracks' bytes interleaved when the stream has two), the frame index-th
// since the stream began. The messages are reused by the next call.
func (s *Session) Media(index uint64, frame []byte) [][]byte {
	n := len(s.tracks)
	ts := strconv.FormatUint(index*20, 10)
	s.msgs = s.msgs[:0]
	for t := range n {
		payload := frame
		if n == 2 {
			s.split = s.split[:0]
			for i := t; i < len(frame); i += 2 {
				s.split = append(s.split, frame[i])
			}
			payload = s.split
		}
		s.chunk[t]++
		b := s.bufs[t][:0]
		b = append(b, `{"event":"media","sequenceNumber":"`...)
		b = strconv.AppendUint(b, s.seq+1, 10)
		s.seq++
		b = append(b, `","media":{"track":"`...)
		b = append(b, s.tracks[t]...)
		b = append(b, `","chunk":"`...)
		b = strconv.AppendUint(b, s.chunk[t], 10)
		b = append(b, `","timestamp":"`...)
		b = append(b, ts...)
		b = append(b, `","payload":"`...)
		b = base64.StdEncoding.AppendEncode(b, payload)
		b = append(b, `"},"streamSid":"`...)
		b = append(b, s.StreamSid...)
		b = append(b, `"}`...)
		s.bufs[t] = b
		s.msgs = append(s.msgs, b)
	}
	return s.msgs
}

// DTMF is the message for a digit on the caller's track; Number completes it.
func (s *Session) DTMF(digit byte) []byte {
	return []byte(string(s.unnumbered[0]) + `"dtmf":{"track":"inbound_track","digit":` + str(string(rune(digit))) + `}}`)
}

// Mark echoes a mark once the audio before it has been played (or cleared);
// Number completes it.
func (s *Session) Mark(name json.RawMessage) []byte {
	return []byte(string(s.unnumbered[1]) + `"mark":{"name":` + string(name) + `}}`)
}

// Number gives a DTMF or mark message its sequence number as it is written;
// other frames (the host's own) are returned as they are.
func (s *Session) Number(frame []byte) []byte {
	for _, p := range s.unnumbered {
		if bytes.HasPrefix(frame, p) {
			out := make([]byte, 0, len(frame)+32)
			out = append(out, p...)
			out = append(out, `"sequenceNumber":"`+s.next()+`",`...)
			return append(out, frame[len(p):]...)
		}
	}
	return frame
}

// Stop is the last message of a stream.
func (s *Session) Stop() []byte {
	return []byte(`{"event":"stop","sequenceNumber":"` + s.next() + `","streamSid":"` + s.StreamSid +
		`","stop":{"accountSid":"` + s.AccountSid + `","callSid":"` + s.CallSid + `"}}`)
}

// Events a bidirectional server sends that the engine acts on.
const (
	EventMedia = "media"
	EventMark  = "mark"
	EventClear = "clear"
)

// Message is one text frame from the server.
type Message struct {
	Event   string
	Raw     []byte
	Name    json.RawMessage // mark.name
	payload string          // media.payload, base64
}

// Parse reads a server text frame. Errors are meant for the host's log and
// events: they name what is wrong, and show the server's values only
// shortened and escaped.
func Parse(frame []byte) (Message, error) {
	m := Message{Raw: frame}
	if !utf8.Valid(frame) {
		return m, errors.New("message is not valid UTF-8")
	}
	var msg struct {
		Event json.RawMessage `json:"event"`
		Media *struct {
			Payload json.RawMessage `json:"payload"`
		} `json:"media"`
		Mark *struct {
			Name json.RawMessage `json:"name"`
		} `json:"mark"`
	}
	if err := json.Unmarshal(frame, &msg); err != nil {
		return m, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(msg.Event) == 0 || string(msg.Event) == "null" {
		return m, errors.New(`message has no "event"`)
	}
	if json.Unmarshal(msg.Event, &m.Event) != nil {
		return m, fmt.Errorf(`"event" must be a string (got %s)`, peertext.Show(string(msg.Event)))
	}
	switch m.Event {
	case EventMedia:
		if msg.Media == nil || len(msg.Media.Payload) == 0 || string(msg.Media.Payload) == "null" {
			return m, errors.New(`media: "media.payload" is missing`)
		}
		if json.Unmarshal(msg.Media.Payload, &m.payload) != nil {
			return m, fmt.Errorf(`media: "media.payload" must be a string of base64 (got %s)`, peertext.Show(string(msg.Media.Payload)))
		}
	case EventMark:
		if msg.Mark == nil || len(msg.Mark.Name) == 0 || string(msg.Mark.Name) == "null" {
			return m, errors.New(`mark: "mark.name" is missing`)
		}
		if len(msg.Mark.Name) > protocol.MaxNameBytes {
			return m, fmt.Errorf(`mark: "mark.name" is longer than %d bytes`, protocol.MaxNameBytes)
		}
		m.Name = msg.Mark.Name
	}
	return m, nil
}

// PayloadLen is the number of µ-law samples a media message holds, from
// the length of its base64 alone, so it can be refused before decoding.
func (m Message) PayloadLen() (int, error) {
	n := len(m.payload)
	// The decoder would skip line breaks, and the length would be wrong.
	if strings.ContainsAny(m.payload, "\r\n") {
		return 0, errors.New(`media: "media.payload" is not valid base64: it holds a line break`)
	}
	if n%4 != 0 {
		return 0, fmt.Errorf(`media: "media.payload" is not valid base64: its length (%d) is not a multiple of 4`, n)
	}
	return base64.StdEncoding.DecodedLen(n) - strings.Count(m.payload[max(n-2, 0):], "="), nil
}

// Payload decodes the media message's µ-law bytes into dst (PayloadLen long).
func (m Message) Payload(dst []byte) ([]byte, error) {
	n, err := base64.StdEncoding.Decode(dst, []byte(m.payload))
	if err != nil {
		return nil, fmt.Errorf(`media: "media.payload" is not valid base64: %v`, err)
	}
	return dst[:n], nil
}
