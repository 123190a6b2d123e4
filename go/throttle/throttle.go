// Package throttle bounds how often something a peer causes is told to the
// host (events, log lines): up to n of a kind each window, then one summary
// with the count of the rest, so a flood costs a few callbacks a second.
package throttle

import (
	"sync"
	"time"
)

// Throttle is safe for use by any goroutine.
type Throttle struct {
	n       int
	window  time.Duration
	summary func(key string, count int, last string)

	mu     sync.Mutex
	keys   map[string]*state
	closed bool
}

type state struct {
	start  time.Time
	passed int
	held   int    // withheld since the last summary
	last   string // the last one withheld
	timer  *time.Timer
}

// New lets n of each key through per window; summary is called, on its own
// goroutine, at the end of a window in which some were withheld.
func New(n int, window time.Duration, summary func(key string, count int, last string)) *Throttle {
	return &Throttle{n: n, window: window, summary: summary, keys: map[string]*state{}}
}

// Allow reports whether one more of key may be told now. When it may not, it
// is counted (last describes it, for the summary).
func (t *Throttle) Allow(key, last string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	now := time.Now()
	st := t.keys[key]
	if st == nil {
		st = &state{start: now}
		t.keys[key] = st
	}
	if now.Sub(st.start) >= t.window {
		st.start, st.passed = now, 0
	}
	if st.passed < t.n {
		st.passed++
		return true
	}
	st.held++
	st.last = last
	if st.timer == nil {
		st.timer = time.AfterFunc(st.start.Add(t.window).Sub(now), func() { t.flush(key) })
	}
	return false
}

func (t *Throttle) flush(key string) {
	t.mu.Lock()
	st := t.keys[key]
	if t.closed || st == nil || st.held == 0 {
		t.mu.Unlock()
		return
	}
	count, last := st.held, st.last
	st.held, st.last, st.timer = 0, "", nil
	t.mu.Unlock()
	t.summary(key, count, last)
}

// Close tells what is still withheld at once and lets nothing more through
// (the stream is ending).
func (t *Throttle) Close() {
	t.mu.Lock()
	type pending struct {
		key   string
		count int
		last  string
	}
	var out []pending
	for k, st := range t.keys {
		if st.timer != nil {
			st.timer.Stop()
		}
		if st.held > 0 {
			out = append(out, pending{k, st.held, st.last})
		}
	}
	t.closed = true
	t.mu.Unlock()
	for _, p := range out {
		t.summary(p.key, p.count, p.last)
	}
}
