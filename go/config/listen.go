package config

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/modlisten/mod_listen/go/redact"
)

// Mix types of the spec.
const (
	Mono   = "mono"
	Stereo = "stereo"
	Mixed  = "mixed"
)

// Protocols spoken to the server.
const (
	Jambonz = "jambonz"
	Twilio  = "twilio" // Twilio Media Streams
)

// StreamRates are the sampleRate values the spec allows for audio sent to the server.
var StreamRates = []int{8000, 16000, 24000, 48000, 64000}

// PlayRates are the rates the server may declare for audio it sends back.
var PlayRates = []int{8000, 16000, 24000, 32000, 48000, 64000}

// CodecRates are the call rates a host may hand over.
var CodecRates = []int{8000, 16000, 24000, 32000, 48000}

// Hook is where the action hook goes.
type Hook struct {
	URL      string
	Method   string
	Username string
	Password string
	Name     string // what errors call it; "" : "action hook"
}

// Listen is one listen verb, validated, with the settings' defaults applied.
type Listen struct {
	URL          string
	Protocol     string
	Encoding     string // of the audio sent: L16, Mulaw, Alaw or OpusCode
	MixType      string
	SampleRate   int
	Opus         Opus            // the encoder's options, when Encoding is OpusCode
	Metadata     json.RawMessage // a JSON object merged into the first frame, last
	Username     string
	Password     string
	Subprotocols []string
	PassDtmf     bool
	FinishOnKey  string
	MaxLength    time.Duration // 0: no limit
	Timeout      time.Duration // silence that ends the listen; 0: never
	PlayBeep     bool
	ActionHook   *Hook

	// Bidirectional audio (bidirectionalAudio: {enabled, streaming, sampleRate, encoding, jitterMs}).
	Playback      bool
	PlaybackAsked bool // enabled in so many words, not by default
	Streaming     bool
	StreamingRate int
	// StreamingEncoding is L16 (binary frames of PCM at StreamingRate) or
	// OpusCode (one Opus packet per frame, any rate).
	StreamingEncoding string
	JitterMs          int
	SilenceDb         float64
	IgnoredKeys       []string // accepted for compatibility, not acted on

	TLS       TLS
	Headers   map[string]string
	Reconnect Reconnect
	// PingInterval is how often the server is pinged; a server heard from
	// neither in pongs nor in anything else for two intervals is gone. 0: off.
	PingInterval time.Duration

	Transcribe *Transcribe // nil: no transcription
}

// Reconnect says whether and how a dropped socket is redialled.
type Reconnect struct {
	Attempts int // redials allowed since the last stable connection; 0: never
	Backoff  time.Duration
	// Stable is how long a connection must last for its loss not to count
	// as a failure: a server that accepts and drops at once is not retried
	// forever.
	Stable time.Duration
}

// maxBackoff caps the wait between redials (backoffMs itself, if larger).
const maxBackoff = 30 * time.Second

// Delay is the wait before the nth redial since a stable connection:
// backoffMs doubled each time up to maxBackoff, and up to a quarter more at
// random, so that calls dropped together do not all redial together.
func (r Reconnect) Delay(n int) time.Duration {
	d := min(r.Backoff<<min(n-1, 16), max(maxBackoff, r.Backoff))
	return d + rand.N(d/4+1)
}

// Defaults of a listen's own keys (not taken from the settings).
const (
	DefaultBackoff      = 500 * time.Millisecond
	DefaultStable       = 5 * time.Second
	DefaultPingInterval = 10 * time.Second
)

// ParseListen validates a listen verb's JSON.
func ParseListen(data []byte, s Settings) (*Listen, error) {
	obj, err := object(data, "config")
	if err != nil {
		return nil, err
	}
	l := &Listen{
		Protocol:          s.Protocol,
		Encoding:          L16,
		MixType:           Mono,
		SampleRate:        s.SampleRate,
		Opus:              Opus{Application: OpusVoIP, Complexity: OpusDefaultComplexity},
		Subprotocols:      s.Subprotocols,
		Playback:          true,
		StreamingRate:     8000,
		StreamingEncoding: L16,
		JitterMs:          s.JitterMs,
		SilenceDb:         s.SilenceThreshold,
		TLS:               s.TLS,
		Headers:           s.Headers,
		Reconnect:         Reconnect{Backoff: DefaultBackoff, Stable: DefaultStable},
		PingInterval:      DefaultPingInterval,
	}
	for _, key := range sortedKeys(obj) {
		if err := l.set(key, obj[key], s); err != nil {
			return nil, err
		}
	}
	if l.URL == "" {
		return nil, fmt.Errorf(`listen: "url" is required`)
	}
	_, rateGiven := obj["sampleRate"]
	if err := l.checkFormat(rateGiven); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Listen) set(key string, raw json.RawMessage, s Settings) error {
	var err error
	switch key {
	case "metadata", "wsAuth", "actionHook", "bidirectionalAudio", "headers", "tls", "reconnect", "opus":
		raw = objectInString(raw)
	}
	switch key {
	case "verb":
		var v string
		if v, err = str(raw, key); err == nil && v != "listen" && v != "stream" {
			err = fmt.Errorf(`listen: "verb" must be "listen" (got %q)`, v)
		}
	case "url":
		l.URL, err = wsURL(raw, key)
	case "protocol":
		l.Protocol, err = protocol(raw, key)
	case "encoding":
		l.Encoding, err = encoding(raw, key, SentEncodings)
	case "mixType":
		l.MixType, err = str(raw, key)
		if err == nil && l.MixType != Mono && l.MixType != Stereo && l.MixType != Mixed {
			err = fmt.Errorf(`listen: "mixType" must be "mono", "stereo" or "mixed" (got %q)`, l.MixType)
		}
	case "sampleRate":
		l.SampleRate, err = sampleRate(raw, key)
	case "opus":
		err = l.setOpus(raw)
	case "opus.bitrate", "opus.application", "opus.fec", "opus.dtx", "opus.complexity":
		err = l.setOpusKey(key, raw)
	case "metadata":
		if isNull(raw) {
			return nil
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(raw, &probe) != nil || probe == nil {
			return fmt.Errorf(`listen: "metadata" must be a JSON object`)
		}
		l.Metadata = raw
	case "wsAuth":
		err = l.setAuth(raw)
	case "wsAuth.username":
		l.Username, err = str(raw, key)
	case "wsAuth.password":
		l.Password, err = str(raw, key)
	case "subprotocols":
		l.Subprotocols, err = subprotocols(raw, key)
	case "passDtmf":
		l.PassDtmf, err = boolean(raw, key)
	case "finishOnKey":
		l.FinishOnKey, err = str(raw, key)
		if err == nil {
			if i := strings.IndexFunc(l.FinishOnKey, func(r rune) bool { return !IsDTMF(r) }); i >= 0 {
				err = fmt.Errorf(`listen: "finishOnKey" may hold only DTMF keys 0-9 * # A-D (got %q)`, l.FinishOnKey)
			}
		}
	case "maxLength":
		l.MaxLength, err = seconds(raw, key)
	case "timeout":
		l.Timeout, err = seconds(raw, key)
	case "silenceThresholdDb":
		l.SilenceDb, err = number(raw, key, -96, 0)
	case "playBeep":
		l.PlayBeep, err = boolean(raw, key)
	case "actionHook":
		l.ActionHook, err = hook(raw, key)
	case "bidirectionalAudio":
		err = l.setBidirectional(raw)
	case "disableBidirectionalAudio":
		var off bool
		off, err = boolean(raw, key)
		l.Playback = l.Playback && !off
		l.PlaybackAsked = l.PlaybackAsked && !off
	case "headers":
		l.Headers, err = headers(raw, key, l.Headers)
	case "tls":
		err = l.setTLS(raw)
	case "reconnect":
		l.Reconnect, err = reconnect(raw, key, l.Reconnect)
	case "pingIntervalMs":
		l.PingInterval, err = pingInterval(raw, key)
	case "transcribe":
		if !isNull(raw) {
			l.Transcribe, err = parseTranscribe(raw, s.Transcribe, true)
		}
	case "eventHook":
		// Handled by the application around the listen, not by the stream.
		l.IgnoredKeys = append(l.IgnoredKeys, key)
	default:
		err = fmt.Errorf("listen: unknown key %q", key)
	}
	return err
}

func (l *Listen) setAuth(raw json.RawMessage) error {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil || a == nil {
		return fmt.Errorf(`listen: "wsAuth" must be an object {"username", "password"}`)
	}
	for k, v := range a {
		var err error
		switch k {
		case "username":
			l.Username, err = str(v, "wsAuth.username")
		case "password":
			l.Password, err = str(v, "wsAuth.password")
		default:
			err = fmt.Errorf("listen: unknown key %q", "wsAuth."+k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Listen) setBidirectional(raw json.RawMessage) error {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(raw, &b); err != nil || b == nil {
		return fmt.Errorf(`listen: "bidirectionalAudio" must be an object {"enabled", "streaming", "sampleRate", "encoding", "jitterMs"}`)
	}
	for k, v := range b {
		key := "bidirectionalAudio." + k
		var err error
		switch k {
		case "enabled":
			l.Playback, err = boolean(v, key)
			l.PlaybackAsked = l.Playback
		case "streaming":
			l.Streaming, err = boolean(v, key)
		case "sampleRate":
			l.StreamingRate, err = rateIn(v, key, PlayRates)
		case "encoding":
			l.StreamingEncoding, err = encoding(v, key, StreamedEncodings)
		case "jitterMs":
			l.JitterMs, err = integer(v, key, 0, 2000)
		default:
			err = fmt.Errorf("listen: unknown key %q", key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (l *Listen) setTLS(raw json.RawMessage) error {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return fmt.Errorf(`listen: "tls" must be an object {"caFile", "certFile", "keyFile", "verify"}`)
	}
	for _, k := range sortedKeys(o) {
		key := "tls." + k
		var err error
		switch k {
		case "caFile":
			l.TLS.CAFile, err = str(o[k], key)
		case "certFile":
			l.TLS.CertFile, err = str(o[k], key)
		case "keyFile":
			l.TLS.KeyFile, err = str(o[k], key)
		case "verify":
			l.TLS.Verify, err = boolean(o[k], key)
		default:
			err = fmt.Errorf("listen: unknown key %q", key)
		}
		if err != nil {
			return err
		}
	}
	if (l.TLS.CertFile == "") != (l.TLS.KeyFile == "") {
		return fmt.Errorf(`listen: "tls.certFile" and "tls.keyFile" go together`)
	}
	return nil
}

// reconnect reads a reconnect object (named name) over r.
func reconnect(raw json.RawMessage, name string, r Reconnect) (Reconnect, error) {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return r, fmt.Errorf(`listen: %q must be an object {"attempts", "backoffMs", "stableMs"}`, name)
	}
	for _, k := range sortedKeys(o) {
		key := name + "." + k
		var err error
		switch k {
		case "attempts":
			r.Attempts, err = integer(o[k], key, 0, 100)
		case "backoffMs":
			var ms int
			ms, err = integer(o[k], key, 0, 60000)
			r.Backoff = time.Duration(ms) * time.Millisecond
		case "stableMs":
			r.Stable, err = millis(o[k], key, 100, 3600000)
		default:
			err = fmt.Errorf("listen: unknown key %q", key)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// headers reads extra upgrade headers over base (which is not modified).
// Names are kept canonical, so a listen's "x-token" replaces the settings'
// "X-Token" instead of both being sent.
func headers(raw json.RawMessage, key string, base map[string]string) (map[string]string, error) {
	var h map[string]string
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("listen: %q must be an object of strings", key)
	}
	out := make(map[string]string, len(base)+len(h))
	for k, v := range base {
		out[k] = v
	}
	seen := make(map[string]string, len(h))
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := checkHeader(k, h[k]); err != nil {
			return nil, fmt.Errorf("listen: %q: %v", key, err)
		}
		c := http.CanonicalHeaderKey(k)
		if handshakeHeaders[c] {
			return nil, fmt.Errorf("listen: %q: %q is set by the WebSocket handshake itself (subprotocols go in \"subprotocols\")", key, k)
		}
		if other, dup := seen[c]; dup {
			return nil, fmt.Errorf("listen: %q: %q and %q are the same header", key, other, k)
		}
		seen[c] = k
		out[c] = h[k]
	}
	return out, nil
}

// checkHeader refuses what HTTP cannot carry as given: a name that is not a
// token (RFC 9110 5.1; Go's HTTP writer drops such a header without a word)
// and a value with control characters (5.5; CR and LF would split the
// request, a NUL reaches the server raw). The value is never quoted: it may
// be a secret.
func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf(`"" is not a valid header name`)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return fmt.Errorf("%q is not a valid header name: only letters, digits and !#$%%&'*+-.^_`|~ are allowed", name)
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("the value of %q holds a control character (byte 0x%02x at %d): CR, LF, NUL and the like cannot be sent", name, c, i)
		}
	}
	return nil
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

var handshakeHeaders = map[string]bool{
	"Upgrade": true, "Connection": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Protocol": true, "Sec-Websocket-Extensions": true,
}

// IsDTMF tells whether r is a DTMF key.
func IsDTMF(r rune) bool {
	return r >= '0' && r <= '9' || r == '*' || r == '#' || r >= 'A' && r <= 'D'
}

func hook(raw json.RawMessage, key string) (*Hook, error) {
	if isNull(raw) {
		return nil, nil
	}
	h := &Hook{Method: "POST"}
	var u string
	if json.Unmarshal(raw, &u) == nil {
		h.URL = u
	} else {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(raw, &o); err != nil || o == nil {
			return nil, fmt.Errorf(`listen: %q must be a URL or an object {"url", "method", "username", "password"}`, key)
		}
		for k, v := range o {
			var err error
			switch k {
			case "url":
				h.URL, err = str(v, key+".url")
			case "method":
				h.Method, err = str(v, key+".method")
				h.Method = strings.ToUpper(h.Method)
				if err == nil && h.Method != "POST" && h.Method != "PUT" {
					err = fmt.Errorf(`listen: %q must be "POST" or "PUT" (got %q)`, key+".method", h.Method)
				}
			case "username":
				h.Username, err = str(v, key+".username")
			case "password":
				h.Password, err = str(v, key+".password")
			default:
				err = fmt.Errorf("listen: unknown key %q", key+"."+k)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	p, err := url.Parse(h.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf(`listen: %q must be an http:// or https:// URL (got %q)`, key, redact.URL(h.URL))
	}
	return h, nil
}

func wsURL(raw json.RawMessage, key string) (string, error) {
	s, err := str(raw, key)
	if err != nil {
		return "", err
	}
	p, perr := url.Parse(s)
	if perr != nil || (p.Scheme != "ws" && p.Scheme != "wss") || p.Host == "" {
		return "", fmt.Errorf(`listen: %q must be a ws:// or wss:// URL (got %q)`, key, redact.URL(s))
	}
	// RFC 6455 3: a WebSocket URI has no fragment; "#" must be sent as %23.
	if strings.Contains(s, "#") {
		return "", fmt.Errorf(`listen: %q must not have a fragment ("#"; write %%23 for a "#" in the path or query)`, key)
	}
	return s, nil
}

// pingInterval is 0 (no pings) or an interval from 100 ms to an hour.
func pingInterval(raw json.RawMessage, key string) (time.Duration, error) {
	if ms, err := integer(raw, key, 0, 0); err == nil && ms == 0 {
		return 0, nil
	}
	d, err := millis(raw, key, 100, 3600000)
	if err != nil {
		return 0, fmt.Errorf("%v; 0 turns pings off", err)
	}
	return d, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func str(raw json.RawMessage, key string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("listen: %q must be a string", key)
	}
	return s, nil
}

func boolean(raw json.RawMessage, key string) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		// Dialplans and XML hand over strings; accept the spellings they use.
		if s, serr := str(raw, key); serr == nil {
			if v, perr := strconv.ParseBool(s); perr == nil {
				return v, nil
			}
		}
		return false, fmt.Errorf("listen: %q must be true or false", key)
	}
	return b, nil
}

// number accepts a JSON number or a numeric string: servers and dialplans
// send "8000" as often as 8000.
func number(raw json.RawMessage, key string, lo, hi float64) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		s, serr := str(raw, key)
		if serr == nil {
			f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
		}
		if serr != nil || err != nil {
			return 0, fmt.Errorf("listen: %q must be a number", key)
		}
	}
	if !(f >= lo && f <= hi) { // written so that NaN is refused too
		return 0, fmt.Errorf("listen: %q must be between %s and %s (got %s)", key, plain(lo), plain(hi), plain(f))
	}
	return f, nil
}

// plain writes a number as people do: 1000000, not 1e+06.
func plain(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func integer(raw json.RawMessage, key string, lo, hi int) (int, error) {
	f, err := number(raw, key, float64(lo), float64(hi))
	if err != nil {
		return 0, err
	}
	if f != float64(int(f)) {
		return 0, fmt.Errorf("listen: %q must be a whole number (got %g)", key, f)
	}
	return int(f), nil
}

func seconds(raw json.RawMessage, key string) (time.Duration, error) {
	if f, err := number(raw, key, math.Inf(-1), 0); err == nil && f < 0 {
		return 0, fmt.Errorf("listen: %q must not be negative (got %g)", key, f)
	}
	f, err := number(raw, key, 0, 86400)
	if err != nil {
		return 0, err
	}
	return time.Duration(f * float64(time.Second)), nil
}

func rateIn(raw json.RawMessage, key string, allowed []int) (int, error) {
	f, err := number(raw, key, 0, 1e9)
	for _, r := range allowed {
		if err == nil && f == float64(r) {
			return r, nil
		}
	}
	names := make([]string, len(allowed))
	for i, r := range allowed {
		names[i] = strconv.Itoa(r)
	}
	return 0, fmt.Errorf("listen: %q must be one of %s (got %s)", key, strings.Join(names, ", "), raw)
}

func sampleRate(raw json.RawMessage, key string) (int, error) {
	return rateIn(raw, key, StreamRates)
}

func protocol(raw json.RawMessage, key string) (string, error) {
	p, err := str(raw, key)
	if err == nil && p != Jambonz && p != Twilio {
		err = fmt.Errorf(`listen: %q must be "jambonz" or "twilio" (got %q)`, key, p)
	}
	return p, err
}

func subprotocols(raw json.RawMessage, key string) ([]string, error) {
	var list []string
	if s, err := str(raw, key); err == nil {
		list = strings.Split(s, ",")
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("listen: %q must be a string or a list of strings", key)
	}
	out := list[:0]
	for _, p := range list {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// CheckCodecRate refuses a call rate the engine does not resample from.
func CheckCodecRate(rate int) error {
	for _, r := range CodecRates {
		if r == rate {
			return nil
		}
	}
	return fmt.Errorf("listen: codec rate %d Hz is not supported (8000, 16000, 24000, 32000 or 48000)", rate)
}
