// Package config parses and validates the listen verb's JSON and the
// engine-wide settings. Every error names the key at fault, because an
// operator reads it in a FreeSWITCH log line with no other context.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"time"
)

// Settings are engine-wide: defaults for every stream and limits.
type Settings struct {
	SampleRate       int      // default sampleRate of a listen
	Protocol         string   // default protocol of a listen
	Subprotocols     []string // offered on the upgrade
	BufferSeconds    float64  // capture ring length per direction
	JitterMs         int      // streamed playback prebuffer
	MaxTextBytes     int      // largest server text frame accepted
	MaxQueuedClips   int      // playAudio clips that may wait
	HookTimeout      time.Duration
	HookRetries      int
	ConnectTimeout   time.Duration
	FlushTimeout     time.Duration // how long an ending stream may take to send what it holds
	MaxStreams       int
	TLS              TLS
	Headers          map[string]string                     // extra upgrade headers for every stream
	MaxClipSeconds   float64                               // longest playAudio clip accepted
	MaxQueuedSeconds float64                               // audio waiting to be played, clips and streamed
	SilenceThreshold float64                               // dBFS at or below which caller audio counts as silence
	LogLevel         int                                   // syslog order: lines above it are not passed to the host
	Profiles         map[string]map[string]json.RawMessage // named listen configs

	// What a hostile or broken server can make the engine hold or do.
	MaxRefusals        int   // refused server messages within a minute that end the listen
	MaxQueuedMarks     int   // marks waiting to be played out, per stream
	MaxServerBytes     int64 // engine-wide memory for server data being read, decoded or queued
	MaxEventsPerSecond int   // events of each kind a server can cause per stream and second

	// Transcribe holds the defaults of every listen's transcribe (recognizer
	// credentials, so that a dialplan need not carry them); nil: none.
	Transcribe *Transcribe

	// Running in production.
	MetricsListen        string        // host:port serving /metrics; empty: off
	MaxListensPerChannel int           // listens one channel may run at once (the host enforces it)
	ShutdownGrace        time.Duration // how long unloading drains before stopping the rest
}

// TLS says how wss:// servers are trusted and how we prove who we are.
type TLS struct {
	CAFile   string // PEM roots; empty: the system's
	CertFile string // client certificate (PEM) for mutual TLS
	KeyFile  string
	Verify   bool // check the server's certificate and name
}

// DefaultSubprotocols: servers in the wild accept one or the other.
var DefaultSubprotocols = []string{"audio.jambonz.org", "audio.drachtio.org"}

// DefaultSettings are used for every key the host leaves out.
func DefaultSettings() Settings {
	return Settings{
		SampleRate:       8000,
		Protocol:         Jambonz,
		Subprotocols:     DefaultSubprotocols,
		BufferSeconds:    1,
		JitterMs:         40,
		MaxTextBytes:     4 << 20,
		MaxQueuedClips:   10,
		HookTimeout:      5 * time.Second,
		HookRetries:      2,
		ConnectTimeout:   5 * time.Second,
		FlushTimeout:     2 * time.Second,
		MaxStreams:       4096,
		TLS:              TLS{Verify: true},
		MaxClipSeconds:   120,
		MaxQueuedSeconds: 120,
		SilenceThreshold: -45,
		LogLevel:         6,

		MaxRefusals:        100,
		MaxQueuedMarks:     100,
		MaxServerBytes:     256 << 20,
		MaxEventsPerSecond: 20,

		MaxListensPerChannel: 4,
		ShutdownGrace:        5 * time.Second,
	}
}

// ParseSettings reads the host's settings JSON over the defaults. Empty input
// gives the defaults.
func ParseSettings(data []byte) (Settings, error) {
	s := DefaultSettings()
	if len(bytes.TrimSpace(data)) == 0 {
		return s, nil
	}
	obj, err := object(data, "settings")
	if err != nil {
		return s, err
	}
	for _, key := range sortedKeys(obj) {
		raw := obj[key]
		var err error
		switch key {
		case "sampleRate":
			s.SampleRate, err = sampleRate(raw, key)
		case "protocol":
			s.Protocol, err = protocol(raw, key)
		case "subprotocols":
			s.Subprotocols, err = subprotocols(raw, key)
		case "bufferSeconds":
			s.BufferSeconds, err = number(raw, key, 0.1, 60)
		case "jitterMs":
			s.JitterMs, err = integer(raw, key, 0, 2000)
		case "maxTextBytes":
			s.MaxTextBytes, err = integer(raw, key, 1024, 1<<30)
		case "maxQueuedClips":
			s.MaxQueuedClips, err = integer(raw, key, 1, 1000)
		case "hookTimeoutMs":
			s.HookTimeout, err = millis(raw, key, 100, 600000)
		case "hookRetries":
			s.HookRetries, err = integer(raw, key, 0, 10)
		case "connectTimeoutMs":
			s.ConnectTimeout, err = millis(raw, key, 100, 600000)
		case "flushTimeoutMs":
			s.FlushTimeout, err = millis(raw, key, 0, 600000)
		case "maxStreams":
			s.MaxStreams, err = integer(raw, key, 1, 65536)
		case "caFile":
			s.TLS.CAFile, err = str(raw, key)
		case "certFile":
			s.TLS.CertFile, err = str(raw, key)
		case "keyFile":
			s.TLS.KeyFile, err = str(raw, key)
		case "tlsVerify":
			s.TLS.Verify, err = boolean(raw, key)
		case "headers":
			s.Headers, err = headers(raw, key, nil)
		case "maxClipSeconds":
			s.MaxClipSeconds, err = number(raw, key, 1, 3600)
		case "maxQueuedSeconds":
			s.MaxQueuedSeconds, err = number(raw, key, 1, 36000)
		case "silenceThresholdDb":
			s.SilenceThreshold, err = number(raw, key, -96, 0)
		case "logLevel":
			s.LogLevel, err = integer(raw, key, 0, 7)
		case "profiles":
			s.Profiles, err = parseProfiles(raw)

		case "maxRefusals":
			s.MaxRefusals, err = integer(raw, key, 1, 1000000)
		case "maxQueuedMarks":
			s.MaxQueuedMarks, err = integer(raw, key, 1, 10000)
		case "maxServerBytes":
			var n int
			n, err = integer(raw, key, 1<<20, 1<<40)
			s.MaxServerBytes = int64(n)
		case "maxEventsPerSecond":
			s.MaxEventsPerSecond, err = integer(raw, key, 1, 10000)
		case "transcribe":
			s.Transcribe, err = parseTranscribe(raw, nil, false)
		case "metrics-listen":
			s.MetricsListen, err = hostPort(raw, key)
		case "max-listens-per-channel":
			s.MaxListensPerChannel, err = integer(raw, key, 1, 64)
		case "shutdown-grace-seconds":
			var n int
			n, err = integer(raw, key, 0, 3600)
			s.ShutdownGrace = time.Duration(n) * time.Second
		default:
			err = fmt.Errorf("listen settings: unknown key %q", key)
		}
		if err != nil {
			return s, err
		}
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		return s, fmt.Errorf(`listen settings: "certFile" and "keyFile" go together`)
	}
	return s, checkProfiles(s)
}

func object(data []byte, what string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if !json.Valid(data) {
		err := json.Unmarshal(data, &obj)
		return nil, fmt.Errorf("listen: %s is not valid JSON: %v", what, err)
	}
	if json.Unmarshal(data, &obj) != nil || obj == nil {
		return nil, fmt.Errorf("listen: %s must be a JSON object", what)
	}
	return obj, nil
}

// sortedKeys gives keys in a fixed order, so conflicting keys resolve the
// same way every time (a dotted key after its object, "disable…" after
// "bidirectionalAudio") and the first error named is always the same.
func sortedKeys(obj map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hostPort reads an address to listen on: "host:port", or empty for none.
func hostPort(raw json.RawMessage, key string) (string, error) {
	v, err := str(raw, key)
	if err != nil || v == "" {
		return v, err
	}
	if _, port, perr := net.SplitHostPort(v); perr != nil || port == "" {
		return "", fmt.Errorf("listen settings: %q must be host:port (e.g. 127.0.0.1:9464), not %q", key, v)
	}
	return v, nil
}

func millis(raw json.RawMessage, key string, lo, hi int) (time.Duration, error) {
	n, err := integer(raw, key, lo, hi)
	return time.Duration(n) * time.Millisecond, err
}
