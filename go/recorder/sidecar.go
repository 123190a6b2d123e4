package recorder

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// Sidecar is the JSON file beside each recording: what the call said about
// itself and what happened to its stream.
type Sidecar struct {
	ID   string `json:"id"`   // the recording's place in the tree, e.g. 2026/05/01/134502-9f2c4e1a7b3d
	File string `json:"file"` // the audio file's name (.wav or .opus), beside the sidecar

	// First is the first frame of the first connection, as received: the
	// call's attributes and the listen's metadata.
	First   json.RawMessage `json:"first"`
	CallSid string          `json:"callSid,omitempty"`
	From    string          `json:"from,omitempty"`
	To      string          `json:"to,omitempty"`

	SampleRate int    `json:"sampleRate"`
	MixType    string `json:"mixType"`
	Channels   int    `json:"channels"`
	// Encoding is the stream's (l16, mulaw, alaw, opus); the recording
	// holds it decoded.
	Encoding string `json:"encoding,omitempty"`
	// InvalidPackets counts Opus frames that were not a valid 20 ms
	// packet: each is concealed (or silence) in the recording.
	InvalidPackets int64 `json:"invalidPackets,omitempty"`

	Start      time.Time  `json:"start"`
	End        *time.Time `json:"end,omitempty"`
	DurationMs int64      `json:"durationMs"` // of the audio, silence of gaps included
	Bytes      int64      `json:"bytes"`      // audio bytes in the WAV; the whole of an Ogg/Opus file

	Connections int          `json:"connections"`
	Resumptions []Resumption `json:"resumptions,omitempty"`
	Gaps        []Gap        `json:"gaps,omitempty"`
	LostMs      int64        `json:"lostMs"` // the sum of the resumptions' lostMs

	TextFrames int    `json:"textFrames"`
	Digits     string `json:"digits,omitempty"` // DTMF digits passed by the listen (passDtmf)

	// How the recording ended: "closed" (the listen closed its socket),
	// "connection_lost" (a dropped stream that did not come back within
	// the resume wait), "size_limit", "shutdown", "repaired".
	Ended       string `json:"ended,omitempty"`
	CloseCode   int    `json:"closeCode,omitempty"`
	CloseReason string `json:"closeReason,omitempty"`
}

// Resumption is one reconnection of the stream, as its first frame said.
type Resumption struct {
	At          time.Time `json:"at"`
	Reconnects  int       `json:"reconnects"`
	StartMs     int64     `json:"startMs"`
	LostMs      int64     `json:"lostMs"`
	BufferedMs  int64     `json:"bufferedMs"`
	DuplicateMs int64     `json:"duplicateMs"` // audio sent again that the recording already had, dropped
}

// Gap is silence in the recording standing for audio that never arrived.
type Gap struct {
	AtMs int64 `json:"atMs"` // where in the recording the silence starts
	Ms   int64 `json:"ms"`
	// "lost": audio the listen dropped during an outage (its lostMs);
	// "missing": audio sent before a drop that never arrived.
	Cause string `json:"cause"`
}

// writeJSON writes v to path atomically: a reader (or a crash) sees the old
// file or the new one, never half of one.
func writeJSON(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // the metadata as the call sent it; the page escapes what it shows
	if err := enc.Encode(v); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ReadSidecar reads a recording's sidecar.
func ReadSidecar(path string) (*Sidecar, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Sidecar
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func syncDir(dir string) {
	if d, err := os.Open(filepath.Clean(dir)); err == nil {
		d.Sync()
		d.Close()
	}
}
