// Package peertext makes text that came from a remote peer safe to show in
// the switch's log lines and in events: short, valid UTF-8, and without
// control characters (a raw CR or LF from a server would forge log lines).
package peertext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is how much of a peer's value is shown: enough to recognise it,
// too little to flood a log.
const MaxBytes = 64

// Show returns s truncated to MaxBytes (on a character boundary, with "…"
// and the full length when cut), invalid UTF-8 replaced by U+FFFD and
// control characters escaped as in a Go string literal.
func Show(s string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var piece string
		switch {
		case r == utf8.RuneError && size <= 1:
			piece = "\uFFFD"
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			piece = q[1 : len(q)-1]
		default:
			piece = s[i : i+size]
		}
		if n+len(piece) > MaxBytes {
			b.WriteString("…(" + strconv.Itoa(len(s)) + " bytes)")
			return b.String()
		}
		b.WriteString(piece)
		n += len(piece)
		i += size
	}
	return b.String()
}
