// Package engine paces the streams: one goroutine collects which streams'
// rings have news and wakes them, so the host's media threads never signal
// anyone and no stream needs a timer of its own. While a round of wake-ups
// is within its time budget, a stream may do its work on the pacer's
// goroutine instead of waking a goroutine of its own.
package engine

import (
	"sync"
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

	mu      sync.RWMutex
	streams map[uint32]Waker

	quit chan struct{}
	done chan struct{}
}

// NewPacer starts pacing every tick; collect reports the indexes with news.
func NewPacer(collect func(out []uint32) int, tick time.Duration) *Pacer {
	p := &Pacer{collect: collect, tick: tick, streams: map[uint32]Waker{},
		quit: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Add registers a stream under its ring index.
func (p *Pacer) Add(index uint32, w Waker) {
	p.mu.Lock()
	p.streams[index] = w
	p.mu.Unlock()
}

// Remove forgets the stream at index, if w is still the one registered.
func (p *Pacer) Remove(index uint32, w Waker) {
	p.mu.Lock()
	if p.streams[index] == w {
		delete(p.streams, index)
	}
	p.mu.Unlock()
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
		for {
			n := p.collect(buf)
			start := time.Now()
			p.mu.RLock()
			for _, idx := range buf[:n] {
				if w := p.streams[idx]; w != nil {
					w.Wake(time.Since(start) < budget)
				}
			}
			p.mu.RUnlock()
			if n < len(buf) {
				break
			}
		}
	}
}
