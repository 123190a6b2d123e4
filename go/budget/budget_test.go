package budget

import (
	"strings"
	"sync"
	"testing"
)

func TestTakeAndGive(t *testing.T) {
	b := New(3 << 20)
	if err := b.Take(2 << 20); err != nil {
		t.Fatal(err)
	}
	err := b.Take(2 << 20)
	if err == nil || err.Error() != "the engine's memory for server data is in use (2 of 3 MiB, maxServerBytes)" {
		t.Fatalf("Take over the budget: %v", err)
	}
	if b.Used() != 2<<20 {
		t.Errorf("a refused Take reserved memory: used %d", b.Used())
	}
	b.Force(2 << 20)
	if b.Used() != 4<<20 {
		t.Errorf("Force: used %d", b.Used())
	}
	b.Give(4 << 20)
	if b.Used() != 0 {
		t.Errorf("after Give: used %d", b.Used())
	}
	var nilBudget *Budget
	if nilBudget.Take(1<<40) != nil || nilBudget.Used() != 0 {
		t.Error("a nil budget allows everything")
	}
}

// Takes racing from many goroutines never exceed the budget together.
func TestConcurrentTakesStayWithin(t *testing.T) {
	b := New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				if b.Take(7) == nil {
					mu.Lock()
					granted += 7
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if granted > 1000 || granted < 1000-7 || b.Used() != int64(granted) {
		t.Errorf("granted %d, used %d, budget 1000", granted, b.Used())
	}
	if !strings.Contains(b.Take(7).Error(), "maxServerBytes") {
		t.Error("the error names the setting")
	}
}
