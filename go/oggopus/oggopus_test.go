package oggopus

import (
	"encoding/binary"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pageStarts lists the offsets of a well-formed file's pages.
func pageStarts(t *testing.T, b []byte) []int {
	t.Helper()
	var starts []int
	for p := 0; p < len(b); {
		starts = append(starts, p)
		segs := int(b[p+26])
		size := 0
		for _, l := range b[p+27 : p+27+segs] {
			size += int(l)
		}
		p += 27 + segs + size
	}
	return starts
}

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

// toneLevel is the amplitude of the f Hz component of x, by correlation.
func toneLevel(x []int16, f float64) float64 {
	var c, s float64
	for i, v := range x {
		ph := 2 * math.Pi * f * float64(i) / Rate
		c += float64(v) * math.Cos(ph)
		s += float64(v) * math.Sin(ph)
	}
	return 2 * math.Hypot(c, s) / float64(len(x))
}

// opusenc's 1 s stereo file (1 kHz left, 600 Hz right, each at -6 dBFS):
// the header as written, exactly 1 s long, decoded to one channel holding
// both tones at half their level.
func TestParseAndDecodeOpusenc(t *testing.T) {
	f, err := Parse(load(t, "stereo48k.opus"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Channels != 2 || f.PreSkip != 312 || f.InputRate != 48000 || f.Samples != 48000 || f.Gain != 0 {
		t.Fatalf("parsed %+v; want 2 channels, pre-skip 312, 48000 Hz, 48000 samples", *f)
	}
	pcm, err := f.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 48000 {
		t.Fatalf("decoded %d samples, want 48000", len(pcm))
	}
	mid := pcm[4800 : 48000-4800]
	want := 0.5 * 32767 * math.Pow(10, -6.0/20)
	for _, hz := range []float64{1000, 600} {
		if db := 20 * math.Log10(toneLevel(mid, hz)/want); math.Abs(db) > 1 {
			t.Errorf("%.0f Hz at %.2f dB from half its level, want within 1 dB", hz, db)
		}
	}
	m, err := Parse(load(t, "mono16k.opus"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Channels != 1 || m.InputRate != 16000 || m.Samples != 14400 {
		t.Fatalf("parsed %+v; want 1 channel, 16000 Hz, 14400 samples (0.3 s)", *m)
	}
}

func TestOutputGain(t *testing.T) {
	b := load(t, "stereo48k.opus")
	f, _ := Parse(b)
	plain, _ := f.Decode()
	// -6.02 dB in Q7.8, written into OpusHead and the page's CRC redone.
	b = append([]byte(nil), b...)
	head := 27 + int(b[26]) // the first page holds OpusHead alone
	binary.LittleEndian.PutUint16(b[head+16:], uint16(0x10000-1541))
	binary.LittleEndian.PutUint32(b[22:], CRC(b[:pageStarts(t, b)[1]]))
	g, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	quiet, _ := g.Decode()
	if r := rms(quiet) / rms(plain); math.Abs(r-0.5) > 0.01 {
		t.Errorf("a -6.02 dB output gain scales by %.3f, want 0.5", r)
	}
}

func TestRefusals(t *testing.T) {
	good := load(t, "stereo48k.opus")
	starts := pageStarts(t, good)
	lastPage := starts[len(starts)-1]
	badCRC := append([]byte(nil), good...)
	badCRC[starts[2]+40] ^= 0x55
	outOfSeq := append([]byte(nil), good[:starts[2]]...)
	outOfSeq = append(outOfSeq, good[starts[3]:]...)
	wavHead := []byte("RIFF\x24\x00\x00\x00WAVEfmt ")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "Ogg/Opus: the file is empty: zero pages"},
		{"wav", wavHead, `Ogg/Opus: not an Ogg file (it does not start with "OggS"; it is a RIFF/WAVE file: send it as "wav")`},
		{"text", []byte("hello"), `Ogg/Opus: not an Ogg file (it does not start with "OggS")`},
		{"vorbis", load(t, "vorbis.ogg"), "Ogg/Opus: not Opus: the Ogg file holds Vorbis, not Opus"},
		{"cut in a page", good[:len(good)-100], "Ogg/Opus: truncated: page 3 is cut short"},
		{"cut in a header", good[:lastPage+10], "Ogg/Opus: truncated: page 3 is cut short"},
		{"last page missing", good[:lastPage], "Ogg/Opus: truncated: the stream has no last page (it was cut short)"},
		{"head only", good[:starts[1]], "Ogg/Opus: truncated: the stream has no last page (it was cut short)"},
		{"bad CRC", badCRC, "Ogg/Opus: page 2 has a bad CRC (the file is damaged)"},
		{"page missing", outOfSeq, "Ogg/Opus: page 2 is out of sequence (number 3, want 2): pages are missing"},
		{"appended", append(append([]byte(nil), good...), good...), "Ogg/Opus: data after the last page (chained or appended Ogg streams are not supported)"},
		{"junk after", append(append([]byte(nil), good...), 0), "Ogg/Opus: data after the last page (chained or appended Ogg streams are not supported)"},
	} {
		_, err := Parse(c.data)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v\nwant %s", c.name, err, c.want)
		}
	}
}

// A granule position that promises more audio than the packets hold is
// refused when decoding, not padded with silence.
func TestGranuleBeyondThePackets(t *testing.T) {
	b := append([]byte(nil), load(t, "stereo48k.opus")...)
	starts := pageStarts(t, b)
	last := starts[len(starts)-1]
	binary.LittleEndian.PutUint64(b[last+6:], 48312+4800)
	binary.LittleEndian.PutUint32(b[last+22:], CRC(b[last:]))
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Decode(); err == nil || !strings.Contains(err.Error(), "truncated: the packets hold 48648 samples, the last granule position says 52800") {
		t.Errorf("error %v", err)
	}
}

func TestCRCKnownPage(t *testing.T) {
	b := load(t, "mono16k.opus")
	end := pageStarts(t, b)[1]
	if got, want := CRC(b[:end]), binary.LittleEndian.Uint32(b[22:26]); got != want {
		t.Errorf("CRC %08x, opusenc wrote %08x", got, want)
	}
}

// A last granule position that says less than the packets hold is the
// length: decoding stops there (RFC 7845 4.4: end trimming).
func TestDecodeStopsAtTheLength(t *testing.T) {
	b := append([]byte(nil), load(t, "stereo48k.opus")...)
	starts := pageStarts(t, b)
	last := starts[len(starts)-1]
	// Both audio pages say half a second (and 10 ms), where their packets
	// hold a second.
	prev := starts[len(starts)-2]
	binary.LittleEndian.PutUint64(b[prev+6:], 24312)
	binary.LittleEndian.PutUint32(b[prev+22:], CRC(b[prev:last]))
	binary.LittleEndian.PutUint64(b[last+6:], 24312+480)
	binary.LittleEndian.PutUint32(b[last+22:], CRC(b[last:]))
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	pcm, err := f.Decode()
	if err != nil || len(pcm) != 24480 || f.Samples != 24480 {
		t.Errorf("decoded %d samples (%v) of %d; want 24480", len(pcm), err, f.Samples)
	}
}

// A file whose last page claims hours is measured, not decoded, by Parse:
// the caller refuses it by its length (maxClipSeconds) before any decoding.
func TestParseMeasuresWithoutDecoding(t *testing.T) {
	b := append([]byte(nil), load(t, "stereo48k.opus")...)
	starts := pageStarts(t, b)
	last := starts[len(starts)-1]
	binary.LittleEndian.PutUint64(b[last+6:], 312+3*3600*Rate)
	binary.LittleEndian.PutUint32(b[last+22:], CRC(b[last:]))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := Parse(b)
	runtime.ReadMemStats(&after)
	if err != nil || f.Seconds() != 3*3600 {
		t.Fatalf("%v, %v s", err, f.Seconds())
	}
	// The File and its list of packets; three hours of audio would be 1 GB.
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("Parse allocated %d bytes for a 3-hour claim", n)
	}
}
