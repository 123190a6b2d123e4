package oggopus

import "testing"

// FuzzParse: whatever the bytes, Parse and Decode return an error or audio
// exactly as long as Parse said, and never panic.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"stereo48k.opus", "mono16k.opus", "vorbis.ogg"} {
		f.Add(load(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		if file.Samples > 10*Rate {
			return // long claims are refused by the caller's limit before decoding
		}
		pcm, err := file.Decode()
		if err == nil && len(pcm) != file.Samples {
			t.Fatalf("decoded %d samples, Parse said %d", len(pcm), file.Samples)
		}
	})
}
