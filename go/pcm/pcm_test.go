package pcm

import (
	"math"
	"reflect"
	"testing"
)

func TestClip(t *testing.T) {
	for in, want := range map[int32]int16{0: 0, 32767: 32767, 32768: 32767, 1 << 20: 32767, -32768: -32768, -32769: -32768, -1 << 20: -32768, -5: -5} {
		if got := Clip(in); got != want {
			t.Errorf("Clip(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestMixSaturates(t *testing.T) {
	a := []int16{30000, -30000, 100, 32767, -32768, 1000, 0}
	b := []int16{30000, -30000, -300, 1, -1, -1000, 0}
	want := []int16{32767, -32768, -200, 32767, -32768, 0, 0}
	dst := make([]int16, len(a))
	Mix(dst, a, b)
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("Mix = %v, want %v", dst, want)
	}
	// In place.
	Mix(a, a, b)
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("Mix in place = %v", a)
	}
}

func TestInterleave(t *testing.T) {
	dst := make([]int16, 6)
	Interleave(dst, []int16{1, 2, 3}, []int16{-1, -2, -3})
	if want := []int16{1, -1, 2, -2, 3, -3}; !reflect.DeepEqual(dst, want) {
		t.Fatalf("Interleave = %v, want %v (left first)", dst, want)
	}
}

func TestLE(t *testing.T) {
	s := []int16{0, 1, -1, 256, -32768, 32767, 0x1234}
	b := make([]byte, 2*len(s))
	PutLE(b, s)
	want := []byte{0, 0, 1, 0, 0xff, 0xff, 0, 1, 0, 0x80, 0xff, 0x7f, 0x34, 0x12}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("PutLE = % x, want % x", b, want)
	}
	if got := FromLE(nil, b); !reflect.DeepEqual(got, s) {
		t.Fatalf("FromLE = %v, want %v", got, s)
	}
	// An odd trailing byte is ignored; FromLE appends to dst.
	if got := FromLE([]int16{9}, append(b[:4:4], 0x77)); !reflect.DeepEqual(got, []int16{9, 0, 1}) {
		t.Fatalf("FromLE odd = %v", got)
	}
}

func TestLERoundTripAll(t *testing.T) {
	s := make([]int16, 65536)
	for i := range s {
		s[i] = int16(i - 32768)
	}
	b := make([]byte, 2*len(s))
	PutLE(b, s)
	if got := FromLE(make([]int16, 0, len(s)), b); !reflect.DeepEqual(got, s) {
		t.Fatal("round trip of every int16 failed")
	}
}

func sumSquares(x []int16) uint64 {
	var sum uint64
	for _, v := range x {
		sum += uint64(int64(v) * int64(v))
	}
	return sum
}

func TestSilenceLimit(t *testing.T) {
	sine := make([]int16, 8000)
	for i := range sine {
		sine[i] = int16(math.Round(32767 * math.Sin(2*math.Pi*1000*float64(i)/8000+0.3)))
	}
	half := make([]int16, len(sine))
	for i := range sine {
		half[i] = sine[i] / 2
	}
	// A full-scale sine is -3.01 dBFS, half of it -9.03: each is silent at
	// a threshold just above its level and loud just below.
	for _, c := range []struct {
		name string
		x    []int16
		db   float64
	}{{"full-scale sine", sine, -3.0103}, {"half-scale sine", half, -9.031}} {
		sum := sumSquares(c.x)
		if above := SilenceLimit(len(c.x), c.db+0.01); sum > above {
			t.Errorf("%s: sum %d over the limit %d at %.3f dBFS", c.name, sum, above, c.db+0.01)
		}
		if below := SilenceLimit(len(c.x), c.db-0.01); sum <= below {
			t.Errorf("%s: sum %d within the limit %d at %.3f dBFS", c.name, sum, below, c.db-0.01)
		}
	}
	square := []int16{-32768, -32768, -32768, -32768}
	if got := SilenceLimit(len(square), 0); got != sumSquares(square) {
		t.Errorf("full-scale square at 0 dBFS: limit %d, want its sum %d", got, sumSquares(square))
	}
	if got := SilenceLimit(160, -200); got != 0 {
		t.Errorf("at -200 dBFS only digital silence is silent: limit %d, want 0", got)
	}
}

func TestNoAllocations(t *testing.T) {
	a, b, d := make([]int16, 160), make([]int16, 160), make([]int16, 320)
	w := make([]byte, 640)
	n := testing.AllocsPerRun(100, func() {
		Mix(a, a, b)
		Interleave(d, a, b)
		PutLE(w, d)
	})
	if n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
