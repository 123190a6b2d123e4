package histogram

import (
	"testing"
	"time"
)

func TestBucketsAreMonotonicAndCoverTheirValues(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<22; us += 1 + us/64 {
		b := bucket(us)
		if b < prev {
			t.Fatalf("bucket(%d) = %d < bucket of a smaller value %d", us, b, prev)
		}
		if lower(b) > us {
			t.Fatalf("bucket(%d) = %d starts at %d, above the value", us, b, lower(b))
		}
		if next := b + 1; lower(next) <= us {
			t.Fatalf("value %d belongs in bucket %d or later, got %d", us, next, b)
		}
		prev = b
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		if got > c.want || float64(got) < float64(c.want)*0.93 {
			t.Errorf("Quantile(%v) = %v, want within 7%% below %v", c.q, got, c.want)
		}
	}
	if h.Count() != 1000 {
		t.Errorf("Count = %d", h.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	var h Histogram
	if a := testing.AllocsPerRun(100, func() { h.Record(123 * time.Microsecond) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

func TestBucketsCountCumulativelyAndEstimateTheSum(t *testing.T) {
	var h Histogram
	for _, ms := range []int{1, 1, 3, 7, 40} {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	bounds := []time.Duration{500 * time.Microsecond, 2 * time.Millisecond, 10 * time.Millisecond, time.Second}
	below, count, sum := h.Buckets(bounds)
	want := []uint64{0, 2, 4, 5}
	for i := range want {
		if below[i] != want[i] {
			t.Fatalf("below %v = %d, want %d (all: %v)", bounds[i], below[i], want[i], below)
		}
	}
	if count != 5 {
		t.Fatalf("count %d, want 5", count)
	}
	// 52 ms in all; buckets are within 1/16 of their values.
	if sum < 50*time.Millisecond || sum > 56*time.Millisecond {
		t.Fatalf("sum %v, want about 52ms", sum)
	}
}
