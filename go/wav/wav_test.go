package wav

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, b []byte) Audio {
	t.Helper()
	a, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return a
}

func parseErr(t *testing.T, b []byte) string {
	t.Helper()
	a, err := Parse(b)
	if err == nil {
		t.Fatalf("Parse accepted: %+v", a)
	}
	return err.Error()
}

func chunk(id string, body []byte) []byte {
	c := make([]byte, 8, 8+len(body)+1)
	copy(c, id)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(body)))
	c = append(c, body...)
	if len(body)%2 == 1 {
		c = append(c, 0) // pad byte
	}
	return c
}

func fmtBody(format, channels, rate, bits int) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b[0:], uint16(format))
	binary.LittleEndian.PutUint16(b[2:], uint16(channels))
	binary.LittleEndian.PutUint32(b[4:], uint32(rate))
	binary.LittleEndian.PutUint32(b[8:], uint32(rate*channels*bits/8))
	binary.LittleEndian.PutUint16(b[12:], uint16(channels*bits/8))
	binary.LittleEndian.PutUint16(b[14:], uint16(bits))
	return b
}

func le(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	return append(out, body...)
}

func TestEncodeHeader(t *testing.T) {
	b := Encode(16000, 2, []int16{1, -2, 3, -4})
	if len(b) != 44+8 {
		t.Fatalf("length %d", len(b))
	}
	want := riff(chunk("fmt ", fmtBody(1, 2, 16000, 16)), chunk("data", le(1, -2, 3, -4)))
	if !bytes.Equal(b, want) {
		t.Fatalf("Encode:\n got % x\nwant % x", b, want)
	}
	if !bytes.Equal(Header(16000, 2, 8), b[:44]) {
		t.Fatal("Header differs from Encode's header")
	}
	var w bytes.Buffer
	if err := Write(&w, 16000, 2, []int16{1, -2, 3, -4}); err != nil || !bytes.Equal(w.Bytes(), b) {
		t.Fatalf("Write: %v", err)
	}
}

func TestRoundTripMono(t *testing.T) {
	s := []int16{0, 1, -1, 32767, -32768, 12345, -12345}
	a := mustParse(t, Encode(8000, 1, s))
	if a.Rate != 8000 || a.Channels != 1 || !reflect.DeepEqual(a.Samples, s) {
		t.Fatalf("%+v", a)
	}
}

func TestRoundTripStereo(t *testing.T) {
	s := []int16{10, -10, 20, -20, 32767, -32768}
	a := mustParse(t, Encode(48000, 2, s))
	if a.Rate != 48000 || a.Channels != 2 || !reflect.DeepEqual(a.Samples, s) {
		t.Fatalf("%+v", a)
	}
}

func TestRoundTripEmpty(t *testing.T) {
	a := mustParse(t, Encode(8000, 1, nil))
	if len(a.Samples) != 0 || a.Rate != 8000 {
		t.Fatalf("%+v", a)
	}
}

func TestSkipsOtherChunks(t *testing.T) {
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00Lavf\x00\x00"))
	b := riff(chunk("fmt ", fmtBody(1, 1, 16000, 16)), list, chunk("fact", []byte{4, 0, 0, 0}), chunk("data", le(5, 6, 7)))
	a := mustParse(t, b)
	if a.Rate != 16000 || !reflect.DeepEqual(a.Samples, []int16{5, 6, 7}) {
		t.Fatalf("%+v", a)
	}
	// Before fmt too.
	b = riff(chunk("JUNK", make([]byte, 28)), chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", le(9)))
	if a := mustParse(t, b); !reflect.DeepEqual(a.Samples, []int16{9}) {
		t.Fatalf("%+v", a)
	}
}

func TestOddSizedChunkPadding(t *testing.T) {
	odd := chunk("note", []byte("abc")) // 3 bytes + 1 pad byte
	if len(odd) != 12 {
		t.Fatalf("test chunk is %d bytes", len(odd))
	}
	b := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), odd, chunk("data", le(-7, 8)))
	a := mustParse(t, b)
	if !reflect.DeepEqual(a.Samples, []int16{-7, 8}) {
		t.Fatalf("after an odd chunk: %+v", a)
	}
}

func TestExtensiblePCM(t *testing.T) {
	body := make([]byte, 40)
	copy(body, fmtBody(0xFFFE, 2, 24000, 16))
	binary.LittleEndian.PutUint16(body[16:], 22) // cbSize
	binary.LittleEndian.PutUint16(body[18:], 16) // valid bits
	binary.LittleEndian.PutUint32(body[20:], 3)  // channel mask
	binary.LittleEndian.PutUint16(body[24:], 1)  // KSDATAFORMAT_SUBTYPE_PCM ...
	copy(body[26:], "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
	a := mustParse(t, riff(chunk("fmt ", body), chunk("data", le(1, 2, 3, 4))))
	if a.Rate != 24000 || a.Channels != 2 || !reflect.DeepEqual(a.Samples, []int16{1, 2, 3, 4}) {
		t.Fatalf("%+v", a)
	}
	// Extensible with a float subformat is refused.
	binary.LittleEndian.PutUint16(body[24:], 3)
	if got := parseErr(t, riff(chunk("fmt ", body), chunk("data", le(1, 2)))); got != "wav: only 16-bit PCM is supported (format 3, 16 bits)" {
		t.Fatalf("extensible float: %s", got)
	}
}

func TestTruncatedData(t *testing.T) {
	// A streaming writer's header: the data size says more than the file has
	// (here 0xFFFFFFFF), and the file ends mid-sample.
	b := Encode(8000, 1, []int16{1, 2, 3, 4})
	binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFF)
	b = append(b, 0x05) // half a sample
	a := mustParse(t, b)
	if !reflect.DeepEqual(a.Samples, []int16{1, 2, 3, 4}) {
		t.Fatalf("%+v", a)
	}
	// Stereo: a half frame at the end is dropped.
	b = Encode(8000, 2, []int16{1, 2, 3, 4, 5})
	binary.LittleEndian.PutUint32(b[40:], 1000)
	if a := mustParse(t, b); !reflect.DeepEqual(a.Samples, []int16{1, 2, 3, 4}) {
		t.Fatalf("stereo: %+v", a)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "wav: not a RIFF/WAVE file"},
		{"text", []byte("hello, this is not audio at all"), "wav: not a RIFF/WAVE file"},
		{"RIFF AVI", append([]byte("RIFF\x00\x00\x00\x00AVI "), chunk("fmt ", fmtBody(1, 1, 8000, 16))...), "wav: not a RIFF/WAVE file"},
		{"RIFX", append([]byte("RIFX"), Encode(8000, 1, []int16{1})[4:]...), "wav: not a RIFF/WAVE file"},
		{"no fmt", riff(chunk("data", le(1, 2))), "wav: data chunk before fmt chunk"},
		{"no chunks", riff(), "wav: no fmt chunk"},
		{"only LIST", riff(chunk("LIST", []byte("INFO"))), "wav: no fmt chunk"},
		{"no data", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16))), "wav: no data chunk"},
		{"8-bit", riff(chunk("fmt ", fmtBody(1, 1, 8000, 8)), chunk("data", []byte{1, 2})), "wav: only 16-bit PCM is supported (format 1, 8 bits)"},
		{"24-bit", riff(chunk("fmt ", fmtBody(1, 1, 8000, 24)), chunk("data", make([]byte, 6))), "wav: only 16-bit PCM is supported (format 1, 24 bits)"},
		{"float", riff(chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", make([]byte, 8))), "wav: only 16-bit PCM is supported (format 3, 32 bits)"},
		{"mu-law", riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("data", []byte{1})), "wav: only 16-bit PCM is supported (format 7, 8 bits)"},
		{"3 channels", riff(chunk("fmt ", fmtBody(1, 3, 8000, 16)), chunk("data", le(1, 2, 3))), "wav: only mono or stereo is supported (3 channels)"},
		{"0 channels", riff(chunk("fmt ", fmtBody(1, 0, 8000, 16)), chunk("data", le(1))), "wav: only mono or stereo is supported (0 channels)"},
		{"short fmt", riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)[:14]), chunk("data", le(1))), "wav: fmt chunk too short"},
		{"fmt cut short", append(riff(), []byte("fmt \x10\x00\x00\x00\x01\x00")...), `wav: chunk "fmt " is cut short`},
	}
	for _, c := range cases {
		if got := parseErr(t, c.in); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if got := parseErr(t, riff(chunk("fmt ", fmtBody(1, 1, 8000, 8)), chunk("data", []byte{1, 2}))); !strings.Contains(got, "16-bit PCM") {
		t.Fatal(got)
	}
}

func TestMono(t *testing.T) {
	a := Audio{Rate: 8000, Channels: 2, Samples: []int16{100, 200, -32768, -32768, 32767, 32767, 1, -2}}
	if got, want := a.Mono(), []int16{150, -32768, 32767, 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Mono() = %v, want %v", got, want)
	}
	m := Audio{Rate: 8000, Channels: 1, Samples: []int16{1, 2, 3}}
	if got := m.Mono(); !reflect.DeepEqual(got, []int16{1, 2, 3}) {
		t.Fatalf("mono Mono() = %v", got)
	}
}

// The length of a WAV's audio is known from its first bytes and its total
// length, before the rest is decoded.
func TestParseHeaderFromPrefix(t *testing.T) {
	const total = 44 + 2*2*48000*600 // 600 s of 48 kHz stereo
	h, err := ParseHeader(Header(48000, 2, total-44), total)
	if err != nil {
		t.Fatal(err)
	}
	if h.Rate != 48000 || h.Channels != 2 || h.DataOffset != 44 || h.Frames() != 48000*600 {
		t.Errorf("layout %+v, frames %d", h, h.Frames())
	}
	// A header that lies about its data size: the file's length wins.
	h, err = ParseHeader(Header(8000, 1, 1<<30), 44+1001)
	if err != nil || h.DataBytes != 1000 {
		t.Errorf("lying data size: %+v, %v", h, err)
	}
	// Chunks before the data beyond the prefix are refused, not read.
	long := append(Header(8000, 1, 0)[:36], "LIST\x00\x00\x01\x00"...)
	if _, err := ParseHeader(long, 1<<20); err == nil || err.Error() != "wav: the header is longer than 44 bytes" {
		t.Errorf("a header past the prefix: %v", err)
	}
}
