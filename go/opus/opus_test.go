package opus

import (
	"math"
	"testing"

	"github.com/modlisten/mod_listen/go/config"
)

func voip(bitrate int) config.Opus {
	return config.Opus{Bitrate: bitrate, Application: config.OpusVoIP, Complexity: config.OpusDefaultComplexity}
}

// tone is n samples of a sine at f Hz and amp (of full scale), channels
// interleaved, the right channel silent when there are two.
func tone(rate, channels, n int, f, amp float64, start int) []int16 {
	out := make([]int16, n*channels)
	for i := 0; i < n; i++ {
		out[i*channels] = int16(amp * 32767 * math.Sin(2*math.Pi*f*float64(start+i)/float64(rate)))
	}
	return out
}

func rms(x []int16, channel, channels int) float64 {
	var sum float64
	n := 0
	for i := channel; i < len(x); i += channels {
		sum += float64(x[i]) * float64(x[i])
		n++
	}
	return math.Sqrt(sum / float64(n))
}

// A second of a 1 kHz tone goes through the encoder and back out of a
// decoder at the same level (±1 dB), for every rate, mono and stereo; the
// silent right channel stays silent.
func TestRoundTrip(t *testing.T) {
	for _, rate := range config.OpusRates {
		for _, channels := range []int{1, 2} {
			enc, err := NewEncoder(rate, channels, voip(32000*channels))
			if err != nil {
				t.Fatal(err)
			}
			dec, err := NewDecoder(rate, channels)
			if err != nil {
				t.Fatal(err)
			}
			frame := rate / 50
			var out []int16
			for k := 0; k < 50; k++ {
				p, err := enc.Encode(tone(rate, channels, frame, 1000, 0.5, k*frame))
				if err != nil {
					t.Fatal(err)
				}
				pcm, err := dec.Decode(p)
				if err != nil {
					t.Fatal(err)
				}
				if len(pcm) != frame*channels {
					t.Fatalf("%d Hz: a packet decoded to %d samples, want %d", rate, len(pcm), frame*channels)
				}
				out = append(out, pcm...)
			}
			mid := out[len(out)/4 : len(out)*3/4]
			want := 0.5 * 32767 / math.Sqrt2
			if db := 20 * math.Log10(rms(mid, 0, channels)/want); math.Abs(db) > 1 {
				t.Errorf("%d Hz, %d channels: level %.2f dB off", rate, channels, db)
			}
			if channels == 2 {
				if sep := 20 * math.Log10(rms(mid, 0, 2)/max(rms(mid, 1, 2), 1)); sep < 30 {
					t.Errorf("%d Hz stereo: separation %.1f dB, want ≥ 30", rate, sep)
				}
			}
		}
	}
}

func TestEncodeAllocatesNothing(t *testing.T) {
	enc, err := NewEncoder(16000, 2, voip(64000))
	if err != nil {
		t.Fatal(err)
	}
	pcm := tone(16000, 2, 320, 1000, 0.5, 0)
	if a := testing.AllocsPerRun(200, func() {
		if _, err := enc.Encode(pcm); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Encode allocates %.1f times a frame, want 0", a)
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	enc, _ := NewEncoder(48000, 1, voip(32000))
	p, _ := enc.Encode(tone(48000, 1, 960, 1000, 0.5, 0))
	packet := append([]byte(nil), p...)
	dec, _ := NewDecoder(8000, 1)
	if a := testing.AllocsPerRun(200, func() {
		if _, err := dec.Decode(packet); err != nil {
			t.Fatal(err)
		}
		if _, err := dec.Conceal(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Decode and Conceal allocate %.1f times a packet, want 0", a)
	}
}

func TestWrongFrameRefused(t *testing.T) {
	enc, _ := NewEncoder(8000, 1, voip(20000))
	if _, err := enc.Encode(make([]int16, 100)); err == nil || err.Error() != "opus: a frame is 160 samples, got 100" {
		t.Errorf("error %v", err)
	}
}

func TestBadPacketsRefused(t *testing.T) {
	dec, _ := NewDecoder(16000, 1)
	if _, err := dec.Decode(nil); err == nil || err.Error() != "opus: empty packet" {
		t.Errorf("empty packet: %v", err)
	}
	// TOC code 3 (an arbitrary number of frames) with a frame count of 0 is
	// invalid (RFC 6716 3.2.5).
	if _, err := dec.Decode([]byte{0x03, 0x00}); err == nil || err.Error() != "opus: invalid packet (opus: corrupted stream)" {
		t.Errorf("invalid packet: %v", err)
	}
}

// A lost packet in a tone is concealed with sound, not silence: the
// concealment carries on the tone at close to its level.
func TestConcealContinuesTheSound(t *testing.T) {
	enc, _ := NewEncoder(16000, 1, voip(32000))
	dec, _ := NewDecoder(16000, 1)
	for k := 0; k < 20; k++ {
		p, _ := enc.Encode(tone(16000, 1, 320, 1000, 0.5, k*320))
		if _, err := dec.Decode(p); err != nil {
			t.Fatal(err)
		}
	}
	pcm, err := dec.Conceal()
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != 320 {
		t.Fatalf("concealed %d samples, want 320 (20 ms)", len(pcm))
	}
	if db := 20 * math.Log10(rms(pcm, 0, 1)/(0.5*32767/math.Sqrt2)); db < -6 {
		t.Errorf("concealment at %.1f dB of the tone, want within 6 dB (not silence)", db)
	}
}

// With DTX, silence is sent as packets of at most two bytes; without, it is
// not.
func TestDTXShrinksSilence(t *testing.T) {
	for _, dtx := range []bool{false, true} {
		o := voip(32000)
		o.DTX = dtx
		enc, _ := NewEncoder(16000, 1, o)
		silence := make([]int16, 320)
		small := 0
		for k := 0; k < 50; k++ {
			p, err := enc.Encode(silence)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) <= 2 {
				small++
			}
		}
		if dtx && small < 35 || !dtx && small > 0 { // DTX starts after a few frames of silence
			t.Errorf("dtx %v: %d of 50 silent packets are of 2 bytes or less", dtx, small)
		}
	}
}

// The options reach libopus.
func TestOptionsApplied(t *testing.T) {
	for _, o := range []config.Opus{
		{Bitrate: 24000, Application: config.OpusAudio, Complexity: 7, FEC: true, DTX: true},
		{Bitrate: 64000, Application: config.OpusLowDelay, Complexity: 0},
	} {
		e, err := NewEncoder(16000, 1, o)
		if err != nil {
			t.Fatal(err)
		}
		bitrate, _ := e.enc.Bitrate()
		complexity, _ := e.enc.Complexity()
		fec, _ := e.enc.InBandFEC()
		loss, _ := e.enc.PacketLossPerc()
		dtx, _ := e.enc.DTX()
		wantLoss := 0
		if o.FEC {
			wantLoss = fecLossPercent
		}
		if bitrate != o.Bitrate || complexity != o.Complexity || fec != o.FEC || loss != wantLoss || dtx != o.DTX {
			t.Errorf("%+v: libopus has bitrate %d, complexity %d, fec %v, loss %d%%, dtx %v", o, bitrate, complexity, fec, loss, dtx)
		}
	}
	if _, err := NewEncoder(16000, 1, config.Opus{Bitrate: 32000, Application: "music"}); err == nil || err.Error() != `opus: unknown application "music"` {
		t.Errorf("unknown application: %v", err)
	}
}
