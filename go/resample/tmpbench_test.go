package resample
import ("testing";"time";"fmt")
func minFrame(r *Resampler, from int) time.Duration {
	in := noise(from/50, 1)
	dst := make([]int16, 0, r.MaxOut(len(in)))
	best := time.Hour
	for trial := 0; trial < 1500; trial++ {
		t0 := time.Now()
		for i := 0; i < 20; i++ { dst = r.Process(dst[:0], in) }
		if d := time.Since(t0)/20; d < best { best = d }
	}
	return best
}
func TestTmpBench(t *testing.T) {
	for _, p := range benchPairs {
		r := mustNew(t, p[0], p[1])
		fmt.Printf("%d-%d\t%v\tmacs=%d\n", p[0], p[1], minFrame(r, p[0]), macs(r, p[0]/50))
	}
}
func macs(r *Resampler, n int) int {
	f := r.f; tot := 0; acc := 0
	for i := 0; i < n; i++ { for ; acc < f.l; acc += f.m { if f.delta[acc] < 0 { tot += f.k } }; acc -= f.l }
	return tot
}
