package playback

import (
	"testing"
	"time"

	"github.com/modlisten/mod_listen/go/budget"
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

// Marks behind a playing clip count against MaxQueuedMarks; played-out and
// cleared marks free their place.
func TestMaxQueuedMarks(t *testing.T) {
	r := newRing(160)
	p := New(r, 8000, 10, 0)
	p.MaxQueuedMarks = 3
	p.Clip(fill(8000, 1), id("long"))
	for i := 0; i < 3; i++ {
		if err := p.Mark(id("m")); err != nil {
			t.Fatalf("mark %d: %v", i, err)
		}
	}
	err := p.Mark(id("over"))
	if err == nil || err.Error() != "mark refused: 3 marks are already waiting to be played out (the limit, maxQueuedMarks)" {
		t.Fatalf("fourth mark: %v", err)
	}
	for i := 0; i < 1000 && p.Busy(); i++ {
		p.Service(t0, nil)
		r.pullAll()
	}
	if err := p.Mark(id("after playout")); err != nil {
		t.Fatalf("after the marks played out: %v", err)
	}
	p.Clip(fill(8000, 1), nil)
	p.Mark(id("a"))
	p.Mark(id("b"))
	if cleared, _ := p.Kill(); len(cleared) != 3 {
		t.Fatalf("kill cleared %d marks, want 3", len(cleared))
	}
	for i := 0; i < 3; i++ {
		if err := p.Mark(id("m")); err != nil {
			t.Fatalf("after kill, mark %d: %v", i, err)
		}
	}
}

// The budget holds 2 bytes for every sample waiting, and gets all of it back
// as audio is played, killed, or the player closes.
func TestBudgetFollowsQueuedAudio(t *testing.T) {
	b := budget.New(1 << 20)
	r := newRing(1000)
	p := New(r, 8000, 10, 0)
	p.Budget = b
	p.Clip(fill(4000, 1), id("a"))
	p.Stream(fill(2000, 1), t0)
	if b.Used() != 12000 {
		t.Fatalf("used %d, want 12000", b.Used())
	}
	p.Service(t0.Add(time.Second), nil)
	if b.Used() != 10000 {
		t.Fatalf("after 1000 samples went into the ring: used %d, want 10000", b.Used())
	}
	p.Kill()
	if b.Used() != 0 {
		t.Fatalf("after kill: used %d", b.Used())
	}
	if err := p.Clip(fill(600_000, 1), nil); err == nil || err.Error() != "playAudio refused: the engine's memory for server data is in use (0 of 1 MiB, maxServerBytes)" {
		t.Fatalf("clip over the budget: %v", err)
	}
	p.Clip(fill(1000, 1), nil)
	p.Close()
	if b.Used() != 0 {
		t.Fatalf("after close: used %d", b.Used())
	}
}

// A server that keeps streaming one second ahead of the call for ten
// minutes: the streamed segment never ends, and what it holds stays about
// the second waiting, not the ten minutes played.
func TestStreamingAheadStaysBounded(t *testing.T) {
	r := newRing(2000)
	p := New(r, 8000, 10, 0)
	p.Stream(fill(8000, 1), t0)
	for i := 0; i < 30000; i++ {
		if err := p.Stream(fill(160, 1), t0); err != nil {
			t.Fatal(err)
		}
		p.Service(t0.Add(time.Second), nil)
		r.pull(160)
	}
	if len(p.segs) != 1 || p.segs[0].kind != streamed {
		t.Fatalf("%d segments, want the one streamed segment still going", len(p.segs))
	}
	if c := cap(p.segs[0].samples); c > 4*8000 {
		t.Errorf("the streamed segment holds %d samples (%.1f s) after 600 s streamed 1 s ahead", c, float64(c)/8000)
	}
}
