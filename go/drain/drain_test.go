package drain

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestDrainRefusesThenStopsTheRestAtItsDeadline(t *testing.T) {
	var d Drain
	if d.Refusal() != nil || d.Deadline() != nil {
		t.Fatal("a new drain is on")
	}
	var stopped atomic.Int32
	d.Start(50*time.Millisecond, func() { stopped.Add(1) })
	if !errors.Is(d.Refusal(), ErrDraining) {
		t.Fatalf("refusal during a drain: %v", d.Refusal())
	}
	if on, left := d.Status(); !on || left <= 0 || left > 50*time.Millisecond {
		t.Fatalf("status: %v %v", on, left)
	}
	select {
	case <-d.Deadline():
	case <-time.After(10 * time.Second):
		t.Fatal("the deadline never passed")
	}
	if stopped.Load() != 1 {
		t.Fatalf("stopRest ran %d times", stopped.Load())
	}
	if on, left := d.Status(); !on || left != 0 || d.Refusal() == nil {
		t.Fatalf("after the deadline the drain goes on refusing: %v %v", on, left)
	}
	if !d.Cancel() || d.Refusal() != nil || d.Cancel() {
		t.Fatal("cancel")
	}
}

func TestCancelBeforeTheDeadlineStopsNothing(t *testing.T) {
	var d Drain
	var stopped atomic.Int32
	d.Start(30*time.Millisecond, func() { stopped.Add(1) })
	d.Cancel()
	time.Sleep(100 * time.Millisecond)
	if stopped.Load() != 0 {
		t.Fatal("a cancelled drain stopped streams")
	}
}
