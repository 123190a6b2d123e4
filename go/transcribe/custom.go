package transcribe

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/peertext"
)

// custom is the jambonz custom speech-to-text WebSocket API: the key as a
// Bearer token on the upgrade, a "start" frame, binary LINEAR16 frames, a
// "stop" frame; the server sends "transcription" and "error" messages and
// closes the socket when it is done.
type custom struct {
	r    config.Recognizer
	rate int
}

func init() { register("custom", newCustom) }

func newCustom(r config.Recognizer, f Format) (Vendor, error) {
	if r.URL == "" {
		return nil, errors.New(`listen: "transcribe.recognizer.url" is required for vendor "custom"`)
	}
	if f.Channels != 1 {
		// The API's start message has no channel count: its audio is mono.
		return nil, errors.New(`listen: "transcribe.recognizer.channels" "both" needs a vendor that takes two channels (deepgram); "custom" takes one`)
	}
	return &custom{r: r, rate: f.Rate}, nil
}

func (c *custom) Endpoint() (string, map[string]string) {
	return c.r.URL, map[string]string{"Authorization": "Bearer " + c.r.APIKey}
}

func (c *custom) Start() []byte {
	b, _ := json.Marshal(struct {
		Type           string `json:"type"`
		Language       string `json:"language"`
		Format         string `json:"format"`
		Encoding       string `json:"encoding"`
		SampleRateHz   int    `json:"sampleRateHz"`
		InterimResults bool   `json:"interimResults"`
	}{"start", c.r.Language, "raw", "LINEAR16", c.rate, c.r.Interim})
	return b
}

func (c *custom) KeepAlive() []byte { return nil }

func (c *custom) Finish() []byte { return []byte(`{"type":"stop"}`) }

func (c *custom) Parse(msg []byte) ([]Transcript, error) {
	var m struct {
		Type         string        `json:"type"`
		IsFinal      bool          `json:"is_final"`
		Alternatives []Alternative `json:"alternatives"`
		Error        any           `json:"error"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, fmt.Errorf("the recognizer sent a message that is not JSON: %s", peertext.Show(string(msg)))
	}
	switch m.Type {
	case "transcription":
		return []Transcript{{Final: m.IsFinal, Alternatives: m.Alternatives, StartMs: -1}}, nil
	case "error":
		return nil, fmt.Errorf("the recognizer reported an error: %s", peertext.Show(errorText(m.Error, msg)))
	}
	return nil, nil
}

// errorText is a vendor's error field as text, or the whole message.
func errorText(v any, msg []byte) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v != nil {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return string(msg)
}
