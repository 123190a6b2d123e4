// Package engine paces the streams: one goroutine collects which streams'
// rings have news and wakes them, so the host's media threads never signal
// anyone and no stream needs a timer of its own. While a round of wake-ups
// is within its time budget, a stream may do its work on the pacer's
// goroutine instead of waking a goroutine of its own.
package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Waker is a stream as the pacer sees it. With inline the pacer has time for
// the stream's work on its own goroutine; the work must never block.
type Waker interface{ Wake(inline bool) }

// inlineShare is the part of a tick a round may spend working inline: past
// it, the streams' own goroutines do the work, in parallel.
const inlineShare = 0.75

// Pacer wakes registered streams whose rings have news.
type Pacer struct {
	collect func(out []uint32) int // indexes with news since the last call
	tick    time.Duration

	// The stream at each ring index. A slot per index, read and written
	// without a lock: a stream registered while the pacer wakes a thousand
	// others must not wait for them (it is the host's start waiting).
	slots []atomic.Pointer[registered]
	// Held by the pacer through each pass over the ready streams, so that
	// Remove can wait out a pass that may still wake the stream it removes.
	pass sync.Mutex

	quit chan struct{}
	done chan struct{}
}

type registered struct{ w Waker }

// NewPacer starts pacing every tick; collect reports the indexes with news,
// each below capacity.
func NewPacer(collect func(out []uint32) int, tick time.Duration, capacity int) *Pacer {
	p := &Pacer{collect: collect, tick: tick, slots: make([]atomic.Pointer[registered], capacity),
		quit: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Add registers a stream under its ring index (below the capacity). Never
// waits for the pacer.
func (p *Pacer) Add(index uint32, w Waker) {
	p.slots[index].Store(&registered{w})
}

// Remove forgets the stream at index, if w is still the one registered.
// When it returns, the pacer is not waking w and never will again (the
// stream's memory may go): it waits for the pass in progress, if any.
func (p *Pacer) Remove(index uint32, w Waker) {
	if index >= uint32(len(p.slots)) {
		return
	}
	if r := p.slots[index].Load(); r != nil && r.w == w {
		p.slots[index].CompareAndSwap(r, nil)
	}
	p.pass.Lock()
	p.pass.Unlock()
}

// Close stops pacing and waits for the pacing goroutine.
func (p *Pacer) Close() {
	close(p.quit)
	<-p.done
}

func (p *Pacer) run() {
	defer close(p.done)
	t := time.NewTicker(p.tick)
	defer t.Stop()
	buf := make([]uint32, 4096)
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
		}
		budget := time.Duration(float64(p.tick) * inlineShare)
		p.pass.Lock()
		for {
			n := p.collect(buf)
			start := time.Now()
			for _, idx := range buf[:n] {
				if idx >= uint32(len(p.slots)) {
					continue
				}
				if r := p.slots[idx].Load(); r != nil {
					r.w.Wake(time.Since(start) < budget)
				}
			}
			if n < len(buf) {
				break
			}
		}
		p.pass.Unlock()
	}
}
