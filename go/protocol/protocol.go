// Package protocol is the listen verb's wire format: the JSON text frames the
// engine sends to the server and the ones it accepts from it.
package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/oggopus"
	"github.com/modlisten/mod_listen/go/peertext"
	"github.com/modlisten/mod_listen/go/wav"
)

// Object is a JSON object whose keys keep their order, so the first frame
// reads as the call's attributes were given.
type Object struct {
	keys   []string
	values map[string]json.RawMessage
}

// ParseObject reads a JSON object keeping key order. Empty input is an empty object.
func ParseObject(data []byte) (*Object, error) {
	o := &Object{values: map[string]json.RawMessage{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return o, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o.Set(t.(string), v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return o, nil
}

// Set adds or replaces a key; a replaced key keeps its place.
func (o *Object) Set(key string, v json.RawMessage) {
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = v
}

// Clone returns a copy that can be changed without touching o.
func (o *Object) Clone() *Object {
	c := &Object{keys: append([]string(nil), o.keys...), values: make(map[string]json.RawMessage, len(o.values))}
	for k, v := range o.values {
		c.values[k] = v
	}
	return c
}

// Keys returns the keys in order.
func (o *Object) Keys() []string { return o.keys }

// Get returns the raw value of key.
func (o *Object) Get(key string) (json.RawMessage, bool) {
	v, ok := o.values[key]
	return v, ok
}

// MarshalJSON writes the object in key order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if err := json.Compact(&b, o.values[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Initial is the first text frame: sampleRate and mixType (and encoding,
// when the audio is not L16, which servers assume), the call's attributes,
// then extra keys (e.g. a resumption notice), then metadata shallow-merged
// last (its keys win).
func Initial(sampleRate int, mixType, encoding string, call *Object, extra *Object, metadata json.RawMessage) ([]byte, error) {
	meta, err := ParseObject(metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	o := &Object{values: map[string]json.RawMessage{}}
	format := func() {
		o.Set("sampleRate", raw(sampleRate))
		o.Set("mixType", raw(mixType))
		if encoding != config.L16 {
			o.Set("encoding", raw(encoding))
		}
	}
	format()
	for _, src := range []*Object{call, extra, meta} {
		if src == nil {
			continue
		}
		for _, k := range src.keys {
			o.Set(k, src.values[k])
		}
	}
	// The audio's format is a fact, not an attribute: nothing may misstate it.
	format()
	return o.MarshalJSON()
}

// DTMF is the frame passDtmf sends for each digit.
func DTMF(digit byte, duration uint32) []byte {
	return []byte(fmt.Sprintf(`{"event":"dtmf","dtmf":%s,"duration":"%d"}`, raw(string(rune(digit))), duration))
}

// PlayDone confirms a clip was played; id is the server's, when it gave one.
func PlayDone(id json.RawMessage) []byte {
	if id == nil {
		return []byte(`{"type":"playDone"}`)
	}
	return []byte(`{"type":"playDone","data":{"id":` + string(id) + `}}`)
}

// MarkEvent answers a mark: event is "playout" or "cleared".
func MarkEvent(name json.RawMessage, event string) []byte {
	return []byte(`{"type":"mark","data":{"name":` + string(name) + `,"event":"` + event + `"}}`)
}

// Error tells the server what was wrong with something it sent.
func Error(text string) []byte {
	return []byte(`{"type":"error","data":{"error":` + string(raw(text)) + `}}`)
}

// ClipError tells the server that a clip will not be played, naming it by
// its id when it had one.
func ClipError(id json.RawMessage, text string) []byte {
	if id == nil {
		return Error(text)
	}
	return []byte(`{"type":"error","data":{"error":` + string(raw(text)) + `,"id":` + string(id) + `}}`)
}

// ClipID is the id of a playAudio message that could not be parsed, read
// as leniently as can be so that its refusal names it; nil when there is
// none, or when it is too long to echo.
func ClipID(data []byte) json.RawMessage {
	var m struct {
		Type string `json:"type"`
		Data struct {
			ID json.RawMessage `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != PlayAudio || len(m.Data.ID) == 0 ||
		string(m.Data.ID) == "null" || nameBytes(m.Data.ID) > MaxNameBytes {
		return nil
	}
	return m.Data.ID
}

// Message types the engine acts on.
const (
	PlayAudio  = "playAudio"
	KillAudio  = "killAudio"
	Disconnect = "disconnect"
	Mark       = "mark"
	Clear      = "clear"
	ErrorType  = "error"
)

// Message is one text frame from the server.
type Message struct {
	Type string
	Data json.RawMessage // the "data" member, if any
	Raw  []byte          // the whole frame, for events
	Clip *Clip           // playAudio
	Name json.RawMessage // mark
}

// MaxNameBytes bounds a mark's name and a clip's id: both are echoed back
// to the server and to the host.
const MaxNameBytes = 256

// Clip is playAudio audio as received: its format and length are known from
// the header and the lengths, before anything is decoded, so limits are
// checked before the work.
type Clip struct {
	ID       json.RawMessage // the server's id, echoed in playDone
	Rate     int
	Channels int
	Frames   int // samples per channel

	content  string // base64
	offset   int    // of the first sample in the decoded bytes
	encoding string // of the samples: config.L16, Mulaw or Alaw
	ogg      *oggopus.File
	oggSize  int // bytes of the Ogg file, held until the clip is decoded
}

// Seconds is the clip's length.
func (c *Clip) Seconds() float64 { return float64(c.Frames) / float64(c.Rate) }

// DecodeBytes is the memory Decode allocates (and, for Ogg, the file held
// until then).
func (c *Clip) DecodeBytes() int {
	if c.ogg != nil {
		return c.oggSize + 2*c.Frames
	}
	return 2*c.Frames*c.Channels + 2*decodeChunk
}

// decodeChunk: base64 characters decoded at a time, straight into the
// clip's samples: the decoded bytes are never held whole.
const decodeChunk = 4096

// Decode returns the audio: 16-bit PCM, channels interleaved.
func (c *Clip) Decode() ([]int16, error) {
	if c.ogg != nil {
		pcm, err := c.ogg.Decode()
		if err != nil {
			return nil, fmt.Errorf("playAudio: %v", err)
		}
		return pcm, nil
	}
	out := make([]int16, c.Frames*c.Channels)
	content := c.content
	if strings.ContainsAny(content, "\r\n") {
		content = strings.NewReplacer("\r", "", "\n", "").Replace(content)
	}
	src := make([]byte, decodeChunk)
	dst := make([]byte, decodeChunk/4*3)
	pos, k := 0, 0 // decoded bytes so far, samples written
	for i := 0; i < len(content) && k < len(out); i += decodeChunk {
		m := copy(src, content[i:])
		n, err := base64.StdEncoding.Decode(dst, src[:m])
		if err == nil && n < len(dst) && i+m < len(content) {
			err = base64.CorruptInputError(m - 1) // padding before the end
		}
		if e, ok := err.(base64.CorruptInputError); ok {
			err = base64.CorruptInputError(int64(e) + int64(i))
		}
		if err != nil {
			return nil, fmt.Errorf(`playAudio: "data.audioContent" is not valid base64: %v`, err)
		}
		// The audio starts at an even offset and chunks decode to an even
		// length, so samples never straddle two chunks.
		switch j := max(c.offset-pos, 0); c.encoding {
		case config.Mulaw:
			k += len(g711.DecodeMulawFrame(out[k:k], dst[j:min(n, j+len(out)-k)]))
		case config.Alaw:
			k += len(g711.DecodeAlawFrame(out[k:k], dst[j:min(n, j+len(out)-k)]))
		default:
			for ; j+1 < n && k < len(out); j += 2 {
				out[k] = int16(uint16(dst[j]) | uint16(dst[j+1])<<8)
				k++
			}
		}
		pos += n
	}
	if k < len(out) {
		return nil, errors.New(`playAudio: "data.audioContent" is shorter than its length says`)
	}
	return out, nil
}

// Parse reads a server text frame. Errors are meant for the server: they name
// what is wrong in its message, and show its values only shortened and
// escaped (they also reach the switch's log).
func Parse(frame []byte) (Message, error) {
	m := Message{Raw: frame}
	if !utf8.Valid(frame) {
		return m, errors.New("message is not valid UTF-8")
	}
	// The type first, alone: a playAudio's data is read once, into its
	// fields, not copied whole beforehand.
	var env struct {
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return m, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(env.Type) == 0 || string(env.Type) == "null" {
		return m, errors.New(`message has no "type"`)
	}
	if json.Unmarshal(env.Type, &m.Type) != nil {
		return m, fmt.Errorf(`"type" must be a string (got %s)`, peertext.Show(string(env.Type)))
	}
	if m.Type == PlayAudio {
		var err error
		m.Clip, err = parsePlay(frame)
		return m, err
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(frame, &body)
	m.Data = body.Data
	var err error
	if m.Type == Mark {
		var d struct {
			Name json.RawMessage `json:"name"`
		}
		switch {
		case json.Unmarshal(m.Data, &d) != nil || len(d.Name) == 0 || string(d.Name) == "null":
			err = errors.New(`mark: "data.name" is missing`)
		case nameBytes(d.Name) > MaxNameBytes:
			err = fmt.Errorf(`mark: "data.name" is longer than %d bytes`, MaxNameBytes)
		}
		m.Name = d.Name
	}
	return m, err
}

// nameBytes is the length of a name: a string's own bytes, or the JSON's.
func nameBytes(v json.RawMessage) int {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return len(s)
	}
	return len(v)
}

// wavPrefix: how much of a WAV clip is decoded to read its header.
const wavPrefix = 4096

func parsePlay(frame []byte) (*Clip, error) {
	var msg struct {
		Data *struct {
			AudioContent     *string         `json:"audioContent"`
			AudioContentType string          `json:"audioContentType"`
			SampleRate       json.RawMessage `json:"sampleRate"`
			ID               json.RawMessage `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(frame, &msg) != nil || msg.Data == nil {
		return nil, errors.New(`playAudio: "data" must be an object`)
	}
	d := msg.Data
	if d.AudioContent == nil {
		return nil, errors.New(`playAudio: "data.audioContent" is missing`)
	}
	c := &Clip{ID: d.ID, Channels: 1, content: *d.AudioContent, encoding: config.L16}
	if string(c.ID) == "null" {
		c.ID = nil
	}
	if nameBytes(c.ID) > MaxNameBytes {
		return nil, fmt.Errorf(`playAudio: "data.id" is longer than %d bytes`, MaxNameBytes)
	}
	total, err := decodedLen(c.content)
	if err != nil {
		return nil, err
	}
	switch d.AudioContentType {
	case "raw":
		if len(d.SampleRate) == 0 {
			return nil, errors.New(`playAudio: "data.sampleRate" is missing (required for raw audio)`)
		}
		rate, err := Rate(d.SampleRate)
		if err != nil {
			return nil, fmt.Errorf(`playAudio: "data.sampleRate" %v`, err)
		}
		c.Rate, c.Frames = rate, total/2
	case config.Mulaw, config.Alaw:
		if len(d.SampleRate) > 0 {
			if rate, err := Rate(d.SampleRate); err != nil || rate != config.G711Rate {
				return nil, fmt.Errorf(`playAudio: "data.sampleRate" must be 8000 for %s audio (got %s)`, d.AudioContentType, peertext.Show(string(d.SampleRate)))
			}
		}
		c.Rate, c.Frames, c.encoding = config.G711Rate, total, d.AudioContentType
	case "wav", "wave":
		// Only the header is decoded here; the length comes from the
		// content's length.
		head := c.content[:min(len(c.content), wavPrefix)]
		prefix, err := base64.StdEncoding.DecodeString(head[:len(head)&^3])
		if err != nil {
			return nil, fmt.Errorf(`playAudio: "data.audioContent" is not valid base64: %v`, err)
		}
		h, err := wav.ParseHeader(prefix, total)
		if err != nil {
			return nil, fmt.Errorf("playAudio: %v", err)
		}
		if _, err := Rate(raw(h.Rate)); err != nil {
			return nil, fmt.Errorf("playAudio: WAV sample rate %v", err)
		}
		c.Rate, c.Channels, c.Frames, c.offset = h.Rate, h.Channels, h.Frames(), h.DataOffset
	case "ogg", "opus":
		// An Ogg file is compressed: its length is known only from its last
		// page, so the whole file is decoded from base64 (not its audio).
		file, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(c.content))
		if err != nil {
			return nil, fmt.Errorf(`playAudio: "data.audioContent" is not valid base64: %v`, err)
		}
		if c.ogg, err = oggopus.Parse(file); err != nil {
			return nil, fmt.Errorf("playAudio: %v", err)
		}
		c.Rate, c.Frames, c.oggSize = oggopus.Rate, c.ogg.Samples, len(file)
	case "":
		return nil, errors.New(`playAudio: "data.audioContentType" is missing ("raw", "mulaw", "alaw", "wav", "wave", "ogg" or "opus")`)
	default:
		return nil, fmt.Errorf(`playAudio: unknown "data.audioContentType" "%s" ("raw", "mulaw", "alaw", "wav", "wave", "ogg" or "opus")`, peertext.Show(d.AudioContentType))
	}
	return c, nil
}

// decodedLen is the length base64 text decodes to, from its length alone
// (line breaks are skipped by the decoder, and here).
func decodedLen(s string) (int, error) {
	n := len(s) - strings.Count(s, "\n") - strings.Count(s, "\r")
	if n%4 != 0 {
		return 0, fmt.Errorf(`playAudio: "data.audioContent" is not valid base64: its length (%d) is not a multiple of 4`, n)
	}
	pad := 0
	for i := len(s) - 1; i >= 0 && pad < 2; i-- {
		if s[i] == '=' {
			pad++
		} else if s[i] != '\n' && s[i] != '\r' {
			break
		}
	}
	return n/4*3 - pad, nil
}

// Rate reads a playback sample rate given as a number or a string.
func Rate(v json.RawMessage) (int, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, fmt.Errorf("must be a number, got %s", peertext.Show(string(v)))
		}
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, fmt.Errorf("must be a number, got %s", peertext.Show(string(v)))
		}
	}
	for _, r := range config.PlayRates {
		if f == float64(r) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("must be one of 8000, 16000, 24000, 32000, 48000, 64000 (got %s)", peertext.Show(string(v)))
}
