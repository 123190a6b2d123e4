package stream

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/g711"
	"github.com/modlisten/mod_listen/go/opus"
)

func newTestFramer(t *testing.T, mix string, codec, rate int) *framer {
	t.Helper()
	f, err := newFramer(&config.Listen{MixType: mix, SampleRate: rate}, codec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// frame is the framer's next wire frame, or nil.
func frame(t *testing.T, f *framer, pad bool) []byte {
	t.Helper()
	b, err := f.wireFrame(pad)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func constFrame(n int, v int16) []int16 {
	b := make([]int16, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// wireSamples decodes a wire frame.
func wireSamples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

func TestStereoWaitsForTheOtherSideWithinSlack(t *testing.T) {
	f := newTestFramer(t, config.Stereo, 8000, 8000)
	f.inL = append(f.inL, constFrame(160, 100)...)
	if _, _, ok := f.next(false); ok {
		t.Fatal("a caller frame alone was framed at once; the other side's frame of the same tick may still come")
	}
	f.inR = append(f.inR, constFrame(160, -100)...)
	l, r, ok := f.next(false)
	if !ok || l[0] != 100 || r[0] != -100 {
		t.Fatalf("next = %v %v %v, want the pair (100, -100)", ok, l[:1], r[:1])
	}
}

func TestStereoKeepsFlowingWhenOneSideIsSilent(t *testing.T) {
	f := newTestFramer(t, config.Stereo, 8000, 8000)
	for i := 0; i < slackFrames; i++ {
		f.inL = append(f.inL, constFrame(160, 7)...)
	}
	l, r, ok := f.next(false)
	if !ok {
		t.Fatal("caller audio stalled while the other side sent nothing")
	}
	if l[0] != 7 || r[0] != 0 || r[159] != 0 {
		t.Fatalf("got caller %d other %d..%d, want 7 and silence", l[0], r[0], r[159])
	}
	g := newTestFramer(t, config.Stereo, 8000, 8000)
	for i := 0; i < slackFrames; i++ {
		g.inR = append(g.inR, constFrame(160, 9)...)
	}
	l, r, ok = g.next(false)
	if !ok || l[0] != 0 || r[0] != 9 {
		t.Fatalf("other side alone: ok=%v caller %d other %d, want silence and 9", ok, l[0], r[0])
	}
}

func TestStereoWireFrameIsInterleavedLeftCaller(t *testing.T) {
	f := newTestFramer(t, config.Stereo, 8000, 8000)
	f.add(constFrame(160, 1000), constFrame(160, -2000))
	w := frame(t, f, false)
	if len(w) != 160*2*2 {
		t.Fatalf("frame is %d bytes, want 640", len(w))
	}
	s := wireSamples(w)
	for i := 0; i < len(s); i += 2 {
		if s[i] != 1000 || s[i+1] != -2000 {
			t.Fatalf("pair %d = (%d, %d), want (1000, -2000)", i/2, s[i], s[i+1])
		}
	}
}

func TestMixedSaturates(t *testing.T) {
	f := newTestFramer(t, config.Mixed, 8000, 8000)
	f.add(constFrame(160, 30000), constFrame(160, 30000))
	for _, v := range wireSamples(frame(t, f, false)) {
		if v != 32767 {
			t.Fatalf("30000+30000 gave %d, want 32767 (clip, never wrap)", v)
		}
	}
}

// A stream is exactly as long as what was captured: the resampler's delay is
// dropped at the start and flushed at the end.
func TestResampledStreamKeepsItsLength(t *testing.T) {
	for _, rate := range config.StreamRates {
		f := newTestFramer(t, config.Mono, 8000, rate)
		frames := 0
		for i := 0; i < 50; i++ {
			f.inL = append(f.inL, constFrame(160, 1000)...)
			c, o, ok := f.next(false)
			if !ok {
				t.Fatal("a whole mono frame was not framed")
			}
			f.add(c, o)
			for frame(t, f, false) != nil {
				frames++
			}
		}
		f.flushResamplers()
		for frame(t, f, true) != nil {
			frames++
		}
		if frames != 50 {
			t.Errorf("8000 -> %d: %d frames out for 50 in", rate, frames)
		}
	}
}

func TestFramingAllocatesNothing(t *testing.T) {
	for _, mix := range []string{config.Mono, config.Stereo, config.Mixed} {
		f := newTestFramer(t, mix, 8000, 16000)
		in := constFrame(160, 1234)
		step := func() {
			f.inL = append(f.inL, in...)
			f.inR = append(f.inR, in...)
			c, o, _ := f.next(false)
			f.add(c, o)
			for frame(t, f, false) != nil {
			}
		}
		for i := 0; i < 10; i++ {
			step() // let the buffers reach their working size
		}
		if a := testing.AllocsPerRun(200, step); a != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", mix, a)
		}
	}
}

// G.711 streams carry one byte a sample, channels interleaved like L16.
func TestFramerG711(t *testing.T) {
	for _, c := range []struct {
		enc string
		dec func(byte) int16
	}{{config.Mulaw, g711.DecodeMulaw}, {config.Alaw, g711.DecodeAlaw}} {
		f, err := newFramer(&config.Listen{MixType: config.Stereo, SampleRate: 8000, Encoding: c.enc}, 8000)
		if err != nil {
			t.Fatal(err)
		}
		f.inL = append(f.inL, constFrame(160, 1000)...)
		f.inR = append(f.inR, constFrame(160, -3000)...)
		l, r, _ := f.next(false)
		f.add(l, r)
		w := frame(t, f, false)
		if len(w) != 320 {
			t.Fatalf("%s: stereo frame of %d bytes, want 320", c.enc, len(w))
		}
		// Past the resampler's start (8 kHz to 8 kHz passes samples as they are).
		for i := 0; i < 320; i += 2 {
			if a, b := c.dec(w[i]), c.dec(w[i+1]); math.Abs(float64(a)-1000) > 40 || math.Abs(float64(b)+3000) > 100 {
				t.Fatalf("%s: sample pair %d decodes to (%d, %d), want about (1000, -3000)", c.enc, i/2, a, b)
			}
		}
	}
}

// With Opus, each wire frame is one packet of 20 ms, and framing and
// encoding together allocate nothing per frame.
func TestOpusFramingAllocatesNothing(t *testing.T) {
	for _, mix := range []string{config.Mono, config.Stereo, config.Mixed} {
		c := &config.Listen{MixType: mix, SampleRate: 16000, Encoding: config.OpusCode,
			Opus: config.Opus{Bitrate: 32000, Application: config.OpusVoIP, Complexity: config.OpusDefaultComplexity}}
		f, err := newFramer(c, 8000)
		if err != nil {
			t.Fatal(err)
		}
		channels := 1
		if mix == config.Stereo {
			channels = 2
		}
		dec, err := opus.NewDecoder(16000, channels)
		if err != nil {
			t.Fatal(err)
		}
		in := constFrame(160, 1234)
		packets := 0
		step := func() {
			f.inL = append(f.inL, in...)
			f.inR = append(f.inR, in...)
			c, o, _ := f.next(false)
			f.add(c, o)
			for p := frame(t, f, false); p != nil; p = frame(t, f, false) {
				packets++
			}
		}
		for i := 0; i < 10; i++ {
			step()
			if p := frame(t, f, true); p != nil {
				pcm, err := dec.Decode(p)
				if err != nil || len(pcm) != 320*channels {
					t.Fatalf("%s: a wire frame decodes to %d samples (%v), want 20 ms: %d", mix, len(pcm), err, 320*channels)
				}
			}
		}
		if a := testing.AllocsPerRun(200, step); a != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", mix, a)
		}
		if packets < 200 {
			t.Errorf("%s: %d packets for 200 frames", mix, packets)
		}
	}
}
