// Package redact keeps secrets out of logs, events and error texts.
package redact

import "net/url"

// URL returns raw without user info and with the query hidden: either may
// carry credentials or tokens.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil && u.RawQuery == "" {
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
