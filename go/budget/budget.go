// Package budget is the engine-wide allowance of memory for what servers
// send: frames being read, audio being decoded and audio waiting to be
// played, summed over every stream. Each stream has its own limits; the
// budget bounds their sum, so many hostile servers at once cannot take the
// switch's memory.
package budget

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrExhausted is wrapped by every refusal of the budget: the engine's
// condition, not the fault of the stream that met it.
var ErrExhausted = errors.New("the engine's memory for server data is in use")

// Budget is safe for use by any goroutine. A nil *Budget allows everything.
type Budget struct {
	used atomic.Int64
	max  atomic.Int64
}

// New makes a budget of max bytes.
func New(max int64) *Budget {
	b := &Budget{}
	b.max.Store(max)
	return b
}

// SetMax changes the budget; what is held stays held.
func (b *Budget) SetMax(max int64) { b.max.Store(max) }

// Take reserves n bytes, or nothing and an error when they would take the
// sum over the budget.
func (b *Budget) Take(n int) error {
	if b == nil || n <= 0 {
		return nil
	}
	max := b.max.Load()
	for {
		used := b.used.Load()
		if used+int64(n) > max {
			return fmt.Errorf("%w (%d of %d MiB, maxServerBytes)", ErrExhausted, used>>20, max>>20)
		}
		if b.used.CompareAndSwap(used, used+int64(n)) {
			return nil
		}
	}
}

// Force reserves n bytes even over the budget: for what is small and
// already bounded per stream (control messages, our own beep).
func (b *Budget) Force(n int) {
	if b != nil && n > 0 {
		b.used.Add(int64(n))
	}
}

// Give returns n bytes reserved by Take or Force.
func (b *Budget) Give(n int) {
	if b != nil && n > 0 {
		b.used.Add(-int64(n))
	}
}

// Used is the sum reserved now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}
