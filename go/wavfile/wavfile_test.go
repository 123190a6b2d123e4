package wavfile

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/modlisten/mod_listen/go/wav"
)

func pcm(samples []int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

// TestWriteClose: a closed file is the WAV of what was written, silence
// included.
func TestWriteClose(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.wav")
	w, err := Create(p, 16000, 2)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pcm([]int16{1, -1, 2, -2}))
	w.Silence(3)
	w.Write(pcm([]int16{7, 8}))
	if w.Frames() != 6 || w.DataBytes() != 24 {
		t.Errorf("frames %d bytes %d, want 6, 24", w.Frames(), w.DataBytes())
	}
	if err := w.Write(pcm([]int16{1})); err == nil {
		t.Errorf("half a stereo sample frame was accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	a, err := wav.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{1, -1, 2, -2, 0, 0, 0, 0, 0, 0, 7, 8}
	if a.Rate != 16000 || a.Channels != 2 || len(a.Samples) != len(want) || string(pcm(a.Samples)) != string(pcm(want)) {
		t.Errorf("read back %d Hz %d ch %v, want 16000 Hz 2 ch %v", a.Rate, a.Channels, a.Samples, want)
	}
	if got := binary.LittleEndian.Uint32(b[40:]); got != 24 {
		t.Errorf("data size in the header %d, want 24", got)
	}
	if _, err := Create(p, 16000, 2); err == nil {
		t.Errorf("Create over an existing file succeeded")
	}
}

// TestSyncedHeader: after Sync the file on disk is a valid WAV of what was
// written, with no Close.
func TestSyncedHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.wav")
	w, _ := Create(p, 8000, 1)
	w.Write(pcm([]int16{5, 6, 7}))
	w.Sync()
	b, _ := os.ReadFile(p)
	if binary.LittleEndian.Uint32(b[4:]) != 36+6 || binary.LittleEndian.Uint32(b[40:]) != 6 || len(b) != 50 {
		t.Errorf("after Sync: RIFF size %d data size %d file %d bytes, want 42, 6, 50",
			binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[40:]), len(b))
	}
	w.Close()
}

// TestRepair: a file with stale sizes and half a sample frame at its end
// gets the sizes of the whole frames on disk; a foreign file is refused
// and left as it was.
func TestRepair(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.wav")
	w, _ := Create(p, 8000, 2)
	w.Write(pcm([]int16{1, 2, 3, 4}))
	w.Sync()
	w.Write(pcm([]int16{5, 6}))
	w.buf.Flush() // on disk, header not updated: as a kill leaves it
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{9, 9, 9}) // part of a frame
	f.Close()
	n, ft, err := Repair(p)
	if err != nil || n != 12 || ft != (Format{8000, 2}) {
		t.Fatalf("Repair: %d bytes %+v %v, want 12, 8000 Hz 2 ch", n, ft, err)
	}
	b, _ := os.ReadFile(p)
	a, err := wav.Parse(b)
	if err != nil || len(b) != 44+12 || binary.LittleEndian.Uint32(b[40:]) != 12 || string(pcm(a.Samples)) != string(pcm([]int16{1, 2, 3, 4, 5, 6})) {
		t.Errorf("repaired file: %d bytes, samples %v (%v)", len(b), a.Samples, err)
	}

	foreign := filepath.Join(dir, "b.wav")
	orig := append(wav.Header(8000, 1, 0)[:36], []byte("LIST\x04\x00\x00\x00abcd")...)
	os.WriteFile(foreign, orig, 0o644)
	if _, _, err := Repair(foreign); err == nil {
		t.Errorf("Repair accepted a file of another layout")
	}
	if b, _ := os.ReadFile(foreign); string(b) != string(orig) {
		t.Errorf("Repair changed a file it refused")
	}
}
