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

// A flood of 100,000 of one kind within a window lets n through and counts
// the rest; another kind has its own allowance.
func TestFloodIsCounted(t *testing.T) {
	var s summaries
	th := New(3, time.Hour, s.add)
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
	th.Close()
	if got := s.list(); len(got) != 1 || got[0] != "error 99997 99999" {
		t.Errorf("summaries %q, want [\"error 99997 99999\"]", got)
	}
}

// The summary comes by itself at the end of the window, and every item is
// either let through or counted in one.
func TestSummaryAtWindowEnd(t *testing.T) {
	var s summaries
	th := New(2, 50*time.Millisecond, s.add)
	passed := 0
	for i := 0; i < 10; i++ {
		if th.Allow("k", fmt.Sprint(i)) {
			passed++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		counted := 0
		for _, line := range s.list() {
			var key, last string
			var n int
			fmt.Sscanf(line, "%s %d %s", &key, &n, &last)
			counted += n
		}
		if passed+counted == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d passed and summaries %q: not all 10 told", passed, s.list())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if passed < 2 || passed > 10 {
		t.Errorf("%d passed", passed)
	}
	// A new window lets items through again.
	time.Sleep(60 * time.Millisecond)
	if !th.Allow("k", "x") {
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
