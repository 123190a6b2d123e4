package oggfile

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/oggopus"
	"github.com/modlisten/mod_listen/go/opus"
)

// packets encodes n 20 ms packets of a 1 kHz sine at 16 kHz mono.
func packets(t *testing.T, n int) [][]byte {
	t.Helper()
	enc, err := opus.NewEncoder(16000, 1, config.Opus{Bitrate: 32000, Application: config.OpusVoIP})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	pcm := make([]int16, 320)
	for p := range n {
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(p*320+i)/16000))
		}
		b, err := enc.Encode(pcm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out
}

// TestWriteAndParse: a file written and closed is a complete Ogg/Opus
// stream: the parser takes every page (CRC, sequence, one stream from its
// first page to its last), the head's fields, and the final granule
// trimming the length to the one given.
func TestWriteAndParse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.opus")
	w, err := Create(p, 16000, 1, 312, "mod_listen")
	if err != nil {
		t.Fatal(err)
	}
	for i, pk := range packets(t, 200) {
		if err := w.WritePacket(pk, 960); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			w.Flush()
		}
	}
	if err := w.Close(200*960 - 100); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f, err := oggopus.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Channels != 1 || f.InputRate != 16000 || f.PreSkip != 312 || f.Samples != 200*960-100-312 {
		t.Errorf("parsed %d channels, input %d Hz, pre-skip %d, %d samples", f.Channels, f.InputRate, f.PreSkip, f.Samples)
	}
	pcm, err := f.Decode()
	if err != nil || len(pcm) != f.Samples {
		t.Fatalf("decode: %d samples, %v", len(pcm), err)
	}
}

// TestRepair: a writer that was never closed leaves whole pages up to its
// last flush; a page torn after them is cut off, and the last whole page
// becomes the stream's end, so the file parses with the flushed audio.
func TestRepair(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.opus.part")
	w, err := Create(p, 16000, 1, 312, "mod_listen")
	if err != nil {
		t.Fatal(err)
	}
	pk := packets(t, 120)
	for _, x := range pk[:100] {
		w.WritePacket(x, 960)
	}
	w.Flush()
	flushed, _ := os.ReadFile(p)
	if _, err := oggopus.Parse(flushed); err == nil {
		t.Fatalf("an unfinished file parses as complete")
	}
	for _, x := range pk[100:] {
		w.WritePacket(x, 960)
	}
	w.Flush()
	// The kill tore the last page: its header and lacing are on disk, not
	// all its packets.
	whole, _ := os.ReadFile(p)
	if err := os.WriteFile(p, whole[:len(flushed)+100], 0o640); err != nil {
		t.Fatal(err)
	}
	size, granule, head, err := Repair(p)
	if err != nil {
		t.Fatal(err)
	}
	if size != int64(len(flushed)) || granule != 100*960 || head != (Head{Channels: 1, InputRate: 16000, PreSkip: 312}) {
		t.Errorf("repair: size %d (flushed %d), granule %d, head %+v", size, len(flushed), granule, head)
	}
	b, _ := os.ReadFile(p)
	f, err := oggopus.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Samples != 100*960-312 {
		t.Errorf("repaired file holds %d samples, want %d", f.Samples, 100*960-312)
	}
	os.WriteFile(filepath.Join(dir, "x"), []byte("RIFF...."), 0o640)
	if _, _, _, err := Repair(filepath.Join(dir, "x")); err == nil {
		t.Errorf("a file that is not Ogg was repaired")
	}
}
