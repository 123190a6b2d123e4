package stream

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modlisten/mod_listen/go/budget"
	"github.com/modlisten/mod_listen/go/config"
	"github.com/modlisten/mod_listen/go/outbox"
)

// A host that sends text while the server reads nothing is told so once the
// outbox is full: the frame is refused, never silently lost.
func TestSendTextIntoFullOutbox(t *testing.T) {
	set := config.DefaultSettings()
	l, err := config.ParseListen([]byte(`{"url":"ws://127.0.0.1:1"}`), set)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: l, Settings: set, CodecRate: 8000}, &fakeMedia{}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte(`{"type":"note","text":"` + strings.Repeat("x", 1000) + `"}`)
	sent := 0
	for ; sent < 1000; sent++ {
		if err = s.SendText(frame); err != nil {
			break
		}
	}
	if !errors.Is(err, outbox.ErrFull) {
		t.Fatalf("after %d frames: %v, want outbox.ErrFull", sent, err)
	}
	if want := outboxBytes / len(frame); sent != want {
		t.Errorf("%d frames of %d bytes accepted, want %d (%d bytes)", sent, len(frame), want, outboxBytes)
	}
	// The writer takes them: there is room again.
	if got := len(s.out.Take()); got != sent {
		t.Errorf("the writer got %d frames, want %d", got, sent)
	}
	if err := s.SendText(frame); err != nil {
		t.Errorf("after a drain: %v", err)
	}
}

// Refusals past maxRefusals within a minute end the listen with
// server_error; the count starts again in the next minute.
func TestRefusalCountWindow(t *testing.T) {
	var c refusalCount
	t0 := c.start.Add(refusalWindow)
	for i := 1; i <= 5; i++ {
		if n := c.add(t0); n != i {
			t.Fatalf("refusal %d counted %d", i, n)
		}
	}
	if n := c.add(t0.Add(refusalWindow - 1)); n != 6 {
		t.Errorf("within the window: %d, want 6", n)
	}
	if n := c.add(t0.Add(refusalWindow)); n != 1 {
		t.Errorf("a minute later: %d, want 1", n)
	}
}

// Refusals past maxRefusals end the listen with server_error; the budget
// running out is the engine's condition and does not count.
func TestMaxRefusals(t *testing.T) {
	set := config.DefaultSettings()
	set.MaxRefusals = 3
	l, err := config.ParseListen([]byte(`{"url":"ws://127.0.0.1:1"}`), set)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: l, Settings: set, CodecRate: 8000}, &fakeMedia{}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	exhausted := budget.New(1 << 20).Take(2 << 20)
	for i := 0; i < 10; i++ {
		s.refuseErr(fmt.Errorf("playAudio refused: %w", exhausted))
	}
	for i := 0; i < 3; i++ {
		s.refuse(fmt.Sprintf("bad %d", i))
	}
	if s.isEnded() {
		t.Fatalf("ended after 3 refusals and 10 for the budget: %+v", s.outcome)
	}
	s.refuse("bad 3")
	if !s.isEnded() || s.outcome.Reason != ReasonServerError {
		t.Fatalf("after 4 refusals: ended %v, outcome %+v", s.isEnded(), s.outcome)
	}
	want := "the server sent 4 messages that were refused within a minute, over the limit of 3 (maxRefusals); the last: bad 3"
	if s.outcome.Error != want {
		t.Errorf("error %q, want %q", s.outcome.Error, want)
	}
}
