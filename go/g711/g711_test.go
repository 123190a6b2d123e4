package g711

import "testing"

// The standard's decoder outputs, built here from G.711's own description
// (segments of 16 equal steps, each segment's step twice the one before, the
// output at the middle of its interval), not from the package's bit rules.

// mulawStandard: 14-bit magnitudes; segment 0 starts at -1 (its first
// interval is the single value 0), steps 2, 4, ... 256.
func mulawStandard() [256]int {
	var out [256]int
	lower, step := -1, 2
	for seg := 0; seg < 8; seg++ {
		for m := 0; m < 16; m++ {
			v := (lower + m*step + step/2) * 4 // to 16 bits
			out[^byte(0x80|seg<<4|m)] = -v     // negative: sign bit 0 once inverted
			out[^byte(seg<<4|m)] = v
		}
		lower += 16 * step
		step *= 2
	}
	return out
}

// alawStandard: 12-bit magnitudes; segments 0 and 1 step 2, then 4, ... 128.
func alawStandard() [256]int {
	var out [256]int
	lower := 0
	for seg := 0; seg < 8; seg++ {
		step := 2
		if seg > 1 {
			step = 1 << seg
		}
		for m := 0; m < 16; m++ {
			v := (lower + m*step + step/2) * 8 // to 16 bits
			out[byte(0x80|seg<<4|m)^0x55] = v
			out[byte(seg<<4|m)^0x55] = -v
		}
		lower += 16 * step
	}
	return out
}

func TestMulawAllCodeWords(t *testing.T) {
	std := mulawStandard()
	for c := range 256 {
		if got := int(DecodeMulaw(byte(c))); got != std[c] {
			t.Errorf("µ-law 0x%02x decodes to %d, the standard says %d", c, got, std[c])
		}
		want := byte(c)
		if c == 0x7f {
			want = 0xff // -0 and +0 are the same sample; 0 encodes as +0
		}
		if got := EncodeMulaw(int16(std[c])); got != want {
			t.Errorf("µ-law: %d encodes to 0x%02x, want 0x%02x", std[c], got, want)
		}
	}
	// Anchors printed in the standard's tables.
	for c, v := range map[byte]int16{0xff: 0, 0x80: 32124, 0x00: -32124, 0xfe: 8, 0xf0: 120, 0xef: 132} {
		if got := DecodeMulaw(c); got != v {
			t.Errorf("µ-law 0x%02x = %d, want %d", c, got, v)
		}
	}
}

func TestAlawAllCodeWords(t *testing.T) {
	std := alawStandard()
	for c := range 256 {
		if got := int(DecodeAlaw(byte(c))); got != std[c] {
			t.Errorf("A-law 0x%02x decodes to %d, the standard says %d", c, got, std[c])
		}
		if got := EncodeAlaw(int16(std[c])); got != byte(c) {
			t.Errorf("A-law: %d encodes to 0x%02x, want 0x%02x", std[c], got, c)
		}
	}
	for c, v := range map[byte]int16{0xd5: 8, 0x55: -8, 0xaa: 32256, 0x2a: -32256} {
		if got := DecodeAlaw(c); got != v {
			t.Errorf("A-law 0x%02x = %d, want %d", c, got, v)
		}
	}
}

// Every 16-bit sample encodes to the code word whose interval holds it: the
// decoded value is within half a step, and codes never go backwards.
func TestEncodeEverySample(t *testing.T) {
	for _, codec := range []struct {
		name   string
		enc    func(int16) byte
		dec    func(byte) int16
		maxErr func(v int) int
	}{
		{"µ-law", EncodeMulaw, DecodeMulaw, func(v int) int { return max(4, (v+132)>>4) }},
		{"A-law", EncodeAlaw, DecodeAlaw, func(v int) int { return max(8, v>>4) + 8 }},
	} {
		prev := -1 << 20
		for x := -32768; x <= 32767; x++ {
			y := int(codec.dec(codec.enc(int16(x))))
			if y < prev {
				t.Fatalf("%s: %d decodes to %d, below the %d of a smaller sample", codec.name, x, y, prev)
			}
			prev = y
			if d := abs(y - x); d > codec.maxErr(abs(x)) && abs(x) < 32000 {
				t.Fatalf("%s: %d comes back as %d, off by %d", codec.name, x, y, d)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestFrames(t *testing.T) {
	src := []int16{0, 1000, -1000, 32767, -32768}
	m := make([]byte, len(src))
	EncodeMulawFrame(m, src)
	a := make([]byte, len(src))
	EncodeAlawFrame(a, src)
	dm := DecodeMulawFrame(nil, m)
	da := DecodeAlawFrame(nil, a)
	for i, x := range src {
		if dm[i] != DecodeMulaw(EncodeMulaw(x)) || da[i] != DecodeAlaw(EncodeAlaw(x)) {
			t.Errorf("sample %d: frame codecs disagree with the sample codecs", i)
		}
	}
}
