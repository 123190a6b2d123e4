package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// Parties a recognizer may hear (transcribe.recognizer.channels).
const (
	PartyCaller = "caller"
	PartyCallee = "callee"
	PartyBoth   = "both"
)

// DefaultFinalTimeout is how long an ending listen waits for the
// recognizer's last final transcript.
const DefaultFinalTimeout = 2 * time.Second

// Transcribe is the listen's nested transcribe command.
type Transcribe struct {
	Hook         *Hook // transcriptionHook: one POST per transcript
	Forward      bool  // transcripts also go to the listen's server as text frames
	FinalTimeout time.Duration
	Recognizer   Recognizer
}

// Recognizer says which speech-to-text service hears the call and how. The
// vendor's own package checks what it needs of the rest.
type Recognizer struct {
	Vendor     string
	URL        string // "" : the vendor's default endpoint, if it has one
	APIKey     string
	Language   string
	Model      string
	Interim    bool
	Punctuate  bool
	Channels   string // PartyCaller, PartyCallee or PartyBoth
	SampleRate int    // 8000 or 16000
	Reconnect  Reconnect
}

// RecognizerRates are the rates a recognizer may ask for.
var RecognizerRates = []int{8000, 16000}

// HearsOther reports whether the other party's audio is needed, by the
// stream's mix or by its recognizer.
func (l *Listen) HearsOther() bool {
	if l.MixType != Mono {
		return true
	}
	return l.Transcribe != nil && l.Transcribe.Recognizer.Channels != PartyCaller
}

// parseTranscribe reads a transcribe object over base, the settings' defaults
// (nil: none). With complete, what a recognizer cannot do without is required.
func parseTranscribe(raw json.RawMessage, base *Transcribe, complete bool) (*Transcribe, error) {
	raw = objectInString(raw)
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, fmt.Errorf(`listen: "transcribe" must be an object {"recognizer", "transcriptionHook", "forward", "finalTimeoutMs"}`)
	}
	t := &Transcribe{FinalTimeout: DefaultFinalTimeout,
		Recognizer: Recognizer{Language: "en-US", Channels: PartyCaller, SampleRate: 8000, Punctuate: true,
			Reconnect: Reconnect{Backoff: DefaultBackoff, Stable: DefaultStable}}}
	if base != nil {
		defaults := *base
		t = &defaults
	}
	for _, k := range sortedKeys(o) {
		v := o[k]
		key := "transcribe." + k
		var err error
		switch k {
		case "recognizer":
			err = t.Recognizer.set(v, base)
		case "transcriptionHook":
			if t.Hook, err = hook(objectInString(v), key); t.Hook != nil {
				t.Hook.Name = "transcription hook"
			}
		case "forward":
			t.Forward, err = boolean(v, key)
		case "finalTimeoutMs":
			t.FinalTimeout, err = millis(v, key, 0, 60000)
		default:
			err = fmt.Errorf("listen: unknown key %q", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if complete {
		r := &t.Recognizer
		if r.Vendor == "" {
			return nil, fmt.Errorf(`listen: "transcribe.recognizer.vendor" is required`)
		}
		if r.APIKey == "" {
			return nil, fmt.Errorf(`listen: "transcribe.recognizer.auth.apiKey" is required (in the listen, its profile or the settings' "transcribe")`)
		}
	}
	return t, nil
}

func (r *Recognizer) set(raw json.RawMessage, base *Transcribe) error {
	raw = objectInString(raw)
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return fmt.Errorf(`listen: "transcribe.recognizer" must be an object {"vendor", "url", "auth", "language", ...}`)
	}
	// The settings' endpoint and key belong to the settings' vendor: another
	// vendor named here starts without them.
	if v, ok := o["vendor"]; ok {
		vendor, err := str(v, "transcribe.recognizer.vendor")
		if err != nil {
			return err
		}
		if base != nil && base.Recognizer.Vendor != "" && vendor != base.Recognizer.Vendor {
			r.URL, r.APIKey, r.Model = "", "", ""
		}
	}
	for _, k := range sortedKeys(o) {
		v := o[k]
		key := "transcribe.recognizer." + k
		var err error
		switch k {
		case "vendor":
			r.Vendor, err = str(v, key)
		case "url":
			r.URL, err = wsURL(v, key)
		case "auth":
			err = r.setAuth(objectInString(v))
		case "language":
			r.Language, err = str(v, key)
		case "model":
			r.Model, err = str(v, key)
		case "interim":
			r.Interim, err = boolean(v, key)
		case "punctuate":
			r.Punctuate, err = boolean(v, key)
		case "channels":
			r.Channels, err = str(v, key)
			if err == nil && r.Channels != PartyCaller && r.Channels != PartyCallee && r.Channels != PartyBoth {
				err = fmt.Errorf(`listen: %q must be "caller", "callee" or "both" (got %q)`, key, r.Channels)
			}
		case "sampleRate":
			r.SampleRate, err = rateIn(v, key, RecognizerRates)
		case "reconnect":
			r.Reconnect, err = reconnect(objectInString(v), key, r.Reconnect)
		default:
			err = fmt.Errorf("listen: unknown key %q", key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Recognizer) setAuth(raw json.RawMessage) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return fmt.Errorf(`listen: "transcribe.recognizer.auth" must be an object {"apiKey"}`)
	}
	for k, v := range o {
		var err error
		switch k {
		case "apiKey":
			r.APIKey, err = str(v, "transcribe.recognizer.auth.apiKey")
		default:
			err = fmt.Errorf("listen: unknown key %q", "transcribe.recognizer.auth."+k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
