package outbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/modlisten/mod_listen/go/protocol"
)

func texts(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// A server that never reads gets a million refusals: the outbox stays within
// its bound and, when drained, tells the first ones and then how many more.
func TestRefusalsAreBounded(t *testing.T) {
	o := New(4096, 3, protocol.ClipError)
	for i := 0; i < 1_000_000; i++ {
		o.Refuse(nil, fmt.Sprintf("bad %d", i))
	}
	if o.bytes > 4096 {
		t.Fatalf("outbox holds %d bytes, bound 4096", o.bytes)
	}
	got := texts(o.Take())
	want := []string{
		`{"type":"error","data":{"error":"bad 0"}}`,
		`{"type":"error","data":{"error":"bad 1"}}`,
		`{"type":"error","data":{"error":"bad 2"}}`,
		`{"type":"error","data":{"error":"999997 more messages refused, the last: bad 999999"}}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := o.Take(); len(got) != 0 {
		t.Errorf("after Take: %q", texts(got))
	}
	o.Refuse(nil, "again")
	if got := texts(o.Take()); len(got) != 1 || got[0] != `{"type":"error","data":{"error":"again"}}` {
		t.Errorf("after a drain refusals are told one by one again: %q", got)
	}
}

func TestPutRefusesWhenFull(t *testing.T) {
	o := New(100, 3, protocol.ClipError)
	frame := []byte(`{"type":"note","text":"` + strings.Repeat("x", 40) + `"}`)
	if err := o.Put(frame); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(frame); !errors.Is(err, ErrFull) {
		t.Fatalf("second Put: %v, want ErrFull", err)
	}
	if got := o.Take(); len(got) != 1 {
		t.Fatalf("%d frames, want 1", len(got))
	}
	if err := o.Put(frame); err != nil {
		t.Errorf("Put after a drain: %v", err)
	}
	if err := o.Put(make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a frame over the whole outbox: %v, want ErrTooLarge", err)
	}
}

func TestAnswersDroppedAreCounted(t *testing.T) {
	o := New(64, 3, protocol.ClipError)
	for i := 0; i < 10; i++ {
		o.Answer([]byte(`{"type":"playDone"}`)) // 19 bytes: 3 fit
	}
	got := texts(o.Take())
	want := []string{`{"type":"playDone"}`, `{"type":"playDone"}`, `{"type":"playDone"}`,
		`{"type":"error","data":{"error":"7 playDone, mark or dtmf frames dropped: the server was not reading"}}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A protocol with no error message: refusals are not queued, and answers
// that do not fit are dropped with nothing to tell; answers that fit go.
func TestNoErrorFrames(t *testing.T) {
	o := New(64, 3, nil)
	o.Refuse(nil, "bad")
	o.Answer([]byte(`{"event":"mark"}`))
	o.Answer(make([]byte, 60))
	if got := texts(o.Take()); len(got) != 1 || got[0] != `{"event":"mark"}` {
		t.Fatalf("got %q, want the mark alone", got)
	}
}
