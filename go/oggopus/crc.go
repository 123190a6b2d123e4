package oggopus

// crcTable is Ogg's CRC-32 (RFC 3533 6: polynomial 0x04c11db7, not
// reflected, initial value 0, no final XOR).
var crcTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for k := 0; k < 8; k++ {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return
}()

// CRC is the checksum of a whole page, its own checksum field (bytes 22 to
// 25) counted as zero.
func CRC(page []byte) uint32 {
	var c uint32
	for i, b := range page {
		if i >= 22 && i < 26 {
			b = 0
		}
		c = c<<8 ^ crcTable[byte(c>>24)^b]
	}
	return c
}
