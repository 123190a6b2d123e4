package playback

import (
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/histogram"
)

func TestMaxQueuedSamples(t *testing.T) {
	r := newRing(100)
	p := New(r, 8000, 10, 0)
	p.MaxQueuedSamples = 8000 // 1 s
	if err := p.Clip(fill(6000, 1), id("a")); err != nil {
		t.Fatal(err)
	}
	err := p.Clip(fill(4000, 1), id("b"))
	if err == nil || err.Error() != "playAudio refused: 1.2 s of audio would be waiting, over the limit of 1.0 s" {
		t.Fatalf("clip over the limit: %v", err)
	}
	err = p.Stream(fill(2001, 1), t0)
	if err == nil || err.Error() != "streamed audio refused: 1.0 s of audio would be waiting, over the limit of 1.0 s" {
		t.Fatalf("stream over the limit: %v", err)
	}
	if err := p.Stream(fill(2000, 1), t0); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	// What is in the ring no longer waits.
	p.Service(t0, nil)
	if len(r.data) != 100 {
		t.Fatalf("ring %d", len(r.data))
	}
	if err := p.Stream(fill(100, 1), t0); err != nil {
		t.Fatalf("after 100 samples went into the ring: %v", err)
	}
	if err := p.Stream(fill(1, 1), t0); err == nil {
		t.Fatal("one over the limit accepted")
	}
	// Refused audio was not queued.
	for i := 0; i < 1000 && p.Busy(); i++ {
		p.Service(t0.Add(time.Second), nil)
		r.pullAll()
	}
	if len(r.data) != 6000+2000+100 {
		t.Fatalf("played %d samples, want 8100", len(r.data))
	}
	// Kill empties the queue: the limit is free again.
	p.Clip(fill(8000, 1), nil)
	p.Kill()
	if err := p.Clip(fill(8000, 1), nil); err != nil {
		t.Fatalf("after kill: %v", err)
	}
}

func TestNoLimitByDefault(t *testing.T) {
	p := New(newRing(10), 8000, 10, 0)
	if err := p.Stream(make([]int16, 8000*700), t0); err != nil {
		t.Fatal(err)
	}
}

func TestLatencyOfStreamedAudio(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	var h histogram.Histogram
	p.Latency = &h
	p.Stream(fill(160, 1), t0)
	p.Stream(fill(160, 2), t0.Add(20*time.Millisecond))
	p.Service(t0.Add(40*time.Millisecond), nil) // the prebuffer is full: written
	if h.Count() != 0 {
		t.Fatalf("recorded %d before anything was played", h.Count())
	}
	r.pull(1)
	p.Service(t0.Add(50*time.Millisecond), nil)
	if h.Count() != 1 {
		t.Fatalf("count %d after the first sample played, want 1", h.Count())
	}
	r.pull(160) // the second piece's first sample
	p.Service(t0.Add(70*time.Millisecond), nil)
	if h.Count() != 2 {
		t.Fatalf("count %d, want 2", h.Count())
	}
	// 50 ms and 50 ms: every quantile is about 50 ms (buckets are ~6 % wide).
	if q := h.Quantile(0.5); q < 45*time.Millisecond || q > 50*time.Millisecond {
		t.Fatalf("median latency %v, want ~50ms", q)
	}
	// Clips are not streamed audio.
	p.Clip(fill(10, 1), nil)
	p.Service(t0, nil)
	r.pullAll()
	p.Service(t0, nil)
	if h.Count() != 2 {
		t.Fatalf("a clip was counted: %d", h.Count())
	}
	// Killed audio is never played: not counted.
	p.Stream(fill(500, 1), t0)
	p.Service(t0.Add(time.Second), nil)
	p.Kill()
	p.Service(t0.Add(2*time.Second), nil)
	if h.Count() != 2 {
		t.Fatalf("killed audio was counted: %d", h.Count())
	}
}
