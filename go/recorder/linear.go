package recorder

import (
	"encoding/binary"
	"fmt"

	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/opus"
)

// linear turns a stream's audio frames into the 16-bit little-endian PCM
// the recordings hold: L16 as it is, G.711 through the standard tables,
// Opus through one decoder per connection (the packets of a connection are
// one encoder's, in order).
type linear struct {
	bytesPerSample int              // 0 for Opus: a frame is a packet, not samples
	decode         func(byte) int16 // G.711
	opus           *opus.Decoder
	packetSamples  int // Opus: the samples (all channels) of the 20 ms each packet holds
	buf            []byte
}

func newLinear(encoding string, rate, channels int) (*linear, error) {
	switch encoding {
	case "mulaw":
		return &linear{bytesPerSample: 1, decode: g711.DecodeMulaw}, nil
	case "alaw":
		return &linear{bytesPerSample: 1, decode: g711.DecodeAlaw}, nil
	case "opus":
		dec, err := opus.NewDecoder(rate, channels)
		if err != nil {
			return nil, err
		}
		return &linear{opus: dec, packetSamples: rate / 1000 * opus.FrameMs * channels}, nil
	}
	return &linear{bytesPerSample: 2}, nil
}

// wholeFrame says why frame cannot be audio of the stream, or nil. An Opus
// packet is checked by decoding it (linear).
func (l *linear) wholeFrame(frame []byte, channels int, encoding string) error {
	if l.opus != nil || len(frame)%(l.bytesPerSample*channels) == 0 {
		return nil
	}
	return fmt.Errorf("an audio frame of %d bytes is not whole %d-channel %s samples", len(frame), channels, encoding)
}

// linear returns frame as 16-bit PCM, in a buffer reused by the next call.
// An Opus frame that is not a valid packet of 20 ms (the protocol's one
// packet per frame) is invalid: libopus's concealment stands in for it, or
// silence when there is nothing to conceal from, so the frame still holds
// its 20 ms of the stream's media time.
func (l *linear) linear(frame []byte) (pcm []byte, invalid bool) {
	switch {
	case l.opus != nil:
		samples, err := l.opus.Decode(frame)
		if err != nil || len(samples) != l.packetSamples {
			invalid = true
			samples, err = l.opus.Conceal()
			if err != nil || len(samples) != l.packetSamples {
				samples = make([]int16, l.packetSamples)
			}
		}
		l.buf = l.buf[:0]
		for _, s := range samples {
			l.buf = binary.LittleEndian.AppendUint16(l.buf, uint16(s))
		}
		return l.buf, invalid
	case l.decode != nil:
		l.buf = l.buf[:0]
		for _, c := range frame {
			l.buf = binary.LittleEndian.AppendUint16(l.buf, uint16(l.decode(c)))
		}
		return l.buf, false
	}
	return frame, false
}
