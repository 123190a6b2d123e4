// Package transcribe turns a listen's audio into live transcripts: one
// connection to a speech-to-text service per listen, fed from a bounded ring
// so that a slow or dead recognizer never holds up the listen's own stream.
// Each vendor's protocol is one file, registered by name.
package transcribe

import (
	"fmt"
	"sort"
	"strings"

	"github.com/modlisten/mod_listen/go/config"
)

// Alternative is one hypothesis of what was said.
type Alternative struct {
	Transcript string  `json:"transcript"`
	Confidence float64 `json:"confidence"`
}

// Transcript is one result of a recognizer.
type Transcript struct {
	Final        bool
	Channel      int // index in the audio sent: 0, or 1 for the second of two
	Alternatives []Alternative
	// StartMs is where the utterance begins in the audio sent, when the
	// vendor says (-1 otherwise). A Vendor gives it within the connection;
	// the Recognizer makes it a time in the call, across reconnects.
	StartMs int64
	// SpeechFinal says the speaker paused (an endpoint), when the vendor
	// says (nil otherwise).
	SpeechFinal *bool
}

// Vendor speaks one recognizer's protocol. Its methods are called from one
// goroutine at a time and must not block.
type Vendor interface {
	// Endpoint is the URL to dial and the upgrade's headers (the key among them).
	Endpoint() (url string, header map[string]string)
	// Start is the text frame sent first, nil for none.
	Start() []byte
	// KeepAlive is the text frame that keeps the connection open while no
	// audio is sent, nil for none.
	KeepAlive() []byte
	// Finish is the text frame that says no more audio will come.
	Finish() []byte
	// Parse reads one text message: the transcripts in it, or the failure
	// the recognizer reports. Messages of no interest give neither.
	Parse(msg []byte) ([]Transcript, error)
}

// Format is the audio a vendor is sent.
type Format struct {
	Rate     int
	Channels int // 1, or 2 (left: caller, right: the other party)
}

type constructor func(r config.Recognizer, f Format) (Vendor, error)

var vendors = map[string]constructor{}

// register makes a vendor known by name; each vendor file calls it once.
func register(name string, c constructor) { vendors[name] = c }

// NewVendor checks r against what its vendor needs and returns the vendor.
func NewVendor(r config.Recognizer) (Vendor, error) {
	c := vendors[r.Vendor]
	if c == nil {
		names := make([]string, 0, len(vendors))
		for n := range vendors {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf(`listen: "transcribe.recognizer.vendor" must be one of %s (got %q)`,
			strings.Join(names, ", "), r.Vendor)
	}
	return c(r, FormatOf(r))
}

// FormatOf is the audio a recognizer config asks for.
func FormatOf(r config.Recognizer) Format {
	f := Format{Rate: r.SampleRate, Channels: 1}
	if r.Channels == config.PartyBoth {
		f.Channels = 2
	}
	return f
}

// Party names who spoke on a channel of the audio sent.
func Party(r config.Recognizer, channel int) string {
	switch {
	case r.Channels == config.PartyBoth && channel == 1:
		return config.PartyCallee
	case r.Channels == config.PartyBoth:
		return config.PartyCaller
	default:
		return r.Channels
	}
}
