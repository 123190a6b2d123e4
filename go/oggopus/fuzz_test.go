package oggopus

import (
	"encoding/binary"
	"testing"
)

// FuzzParse: whatever the bytes, Parse and Decode return an error or audio
// exactly as long as Parse said, and never panic. With fixCRC, every page's
// checksum is made right first, so mutations reach past the CRC check.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"stereo48k.opus", "mono16k.opus", "vorbis.ogg"} {
		f.Add(load(f, name), false)
		f.Add(load(f, name), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = withCRCs(data)
		}
		file, err := Parse(data)
		if err != nil {
			return
		}
		if file.Samples > Rate {
			return // long claims are refused by the caller's limit before decoding
		}
		pcm, err := file.Decode()
		if err == nil && len(pcm) != file.Samples {
			t.Fatalf("decoded %d samples, Parse said %d", len(pcm), file.Samples)
		}
	})
}

// withCRCs returns a copy of data with the checksum of every page whose
// framing holds made right.
func withCRCs(data []byte) []byte {
	b := append([]byte(nil), data...)
	for p := 0; p+headerLen <= len(b); {
		segs := int(b[p+26])
		if p+headerLen+segs > len(b) {
			break
		}
		end := p + headerLen + segs
		for _, l := range b[p+headerLen : p+headerLen+segs] {
			end += int(l)
		}
		if end > len(b) {
			break
		}
		binary.LittleEndian.PutUint32(b[p+22:], CRC(b[p:end]))
		p = end
	}
	return b
}
