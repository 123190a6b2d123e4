// Package engine paces the streams: one goroutine collects which streams'
// rings have news and wakes them, so the host's media threads never signal
// anyone and no stream needs a timer of its own.
package engine

import (
	"sync"
	"time"
)

// Waker is a stream as the pacer sees it.
type Waker interface{ Wake() }

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
		for {
			n := p.collect(buf)
			p.mu.RLock()
			for _, idx := range buf[:n] {
				if w := p.streams[idx]; w != nil {
					w.Wake()
				}
			}
			p.mu.RUnlock()
			if n < len(buf) {
				break
			}
		}
	}
}
