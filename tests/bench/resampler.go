package main

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/modlisten/mod_listen/go/resample"
)

// The rates the engine converts between: a call's codec rate to the stream's
// rate (capture), and the server's playback audio to the codec rate.
var (
	codecRates    = []int{8000, 16000, 48000}
	streamRates   = []int{8000, 16000, 24000, 48000, 64000}
	playbackRates = []int{8000, 16000, 24000, 32000, 48000, 64000}
)

// enginePairs lists every conversion the engine performs, each once.
func enginePairs() [][2]int {
	var ps [][2]int
	add := func(a, b int) {
		if a != b && !slices.Contains(ps, [2]int{a, b}) {
			ps = append(ps, [2]int{a, b})
		}
	}
	for _, c := range codecRates {
		for _, s := range streamRates {
			add(c, s)
		}
	}
	for _, p := range playbackRates {
		for _, c := range codecRates {
			add(p, c)
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i][0] != ps[j][0] {
			return ps[i][0] < ps[j][0]
		}
		return ps[i][1] < ps[j][1]
	})
	return ps
}

// quickPairs: the common telephone conversions.
var quickPairs = [][2]int{{8000, 16000}, {16000, 8000}, {8000, 48000}, {48000, 8000}, {24000, 8000}}

type resRow struct {
	From       int     `json:"from"`
	To         int     `json:"to"`
	Impl       string  `json:"impl"`
	Delay      int     `json:"delay"`
	Taps       int     `json:"taps_per_phase,omitempty"`
	RippleDB   float64 `json:"ripple_db"`
	GainMinDB  float64 `json:"gain_min_db"`
	RejectDB   float64 `json:"rejection_db"`
	RejectAtHz float64 `json:"rejection_at_hz"`
	SNR1kDB    float64 `json:"snr_1k_db"`
	NsPerFrame float64 `json:"ns_per_frame"` // one 20 ms input frame
}

func (r resRow) meetsBar() bool {
	return r.RippleDB <= 0.5 && r.RejectDB >= 80 && r.SNR1kDB >= 80
}

// frameCost times a converter on 20 ms frames of a 1 kHz tone: the fastest
// of reps runs of n frames, after a warm-up, in ns per frame. Many short runs
// rather than a few long ones, so that on a shared machine some run is clean.
func frameCost(from int, mk func() resample.Processor, n, reps int) float64 {
	fn := from / 50
	sig := make([]int16, 50*fn) // one second, whole periods of 1 kHz
	for i := range sig {
		sig[i] = int16(math.Round(20000 * math.Sin(2*math.Pi*1000*float64(i)/float64(from))))
	}
	p := mk()
	for k := range 50 {
		p(sig[k%50*fn : k%50*fn+fn])
	}
	best := math.Inf(1)
	for range reps {
		t := time.Now()
		for k := range n {
			off := k % 50 * fn
			p(sig[off : off+fn])
		}
		best = min(best, float64(time.Since(t).Nanoseconds())/float64(n))
	}
	return best
}

// measureResamplers measures ours, libsoxr HQ and speexdsp at qualities 2 and 5 with the
// same code: quality by resample.MeasureStream, cost by frameCost.
func measureResamplers(pairs [][2]int, costFrames int, progress func(string, ...any)) ([]resRow, error) {
	var rows []resRow
	for _, p := range pairs {
		from, to := p[0], p[1]
		progress("resampler %d -> %d", from, to)
		r, err := resample.New(from, to)
		if err != nil {
			return nil, err
		}
		ours := func() resample.Processor {
			r, _ := resample.New(from, to)
			var out []int16
			return func(in []int16) []int16 {
				out = r.Process(out[:0], in)
				return out
			}
		}
		type impl struct {
			name  string
			mk    func() resample.Processor
			delay int
			taps  int
		}
		impls := []impl{{"mod_listen", ours, r.Delay(), r.TapsPerPhase()}}
		mk, delay, err := soxrProcessor(from, to)
		if err != nil {
			return nil, err
		}
		impls = append(impls, impl{"libsoxr HQ", mk, delay, 0})
		for _, q := range []int{2, 5} {
			mk, delay, err := speexProcessor(from, to, q)
			if err != nil {
				return nil, err
			}
			name := "speexdsp q2"
			if q == 5 {
				name = "speexdsp q5"
			}
			impls = append(impls, impl{name, mk, delay, 0})
		}
		for _, im := range impls {
			q := resample.MeasureStream(from, to, im.delay, im.mk)
			rows = append(rows, resRow{
				From: from, To: to, Impl: im.name, Delay: im.delay, Taps: im.taps,
				RippleDB: q.RippleDB, GainMinDB: q.GainMinDB, RejectDB: q.RejectionDB,
				RejectAtHz: q.RejectionAtHz, SNR1kDB: q.SNR1kDB,
				NsPerFrame: frameCost(from, im.mk, costFrames, 7),
			})
		}
	}
	return rows, nil
}
