package recorder

import (
	"encoding/binary"

	"github.com/modlisten/mod_listen/go/g711"
)

// linear turns a stream's audio frames into the 16-bit little-endian PCM
// the recordings hold: L16 as it is, G.711 through the standard tables.
type linear struct {
	bytesPerSample int
	decode         func(byte) int16 // nil for L16
	buf            []byte
}

func newLinear(encoding string) *linear {
	switch encoding {
	case "mulaw":
		return &linear{bytesPerSample: 1, decode: g711.DecodeMulaw}
	case "alaw":
		return &linear{bytesPerSample: 1, decode: g711.DecodeAlaw}
	}
	return &linear{bytesPerSample: 2}
}

// linear returns frame as 16-bit PCM, in a buffer reused by the next call.
func (l *linear) linear(frame []byte) []byte {
	if l.decode == nil {
		return frame
	}
	l.buf = l.buf[:0]
	for _, c := range frame {
		l.buf = binary.LittleEndian.AppendUint16(l.buf, uint16(l.decode(c)))
	}
	return l.buf
}
