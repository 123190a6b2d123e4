package transcribe

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/peertext"
)

// DeepgramURL is Deepgram's live streaming endpoint.
const DeepgramURL = "wss://api.deepgram.com/v1/listen"

// deepgram is Deepgram's live streaming API: the options as query
// parameters, the key in a "Token" Authorization header, binary audio,
// "KeepAlive" while no audio is sent, "CloseStream" at the end; the server
// sends "Results" (and "Metadata", "SpeechStarted", "UtteranceEnd", of no
// interest here) and closes the socket after the last of them; a failure is
// a close frame with a code and a reason.
type deepgram struct {
	url string
	key string
}

func init() { register("deepgram", newDeepgram) }

func newDeepgram(r config.Recognizer, f Format) (Vendor, error) {
	base := r.URL
	if base == "" {
		base = DeepgramURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf(`listen: "transcribe.recognizer.url": %v`, err)
	}
	q := u.Query()
	q.Set("encoding", "linear16")
	q.Set("sample_rate", strconv.Itoa(f.Rate))
	q.Set("channels", strconv.Itoa(f.Channels))
	if f.Channels > 1 {
		q.Set("multichannel", "true")
	}
	if r.Language != "" {
		q.Set("language", r.Language)
	}
	if r.Model != "" {
		q.Set("model", r.Model)
	}
	q.Set("interim_results", strconv.FormatBool(r.Interim))
	q.Set("punctuate", strconv.FormatBool(r.Punctuate))
	u.RawQuery = q.Encode()
	return &deepgram{url: u.String(), key: r.APIKey}, nil
}

func (d *deepgram) Endpoint() (string, map[string]string) {
	return d.url, map[string]string{"Authorization": "Token " + d.key}
}

func (d *deepgram) Start() []byte { return nil }

func (d *deepgram) KeepAlive() []byte { return []byte(`{"type":"KeepAlive"}`) }

func (d *deepgram) Finish() []byte { return []byte(`{"type":"CloseStream"}`) }

func (d *deepgram) Parse(msg []byte) ([]Transcript, error) {
	var m struct {
		Type         string  `json:"type"`
		ChannelIndex []int   `json:"channel_index"`
		Start        float64 `json:"start"`
		IsFinal      bool    `json:"is_final"`
		SpeechFinal  bool    `json:"speech_final"`
		Channel      struct {
			Alternatives []Alternative `json:"alternatives"`
		} `json:"channel"`
	}
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, fmt.Errorf("the recognizer sent a message that is not JSON: %s", peertext.Show(string(msg)))
	}
	switch m.Type {
	case "Results":
		ch := 0
		if len(m.ChannelIndex) > 0 {
			ch = m.ChannelIndex[0]
		}
		start := int64(-1)
		if m.Start >= 0 && m.Start < math.MaxInt32 {
			start = int64(math.Round(m.Start * 1000))
		}
		return []Transcript{{Final: m.IsFinal, Channel: ch, Alternatives: m.Channel.Alternatives, StartMs: start,
			SpeechFinal: &m.SpeechFinal}}, nil
	}
	return nil, nil
}
