package resample
import ("testing";"time";"fmt")

func dotB(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	for i := 0; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0]*bb[0] + aa[4]*bb[4]
		s1 += aa[1]*bb[1] + aa[5]*bb[5]
		s2 += aa[2]*bb[2] + aa[6]*bb[6]
		s3 += aa[3]*bb[3] + aa[7]*bb[7]
	}
	return (s0 + s1) + (s2 + s3)
}
func dotC(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	b = b[:len(a)]
	for i := 0; i+4 <= len(a); i += 4 {
		aa := a[i : i+4 : i+4]
		bb := b[i : i+4 : i+4]
		s0 += aa[0]*bb[0]
		s1 += aa[1]*bb[1]
		s2 += aa[2]*bb[2]
		s3 += aa[3]*bb[3]
	}
	return (s0 + s1) + (s2 + s3)
}
func dotD(a, b []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	b = b[:len(a)]
	for i := 0; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0]*bb[0]
		s1 += aa[1]*bb[1]
		s2 += aa[2]*bb[2]
		s3 += aa[3]*bb[3]
		s4 += aa[4]*bb[4]
		s5 += aa[5]*bb[5]
		s6 += aa[6]*bb[6]
		s7 += aa[7]*bb[7]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}
func dotE(a, b []float64) float64 {
	var s0, s1, s2, s3 float64
	b = b[:len(a)]
	for i := 0; i+4 <= len(a); i += 4 {
		aa := a[i : i+4 : i+4]
		bb := b[i : i+4 : i+4]
		s0 += aa[0]*bb[0]
		s1 += aa[1]*bb[1]
		s2 += aa[2]*bb[2]
		s3 += aa[3]*bb[3]
	}
	return (s0 + s1) + (s2 + s3)
}
var sink float32
func timeit(f func()) time.Duration {
	best := time.Hour
	for t := 0; t < 400; t++ {
		t0 := time.Now()
		for i := 0; i < 200; i++ { f() }
		if d := time.Since(t0)/200; d < best { best = d }
	}
	return best
}
func TestTmpDot(t *testing.T) {
	for _, n := range []int{64, 120, 344} {
		a := make([]float32, n); b := make([]float32, n)
		a64 := make([]float64, n); b64 := make([]float64, n)
		for i := range a { a[i] = float32(i); b[i] = 1.0/float32(i+1); a64[i]=float64(a[i]); b64[i]=float64(b[i]) }
		var s64 float64
		fmt.Printf("n=%d A %v B %v C %v D %v E64 %v\n", n,
			timeit(func(){ sink += dot(a,b) }), timeit(func(){ sink += dotB(a,b) }),
			timeit(func(){ sink += dotC(a,b) }), timeit(func(){ sink += dotD(a,b) }), timeit(func(){ s64 += dotE(a64,b64) }))
	}
}
