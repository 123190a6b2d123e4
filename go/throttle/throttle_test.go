package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type summaries struct {
	mu  sync.Mutex
	got []string
}

func (s *summaries) add(key string, count int, last string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, fmt.Sprintf("%s %d %s", key, count, last))
}

func (s *summaries) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// A flood of 100,000 of one kind within a window lets n through and gives one
// summary with the count of the rest; another kind has its own allowance.
func TestFloodGivesOneSummary(t *testing.T) {
	var s summaries
	th := New(3, 200*time.Millisecond, s.add)
	passed := 0
	for i := 0; i < 100_000; i++ {
		if th.Allow("error", fmt.Sprint(i)) {
			passed++
		}
	}
	if !th.Allow("message", "m") {
		t.Error("another key is not limited by the first one's flood")
	}
	if passed != 3 {
		t.Errorf("%d passed, want 3", passed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.list()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second summary would come by now
	if got := s.list(); len(got) != 1 || got[0] != "error 99997 99999" {
		t.Errorf("summaries %q, want [\"error 99997 99999\"]", got)
	}
	// The next window lets n through again.
	if !th.Allow("error", "x") {
		t.Error("a new window lets items through again")
	}
}

func TestCloseTellsWhatIsHeld(t *testing.T) {
	var s summaries
	th := New(1, time.Hour, s.add)
	th.Allow("k", "a")
	th.Allow("k", "b")
	th.Allow("k", "c")
	th.Close()
	if got := s.list(); len(got) != 1 || got[0] != "k 2 c" {
		t.Errorf("summaries %q, want [\"k 2 c\"]", got)
	}
	if th.Allow("k", "d") {
		t.Error("Allow after Close")
	}
}
