package engine

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type counter struct{ n atomic.Int64 }

func (c *counter) Wake(bool) { c.n.Add(1) }

// slow spends 2 ms in each Wake it may do inline, and records the order.
type slow struct {
	i   int
	log *[]string
}

func (s slow) Wake(inline bool) {
	if inline {
		time.Sleep(2 * time.Millisecond)
	}
	*s.log = append(*s.log, fmt.Sprintf("%d:%v", s.i, inline))
}

// A round offers inline work only while it is within its budget (3/4 of a
// 4 ms tick): the first stream always, then none once 3 ms are spent.
func TestPacerInlineBudget(t *testing.T) {
	var once sync.Once
	collect := func(out []uint32) int {
		n := 0
		once.Do(func() {
			for i := range 10 {
				out[i] = uint32(i)
			}
			n = 10
		})
		return n
	}
	var log []string
	p := NewPacer(collect, 4*time.Millisecond, 16)
	for i := range 10 {
		p.Add(uint32(i), slow{i, &log})
	}
	time.Sleep(100 * time.Millisecond)
	p.Close() // the pacing goroutine has returned: log is ours
	if len(log) != 10 {
		t.Fatalf("wakes %v, want 10", log)
	}
	inline := 0
	for i, l := range log {
		if strings.HasSuffix(l, "true") {
			if i != inline {
				t.Fatalf("wakes %v: inline work after the budget was spent", log)
			}
			inline++
		}
	}
	if inline < 1 || inline > 2 {
		t.Fatalf("wakes %v: %d inline, want 1 or 2 (2 ms each, 3 ms budget)", log, inline)
	}
}

// The pacer wakes exactly the registered streams whose indexes the host
// reported, and forgets removed ones.
func TestPacerWakesWhatIsReady(t *testing.T) {
	var mu sync.Mutex
	var ready []uint32
	collect := func(out []uint32) int {
		mu.Lock()
		defer mu.Unlock()
		n := copy(out, ready)
		ready = ready[n:]
		return n
	}
	p := NewPacer(collect, time.Millisecond, 16)
	defer p.Close()
	a, b, gone := &counter{}, &counter{}, &counter{}
	p.Add(1, a)
	p.Add(2, b)
	p.Add(3, gone)
	p.Remove(3, gone)
	p.Remove(2, a) // not the one registered there: no effect
	mu.Lock()
	ready = []uint32{1, 2, 2, 3, 9}
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for a.n.Load() < 1 || b.n.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("wakes: a %d, b %d; want 1 and 2", a.n.Load(), b.n.Load())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	if a.n.Load() != 1 || b.n.Load() != 2 || gone.n.Load() != 0 {
		t.Fatalf("wakes: a %d, b %d, removed %d; want 1, 2, 0", a.n.Load(), b.n.Load(), gone.n.Load())
	}
}

// More ready streams than one collection holds are all woken in the same tick.
func TestPacerDrainsLargeBatches(t *testing.T) {
	const streams = 10000
	var mu sync.Mutex
	var pending []uint32
	collect := func(out []uint32) int {
		mu.Lock()
		defer mu.Unlock()
		n := copy(out, pending)
		pending = pending[n:]
		return n
	}
	p := NewPacer(collect, time.Millisecond, streams)
	defer p.Close()
	c := &counter{}
	for i := 0; i < streams; i++ {
		p.Add(uint32(i), c)
	}
	mu.Lock()
	for i := 0; i < streams; i++ {
		pending = append(pending, uint32(i))
	}
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for c.n.Load() < streams {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d woken", c.n.Load(), streams)
		}
		time.Sleep(time.Millisecond)
	}
}

// blocker is a stream whose Wake holds the pacer until it is let go.
type blocker struct {
	in      chan struct{}
	release chan struct{}
}

func (b *blocker) Wake(bool) {
	select {
	case b.in <- struct{}{}:
	default:
	}
	<-b.release
}

// Registering a stream never waits for the pacer's pass over the others (a
// host's start would wait with it), while removing one waits until the pass
// that may still wake it is over (its memory goes next).
func TestPacerAddNeverWaitsRemoveWaitsOutThePass(t *testing.T) {
	var once sync.Once
	collect := func(out []uint32) int {
		n := 0
		once.Do(func() { out[0], n = 0, 1 })
		return n
	}
	p := NewPacer(collect, time.Millisecond, 4)
	defer p.Close()
	b := &blocker{in: make(chan struct{}, 1), release: make(chan struct{})}
	p.Add(0, b)
	select {
	case <-b.in:
	case <-time.After(5 * time.Second):
		t.Fatal("the pacer never woke the stream")
	}
	added := make(chan struct{})
	go func() {
		p.Add(1, &counter{})
		close(added)
	}()
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		close(b.release)
		t.Fatal("Add waited for a stream's Wake")
	}
	removed := make(chan struct{})
	go func() {
		p.Remove(0, b)
		close(removed)
	}()
	select {
	case <-removed:
		t.Fatal("Remove returned while the pacer was still waking the stream")
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	select {
	case <-removed:
	case <-time.After(5 * time.Second):
		t.Fatal("Remove did not return after the pass")
	}
}
