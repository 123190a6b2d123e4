package recorder

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/gorilla/websocket"
	libopus "github.com/hraban/opus"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/opus"
)

// opusPackets encodes n 20 ms packets of a 1 kHz sine (amplitude 8000) at
// 16 kHz mono, continuing from packet from.
func opusPackets(t testing.TB, enc *opus.Encoder, from, n int) [][]byte {
	t.Helper()
	const r = 16000
	var out [][]byte
	pcm := make([]int16, r/50)
	for p := from; p < from+n; p++ {
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(p*len(pcm)+i)/r))
		}
		b, err := enc.Encode(pcm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), b...))
	}
	return out
}

func newOpusEncoder(t testing.TB) *opus.Encoder {
	t.Helper()
	enc, err := opus.NewEncoder(16000, 1, config.Opus{Bitrate: 32000, Application: config.OpusVoIP})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// goertzelDB is the level of the freq component of x, in dB relative to a
// sine of amplitude 8000.
func goertzelDB(x []int16, r int, freq float64) float64 {
	w := 2 * math.Pi * freq / float64(r)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	p := (s1*s1 + s2*s2 - c*s1*s2) / float64(len(x)) / float64(len(x))
	return 10 * math.Log10(p/(8000*8000/4))
}

// TestOpusStream: an Opus stream is recorded decoded, one packet's 20 ms
// per binary frame. Frames that are not valid packets (garbage, an empty
// frame, a 40 ms packet) keep their 20 ms (concealed), are counted in the
// sidecar, and the stream goes on. A resumption is stitched by media time
// as for PCM: the 100 ms sent again is dropped, lostMs is silence.
func TestOpusStream(t *testing.T) {
	_, dir, url := newRecorder(t, Options{})
	enc := newOpusEncoder(t)
	packets := opusPackets(t, enc, 0, 150)

	long, err := libopus.NewEncoder(16000, 1, libopus.AppVoIP)
	if err != nil {
		t.Fatal(err)
	}
	longPacket := make([]byte, 1000)
	n, err := long.Encode(make([]int16, 640), longPacket) // 40 ms in one valid packet
	if err != nil {
		t.Fatal(err)
	}
	invalid := [][]byte{{0xff, 0xff, 0xff}, {}, longPacket[:n]}

	c := dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"opus-1","sampleRate":16000,"mixType":"mono","encoding":"opus"}`))
	for i, p := range packets[:100] {
		if i == 60 { // three invalid frames in place of packets 60 to 62
			for _, bad := range invalid {
				send(t, c, websocket.BinaryMessage, bad)
			}
		}
		if i < 60 || i > 62 {
			send(t, c, websocket.BinaryMessage, p)
		}
	}
	c.UnderlyingConn().Close() // dropped: 2 s sent
	waitParts(t, dir, 1)
	// The listen resumes at 1.9 s (packets 95 to 99 again), having lost
	// 200 ms (10 packets) after them, then sends on from packet 110.
	c = dial(t, url)
	send(t, c, websocket.TextMessage, []byte(`{"callSid":"opus-1","sampleRate":16000,"mixType":"mono","encoding":"opus",`+
		`"resumed":true,"reconnects":1,"startMs":1900,"lostMs":200}`))
	for _, p := range packets[95:100] {
		send(t, c, websocket.BinaryMessage, p)
	}
	for _, p := range packets[110:] {
		send(t, c, websocket.BinaryMessage, p)
	}
	closeNormal(c)

	side := waitRecordings(t, dir, 1)[0]
	a := readWAV(t, dir, side)
	if a.Rate != 16000 || a.Channels != 1 || side.Encoding != "opus" {
		t.Fatalf("recorded %d Hz, %d channels, encoding %q; want 16000 Hz mono opus", a.Rate, a.Channels, side.Encoding)
	}
	if want := 150 * 320; len(a.Samples) != want {
		t.Errorf("recording holds %d samples, want %d (150 packets of 20 ms)", len(a.Samples), want)
	}
	if side.InvalidPackets != 3 {
		t.Errorf("sidecar invalidPackets %d, want 3", side.InvalidPackets)
	}
	if len(side.Gaps) != 1 || side.Gaps[0] != (Gap{AtMs: 2000, Ms: 200, Cause: "lost"}) || side.Resumptions[0].DuplicateMs != 100 {
		t.Errorf("gaps %+v, resumptions %+v; want one lost gap of 200 ms at 2000 ms, 100 ms duplicate", side.Gaps, side.Resumptions)
	}
	for _, span := range []struct{ from, to int }{{10, 59}, {64, 99}, {111, 149}} {
		x := a.Samples[span.from*320 : span.to*320]
		if db := goertzelDB(x, 16000, 1000); db < -1 || db > 1 {
			t.Errorf("packets %d to %d: the 1 kHz tone at %+.2f dB, want 0 ± 1 dB", span.from, span.to, db)
		}
	}
	for i, v := range a.Samples[2000*16 : 2200*16] {
		if v != 0 {
			t.Fatalf("sample %d of the lost gap is %d, want silence", 2000*16+i, v)
		}
	}
}

// BenchmarkOpusDecode is the recorder's cost per 20 ms packet of a 16 kHz
// mono Opus stream recorded as WAV: decoding it.
func BenchmarkOpusDecode(b *testing.B) {
	packets := opusPackets(b, newOpusEncoder(b), 0, 50)
	lin, err := newLinear("opus", 16000, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, invalid := lin.linear(packets[i%len(packets)]); invalid {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkOggEncode is the cost per 20 ms frame of a 16 kHz mono PCM
// stream recorded as Ogg/Opus: encoding it.
func BenchmarkOggEncode(b *testing.B) {
	tr, err := createOgg(filepath.Join(b.TempDir(), "x.opus"), 16000, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	pcm := make([]byte, 640)
	for i := range 320 {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(8000*math.Sin(float64(i)/5))))
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Write(pcm, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOpusGarbage: frames of random bytes, of any length up to 4000, on an
// Opus stream never end it: each is 20 ms of the recording (decoded when
// the bytes happen to be a valid packet, else concealed and counted); as
// Ogg/Opus, the file still parses and decodes whole.
func TestOpusGarbage(t *testing.T) {
	for _, format := range []string{FormatWAV, FormatOgg} {
		_, dir, url := newRecorder(t, Options{Format: format})
		rng := rand.New(rand.NewPCG(1, 2))
		c := dial(t, url)
		send(t, c, websocket.TextMessage, []byte(`{"callSid":"garbage","sampleRate":16000,"mixType":"stereo","encoding":"opus"}`))
		const n = 300
		for range n {
			b := make([]byte, rng.IntN(4000))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			send(t, c, websocket.BinaryMessage, b)
		}
		closeNormal(c)
		side := waitRecordings(t, dir, 1)[0]
		t.Logf("%s: %d of %d random frames invalid", format, side.InvalidPackets, n)
		if side.Ended != "closed" || side.CloseCode != 1000 || side.InvalidPackets == 0 || side.DurationMs != n*20 {
			t.Errorf("%s: ended %q code %d, %d invalid, %d ms (want %d)", format, side.Ended, side.CloseCode, side.InvalidPackets, side.DurationMs, n*20)
		}
		if format == FormatWAV {
			if a := readWAV(t, dir, side); len(a.Samples) != n*320*2 {
				t.Errorf("%d samples, want %d", len(a.Samples), n*320*2)
			}
		} else if f, pcm, _ := readOgg(t, dir, side); f.Samples != n*960 || len(pcm) != n*960 {
			t.Errorf("ogg: %d samples (%d decoded), want %d", f.Samples, len(pcm), n*960)
		}
	}
}
