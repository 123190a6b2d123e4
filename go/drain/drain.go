// Package drain takes an engine out of service gently: new listens are
// refused while the live ones go on, until a deadline stops the rest.
package drain

import (
	"errors"
	"sync"
	"time"
)

// ErrDraining is why a new listen is refused during a drain.
var ErrDraining = errors.New("listen: the engine is draining: new listens are refused (listen_drain off cancels)")

// Drain is off until Start.
type Drain struct {
	mu       sync.Mutex
	on       bool
	deadline time.Time
	timer    *time.Timer
	passed   chan struct{} // closed when the deadline has stopped the rest
}

// Start refuses new listens from now on and calls stopRest after grace
// (on a goroutine of its own). Starting again sets a new deadline.
func (d *Drain) Start(grace time.Duration, stopRest func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.on = true
	d.deadline = time.Now().Add(grace)
	passed := make(chan struct{})
	d.passed = passed
	d.timer = time.AfterFunc(grace, func() {
		stopRest()
		close(passed)
	})
}

// Cancel ends the drain: listens are accepted again and nothing is stopped.
// False when no drain was on.
func (d *Drain) Cancel() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on {
		return false
	}
	d.timer.Stop()
	d.on, d.timer, d.passed = false, nil, nil
	return true
}

// Refusal is ErrDraining during a drain, else nil.
func (d *Drain) Refusal() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.on {
		return ErrDraining
	}
	return nil
}

// Status tells whether a drain is on and the time left to its deadline
// (0 once it has passed).
func (d *Drain) Status() (on bool, left time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.on {
		return false, 0
	}
	return true, max(time.Until(d.deadline), 0)
}

// Deadline is closed once the drain's deadline has stopped the rest; nil
// when no drain is on.
func (d *Drain) Deadline() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}
