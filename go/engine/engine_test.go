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
	p := NewPacer(collect, 4*time.Millisecond)
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
	p := NewPacer(collect, time.Millisecond)
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
	p := NewPacer(collect, time.Millisecond)
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
