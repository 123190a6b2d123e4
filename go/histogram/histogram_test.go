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
