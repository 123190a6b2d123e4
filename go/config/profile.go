package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Resolve turns a dialplan argument into a listen verb's JSON. The argument
// is either the JSON itself, or "profile=NAME" followed by overrides: a JSON
// object, or key=value pairs separated by spaces (a value that reads as JSON
// is taken as JSON, anything else as a string).
func Resolve(arg string, s Settings) ([]byte, error) {
	arg = strings.TrimSpace(arg)
	if strings.HasPrefix(arg, "{") {
		return []byte(arg), nil
	}
	if !strings.HasPrefix(arg, "profile=") {
		return nil, fmt.Errorf(`listen: the argument must be the listen JSON or "profile=NAME [key=value ...]" (got %q)`, arg)
	}
	rest := strings.TrimPrefix(arg, "profile=")
	name, overrides, _ := strings.Cut(rest, " ")
	base, ok := s.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("listen: no profile named %q in the module configuration", name)
	}
	merged := map[string]json.RawMessage{}
	for k, v := range base {
		merged[k] = v
	}
	overrides = strings.TrimSpace(overrides)
	if strings.HasPrefix(overrides, "{") {
		var o map[string]json.RawMessage
		if err := json.Unmarshal([]byte(overrides), &o); err != nil {
			return nil, fmt.Errorf("listen: profile overrides are not valid JSON: %v", err)
		}
		for k, v := range o {
			merged[k] = v
		}
	} else {
		for _, pair := range strings.Fields(overrides) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("listen: override %q is not key=value", pair)
			}
			merged[k] = loose(v)
		}
	}
	return json.Marshal(merged)
}

// loose reads a value written by hand in a dialplan: an object or list when
// it is one in JSON, a string otherwise (numeric and boolean keys accept
// strings, and a PIN like 1234 must stay a string).
func loose(v string) json.RawMessage {
	if t := strings.TrimSpace(v); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(v)
	return b
}

// objectInString lets an object-valued key arrive as a string holding the
// object, as XML attributes and dialplan variables carry it.
func objectInString(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil && strings.HasPrefix(strings.TrimSpace(s), "{") && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return raw
}

func parseProfiles(raw json.RawMessage) (map[string]map[string]json.RawMessage, error) {
	var p map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf(`listen settings: "profiles" must be an object of objects: %v`, err)
	}
	return p, nil
}

// checkProfiles parses each profile once, over the settings (the transcribe
// defaults among them), with a stand-in url if it leaves the url to the
// dialplan, so a typo shows at load, not at the first call.
func checkProfiles(s Settings) error {
	for name, prof := range s.Profiles {
		probe := map[string]json.RawMessage{"url": json.RawMessage(`"ws://placeholder/"`)}
		for k, v := range prof {
			if !bytes.Contains(v, []byte("${")) { // channel variables are expanded per call
				probe[k] = v
			}
		}
		b, _ := json.Marshal(probe)
		if _, err := ParseListen(b, s); err != nil {
			return fmt.Errorf("listen settings: profile %q: %s", name, strings.TrimPrefix(err.Error(), "listen: "))
		}
	}
	return nil
}
