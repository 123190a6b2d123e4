package twilio

import (
	"testing"

	"github.com/modlisten/mod_listen/go/protocol"
)

// FuzzParse: no server frame may crash the parser; a media message's
// length, known before decoding, is what its payload decodes to, and a
// mark's name stays within the bound.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}`,
		`{"event":"media","media":{"payload":"/w=="}}`, `{"event":"media","media":{"payload":"@@@@"}}`,
		`{"event":"mark","mark":{"name":"x"}}`, `{"event":"clear"}`, `{"event":"media","media":{"payload":"AAAA\r\n\r\n"}}`, `{"event":7}`, `[]`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Parse(frame)
		if err != nil {
			return
		}
		if len(m.Name) > protocol.MaxNameBytes {
			t.Fatalf("accepted a mark name of %d bytes", len(m.Name))
		}
		if m.Event != EventMedia {
			return
		}
		n, err := m.PayloadLen()
		if err != nil {
			return
		}
		if b, err := m.Payload(make([]byte, n+3)); err == nil && len(b) != n {
			t.Fatalf("payload said %d bytes, decoded to %d", n, len(b))
		}
	})
}
