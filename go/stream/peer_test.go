package stream

import (
	"errors"
	"strings"
	"testing"

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
