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

	"github.com/modlisten/mod_listen/go/config"
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

// Initial is the first text frame: sampleRate and mixType, the call's
// attributes, then extra keys (e.g. a resumption notice), then metadata
// shallow-merged last (its keys win).
func Initial(sampleRate int, mixType string, call *Object, extra *Object, metadata json.RawMessage) ([]byte, error) {
	meta, err := ParseObject(metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	o := &Object{values: map[string]json.RawMessage{}}
	o.Set("sampleRate", raw(sampleRate))
	o.Set("mixType", raw(mixType))
	for _, src := range []*Object{call, extra, meta} {
		if src == nil {
			continue
		}
		for _, k := range src.keys {
			o.Set(k, src.values[k])
		}
	}
	// The audio's format is a fact, not an attribute: nothing may misstate it.
	o.Set("sampleRate", raw(sampleRate))
	o.Set("mixType", raw(mixType))
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
// as leniently as can be so that its refusal names it; nil when there is none.
func ClipID(data []byte) json.RawMessage {
	var m struct {
		Type string `json:"type"`
		Data struct {
			ID json.RawMessage `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(data, &m) != nil || m.Type != PlayAudio || len(m.Data.ID) == 0 || string(m.Data.ID) == "null" {
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

// Clip is decoded playAudio audio: 16-bit PCM, channels interleaved.
type Clip struct {
	ID       json.RawMessage // the server's id, echoed in playDone
	Rate     int
	Channels int
	Samples  []int16
}

// Parse reads a server text frame. Errors are meant for the server: they name
// what is wrong in its message.
func Parse(frame []byte) (Message, error) {
	m := Message{Raw: frame}
	var env struct {
		Type json.RawMessage `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		return m, fmt.Errorf("invalid JSON: %v", err)
	}
	if len(env.Type) == 0 || string(env.Type) == "null" {
		return m, errors.New(`message has no "type"`)
	}
	if json.Unmarshal(env.Type, &m.Type) != nil {
		return m, fmt.Errorf(`"type" must be a string (got %s)`, env.Type)
	}
	m.Data = env.Data
	var err error
	switch m.Type {
	case PlayAudio:
		m.Clip, err = parsePlay(env.Data)
	case Mark:
		var d struct {
			Name json.RawMessage `json:"name"`
		}
		if json.Unmarshal(env.Data, &d) != nil || len(d.Name) == 0 || string(d.Name) == "null" {
			err = errors.New(`mark: "data.name" is missing`)
		}
		m.Name = d.Name
	}
	return m, err
}

func parsePlay(data json.RawMessage) (*Clip, error) {
	var d struct {
		AudioContent     *string         `json:"audioContent"`
		AudioContentType string          `json:"audioContentType"`
		SampleRate       json.RawMessage `json:"sampleRate"`
		ID               json.RawMessage `json:"id"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return nil, errors.New(`playAudio: "data" must be an object`)
	}
	if d.AudioContent == nil {
		return nil, errors.New(`playAudio: "data.audioContent" is missing`)
	}
	pcm, err := base64.StdEncoding.DecodeString(*d.AudioContent)
	if err != nil {
		return nil, fmt.Errorf(`playAudio: "data.audioContent" is not valid base64: %v`, err)
	}
	c := &Clip{ID: d.ID, Channels: 1}
	if string(c.ID) == "null" {
		c.ID = nil
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
		c.Rate = rate
		c.Samples = pcmSamples(pcm)
	case "wav", "wave":
		a, err := wav.Parse(pcm)
		if err != nil {
			return nil, fmt.Errorf("playAudio: %v", err)
		}
		if _, err := Rate(raw(a.Rate)); err != nil {
			return nil, fmt.Errorf("playAudio: WAV sample rate %v", err)
		}
		c.Rate, c.Channels, c.Samples = a.Rate, a.Channels, a.Samples
	case "":
		return nil, errors.New(`playAudio: "data.audioContentType" is missing ("raw", "wav" or "wave")`)
	default:
		return nil, fmt.Errorf(`playAudio: unknown "data.audioContentType" %q ("raw", "wav" or "wave")`, d.AudioContentType)
	}
	return c, nil
}

func pcmSamples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return out
}

// Rate reads a playback sample rate given as a number or a string.
func Rate(v json.RawMessage) (int, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return 0, fmt.Errorf("must be a number, got %s", v)
		}
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, fmt.Errorf("must be a number, got %s", v)
		}
	}
	for _, r := range config.PlayRates {
		if f == float64(r) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("must be one of 8000, 16000, 24000, 32000, 48000, 64000 (got %s)", v)
}
