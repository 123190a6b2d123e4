// Package histogram records durations from many goroutines without locks and
// reports their quantiles, for the engine's latency figures.
package histogram

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// sub is the number of linear steps within each power of two: quantiles are
// exact to within 1/sub (about 6 %).
const sub = 16

// Histogram buckets durations in microseconds, log-linear up to ~2^40 µs.
type Histogram struct {
	buckets [41 * sub]atomic.Uint64
	count   atomic.Uint64
}

func bucket(us uint64) int {
	if us < sub {
		return int(us)
	}
	exp := bits.Len64(us) - 5 // us >> exp lies in [16, 32)
	i := (exp+1)*sub + int(us>>exp) - sub
	if i >= 41*sub {
		return 41*sub - 1
	}
	return i
}

// lower returns the smallest value of bucket i in µs.
func lower(i int) uint64 {
	if i < sub {
		return uint64(i)
	}
	exp := i/sub - 1
	return uint64(i%sub+sub) << exp
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.buckets[bucket(us)].Add(1)
	h.count.Add(1)
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Quantile returns the duration below which a fraction q of the recorded
// ones lie (the lower edge of its bucket), or 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q * float64(n))
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen > rank {
			return time.Duration(lower(i)) * time.Microsecond
		}
	}
	return time.Duration(lower(len(h.buckets)-1)) * time.Microsecond
}

// Buckets returns, for each upper bound, how many recorded durations lie
// below it (cumulative, as Prometheus counts them), and an estimate of the
// sum of all durations from the buckets' midpoints: the histogram keeps no
// exact sum, so that recording stays two atomic adds.
func (h *Histogram) Buckets(bounds []time.Duration) (below []uint64, count uint64, sum time.Duration) {
	below = make([]uint64, len(bounds))
	var sumUs float64
	for i := range h.buckets {
		n := h.buckets[i].Load()
		if n == 0 {
			continue
		}
		lo := lower(i)
		hi := lo + 1
		if i+1 < len(h.buckets) {
			hi = lower(i + 1)
		}
		count += n
		sumUs += float64(n) * float64(lo+hi) / 2
		for j, b := range bounds {
			// A bucket counts below a bound when all of it lies at or
			// below it: a bucket straddling a bound counts at the next.
			if time.Duration(hi-1)*time.Microsecond <= b {
				below[j] += n
			}
		}
	}
	return below, count, time.Duration(sumUs * float64(time.Microsecond))
}
