// Package g711 is ITU-T G.711: µ-law and A-law, the 8-bit telephone codecs
// (PCMU and PCMA). Encoding follows the standard's segment rules; decoding
// reads a table built from them, so a code word costs one lookup.
package g711

// mulawBias moves the µ-law segments so that every one starts at a power of
// two (G.711 defines them on that biased scale: 33 at 14 bits, 132 at 16).
const mulawBias = 0x84

// mulawClip is the largest magnitude µ-law encodes (8159 at 14 bits).
const mulawClip = 32635

var mulawTable, alawTable [256]int16

func init() {
	for c := range 256 {
		mulawTable[c] = mulawDecode(byte(c))
		alawTable[c] = alawDecode(byte(c))
	}
}

// EncodeMulaw is the µ-law code word of a 16-bit sample.
func EncodeMulaw(x int16) byte {
	v := int(x)
	neg := byte(0)
	if v < 0 {
		v, neg = -v, 0x80
	}
	v = min(v, mulawClip) + mulawBias
	seg := byte(0)
	for t := v >> 8; t > 0 && seg < 7; t >>= 1 {
		seg++
	}
	mant := byte(v>>(seg+3)) & 0x0f
	return ^(neg | seg<<4 | mant) // sent inverted
}

func mulawDecode(c byte) int16 {
	c = ^c
	seg := (c >> 4) & 7
	v := ((int(c&0x0f) << 3) + mulawBias) << seg
	v -= mulawBias
	if c&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// DecodeMulaw is the 16-bit sample of a µ-law code word.
func DecodeMulaw(c byte) int16 { return mulawTable[c] }

// EncodeAlaw is the A-law code word of a 16-bit sample.
func EncodeAlaw(x int16) byte {
	v := int(x) >> 3 // A-law works on 13 bits
	sign := byte(0x80)
	if v < 0 {
		v, sign = -v-1, 0 // the negative side mirrors -1, not 0
	}
	var seg, mant byte
	if v < 32 {
		mant = byte(v>>1) & 0x0f
	} else {
		seg = 1
		for t := v >> 6; t > 0 && seg < 7; t >>= 1 {
			seg++
		}
		mant = byte(v>>seg) & 0x0f
	}
	return (sign | seg<<4 | mant) ^ 0x55
}

func alawDecode(c byte) int16 {
	c ^= 0x55
	seg := (c >> 4) & 7
	v := int(c&0x0f)<<4 + 8
	switch seg {
	case 0:
	case 1:
		v += 0x100
	default:
		v = (v + 0x100) << (seg - 1)
	}
	if c&0x80 == 0 {
		return int16(-v)
	}
	return int16(v)
}

// DecodeAlaw is the 16-bit sample of an A-law code word.
func DecodeAlaw(c byte) int16 { return alawTable[c] }

// EncodeMulawFrame writes the µ-law code words of src into dst (len(src) bytes).
func EncodeMulawFrame(dst []byte, src []int16) {
	for i, x := range src {
		dst[i] = EncodeMulaw(x)
	}
}

// EncodeAlawFrame writes the A-law code words of src into dst (len(src) bytes).
func EncodeAlawFrame(dst []byte, src []int16) {
	for i, x := range src {
		dst[i] = EncodeAlaw(x)
	}
}

// DecodeMulawFrame appends the samples of µ-law code words to dst.
func DecodeMulawFrame(dst []int16, src []byte) []int16 {
	for _, c := range src {
		dst = append(dst, mulawTable[c])
	}
	return dst
}

// DecodeAlawFrame appends the samples of A-law code words to dst.
func DecodeAlawFrame(dst []int16, src []byte) []int16 {
	for _, c := range src {
		dst = append(dst, alawTable[c])
	}
	return dst
}
