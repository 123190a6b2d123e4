package playback

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fakeRing is a slice-backed Ring: everything ever written is kept in data
// (ring position i is data[i]); the test "plays" by advancing consumed.
type fakeRing struct {
	cap      int
	data     []int16
	consumed uint64
	discards int
}

func newRing(capacity int) *fakeRing { return &fakeRing{cap: capacity} }

func (r *fakeRing) Space() int       { return r.cap - int(uint64(len(r.data))-r.consumed) }
func (r *fakeRing) Consumed() uint64 { return r.consumed }
func (r *fakeRing) Written() uint64  { return uint64(len(r.data)) }
func (r *fakeRing) Discard()         { r.discards++; r.consumed = uint64(len(r.data)) }
func (r *fakeRing) Write(src []int16) int {
	n := min(len(src), r.Space())
	r.data = append(r.data, src[:n]...)
	return n
}

// pull plays n samples (never past what was written).
func (r *fakeRing) pull(n int) {
	r.consumed = min(r.consumed+uint64(n), uint64(len(r.data)))
}

// pullAll plays everything written.
func (r *fakeRing) pullAll() { r.consumed = uint64(len(r.data)) }

func fill(n int, v int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func ramp(n int, start int16) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = start + int16(i)
	}
	return s
}

func id(s string) json.RawMessage { return json.RawMessage(`"` + s + `"`) }

// brief renders notices as "event:id" for comparison.
func brief(ns []Notice) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Event+":"+string(n.ID))
	}
	return out
}

var t0 = time.Unix(1700000000, 0)

func TestClipsPlayInOrderGapFree(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	c1, c2 := ramp(160, 1), ramp(240, 1000)
	if err := p.Clip(c1, id("a")); err != nil {
		t.Fatal(err)
	}
	if err := p.Clip(c2, id("b")); err != nil {
		t.Fatal(err)
	}
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("notices before anything was played: %v", brief(ns))
	}
	want := append(append([]int16(nil), c1...), c2...)
	if !reflect.DeepEqual(r.data, want) {
		t.Fatalf("ring holds %d samples, want clip1 then clip2 (%d) with nothing between", len(r.data), len(want))
	}
	if !p.Busy() {
		t.Fatal("Busy() = false while clips are still in the ring")
	}
	// play_start when the clip's first sample has been played, play_done
	// when its last one has: a's done comes before b's start.
	steps := []struct {
		pull int
		want []string
	}{
		{1, []string{`play_start:"a"`}},
		{158, []string{}},
		{1, []string{`play_done:"a"`}},
		{1, []string{`play_start:"b"`}},
		{238, []string{}},
		{1, []string{`play_done:"b"`}},
		{0, []string{}},
	}
	for i, st := range steps {
		r.pull(st.pull)
		if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("step %d (consumed %d): %v, want %v", i, r.consumed, got, st.want)
		}
	}
	if p.Busy() {
		t.Fatal("Busy() after both clips were played")
	}
}

func TestClipsGapFreeThroughSmallRing(t *testing.T) {
	// The ring holds less than a clip: the player refills it as it drains
	// and the content is still clip1 then clip2 with nothing between.
	r := newRing(100)
	p := New(r, 8000, 10, 40)
	c1, c2 := ramp(250, 1), ramp(130, 5000)
	p.Clip(c1, id("a"))
	p.Clip(c2, id("b"))
	var ns []Notice
	for i := 0; i < 100 && (p.Busy() || r.consumed < uint64(len(r.data))); i++ {
		ns = p.Service(t0, ns)
		r.pull(37)
	}
	want := append(append([]int16(nil), c1...), c2...)
	if !reflect.DeepEqual(r.data, want) {
		t.Fatalf("ring content (%d samples) is not clip1+clip2 (%d)", len(r.data), len(want))
	}
	// Each clip starts before it is done, and a is done before b
	// (TestPlayStartFollowsPreviousPlayDone checks the exact sequence).
	got := brief(ns)
	at := map[string]int{}
	for i, n := range got {
		if _, dup := at[n]; dup {
			t.Fatalf("notice %s twice: %v", n, got)
		}
		at[n] = i
	}
	for _, n := range []string{`play_start:"a"`, `play_done:"a"`, `play_start:"b"`, `play_done:"b"`} {
		if _, ok := at[n]; !ok {
			t.Fatalf("no %s in %v", n, got)
		}
	}
	if len(got) != 4 || at[`play_start:"a"`] > at[`play_done:"a"`] || at[`play_start:"b"`] > at[`play_done:"b"`] ||
		at[`play_start:"a"`] > at[`play_start:"b"`] || at[`play_done:"a"`] > at[`play_done:"b"`] {
		t.Fatalf("notices out of order: %v", got)
	}
	if p.Busy() {
		t.Fatal("Busy() after everything was played")
	}
}

func TestPlayStartFollowsPreviousPlayDone(t *testing.T) {
	// play_start follows the first sample played, not the first written.
	r := newRing(100)
	p := New(r, 8000, 10, 40)
	p.Clip(ramp(250, 1), id("a"))
	p.Clip(ramp(130, 5000), id("b"))
	var ns []Notice
	for i := 0; i < 100; i++ {
		ns = p.Service(t0, ns)
		r.pull(37)
	}
	if got, want := brief(ns), []string{`play_start:"a"`, `play_done:"a"`, `play_start:"b"`, `play_done:"b"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("notices %v, want %v", got, want)
	}
}

func TestPlayDoneOnlyWhenPlayedOut(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	p.Clip(ramp(160, 1), id("a"))
	p.Clip(ramp(100, 1), id("b"))
	// Both clips are written, none played: nothing to say.
	for i := 0; i < 2; i++ {
		if got := p.Service(t0, nil); len(got) != 0 {
			t.Fatalf("notices before any sample was played: %v", brief(got))
		}
	}
	if len(r.data) != 260 {
		t.Fatalf("ring holds %d samples, want both clips (260)", len(r.data))
	}
	r.pull(159) // one sample of clip a still to go
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_start:"a"`}) {
		t.Fatalf("with the last sample unplayed: %v, want only play_start", got)
	}
	r.pull(1)
	ns := p.Service(t0, nil)
	if got, want := brief(ns), []string{`play_done:"a"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the clip's last sample: %v, want %v", got, want)
	}
	if got := p.Service(t0, nil); len(got) != 0 {
		t.Fatalf("play_done repeated: %v", brief(got))
	}
	r.pull(99)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_start:"b"`}) {
		t.Fatalf("clip b 99 of 100 played: %v", got)
	}
	r.pull(1)
	if got, want := brief(p.Service(t0, nil)), []string{`play_done:"b"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if p.Busy() {
		t.Fatal("still busy")
	}
}

func TestPlayDoneWithoutID(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(10, 5), nil)
	p.Service(t0, nil)
	r.pullAll()
	ns := p.Service(t0, nil)
	// Played whole between two services: start and done together, in order.
	if len(ns) != 2 || ns[0].Event != "play_start" || ns[0].ID != nil ||
		ns[1].Event != "play_done" || ns[1].ID != nil {
		t.Fatalf("got %+v", ns)
	}
}

func TestRingPositionOffset(t *testing.T) {
	// The ring has carried audio before the player was made: positions are
	// relative to what it had written then.
	r := newRing(1000)
	r.Write(fill(500, 9))
	r.pull(200)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(100, 1), id("a"))
	p.Service(t0, nil)
	r.pull(300) // the old audio
	if got := p.Service(t0, nil); len(got) != 0 {
		t.Fatalf("clip done while the old audio played: %v", brief(got))
	}
	r.pull(100)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_start:"a"`, `play_done:"a"`}) {
		t.Fatalf("got %v", got)
	}
}

func TestQueueLimit(t *testing.T) {
	r := newRing(100000)
	p := New(r, 8000, 10, 40)
	for i := 0; i < 10; i++ {
		if err := p.Clip(fill(10, 1), id(fmt.Sprint(i))); err != nil {
			t.Fatalf("clip %d refused: %v", i+1, err)
		}
	}
	err := p.Clip(fill(10, 1), id("11"))
	var qf ErrQueueFull
	if !errors.As(err, &qf) || qf.Max != 10 {
		t.Fatalf("11th clip: got %v, want ErrQueueFull{10}", err)
	}
	if got, want := err.Error(), "playAudio refused: 10 clips are already queued (the limit)"; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func TestQueueLimitCountsOnlyWaitingClips(t *testing.T) {
	// A clip that has started playing no longer waits: 10 more may queue.
	r := newRing(50) // the first clip does not fit whole
	p := New(r, 8000, 10, 40)
	p.Clip(fill(100, 1), id("playing"))
	p.Service(t0, nil)
	for i := 0; i < 10; i++ {
		if err := p.Clip(fill(10, 1), id(fmt.Sprint(i))); err != nil {
			t.Fatalf("waiting clip %d refused: %v", i+1, err)
		}
	}
	if err := p.Clip(fill(10, 1), nil); !errors.As(err, new(ErrQueueFull)) {
		t.Fatalf("11th waiting clip: got %v, want ErrQueueFull", err)
	}
	// Marks, beeps and streamed audio do not count.
	p.Mark(id("m"))
	p.Beep(fill(10, 1))
}

func TestKillDiscardsEverything(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(100, 1), id("a")) // will be in the ring
	p.Mark(id("m1"))
	p.Service(t0, nil)
	p.Clip(fill(100, 2), id("b")) // still queued
	p.Mark(id("m2"))
	p.Clip(fill(100, 3), id("c"))

	cleared, clips := p.Kill()
	if got, want := fmt.Sprintf("%s", cleared), `["m1" "m2"]`; got != want {
		t.Fatalf("cleared marks %s, want %s", got, want)
	}
	if clips != 3 {
		t.Fatalf("clips discarded %d, want 3", clips)
	}
	if r.discards != 1 {
		t.Fatalf("ring Discard called %d times, want 1", r.discards)
	}
	if p.Busy() {
		t.Fatal("Busy() after Kill")
	}
	written := len(r.data)
	if ns := p.Service(t0, nil); len(ns) != 0 || len(r.data) != written {
		t.Fatalf("after Kill, Service wrote %d samples and said %v", len(r.data)-written, brief(ns))
	}

	// The player works on after a kill, with ring positions in step.
	p.Clip(fill(50, 7), id("d"))
	if got := p.Service(t0, nil); len(got) != 0 {
		t.Fatalf("after kill, before playing: %v", brief(got))
	}
	if !reflect.DeepEqual(r.data[written:], fill(50, 7)) {
		t.Fatal("after kill the new clip is not what follows in the ring")
	}
	r.pull(49)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_start:"d"`}) {
		t.Fatalf("after kill, 49 of 50 played: %v", got)
	}
	r.pull(1)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_done:"d"`}) {
		t.Fatalf("after kill: %v", got)
	}
}

func TestKillCountsPartlyWrittenClipOnce(t *testing.T) {
	// A clip partly in the ring is counted once.
	r := newRing(50)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(200, 1), id("a")) // started, only 50 samples in the ring
	p.Service(t0, nil)
	_, clips := p.Kill()
	if clips != 1 {
		t.Fatalf("one clip was discarded, Kill says %d", clips)
	}
}

func TestKillClearsStreamAndPrebuffer(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Stream(fill(10, 3), t0) // waits in the jitter prebuffer
	p.Mark(id("x"))
	cleared, clips := p.Kill()
	if len(cleared) != 1 || string(cleared[0]) != `"x"` || clips != 0 {
		t.Fatalf("Kill = %s, %d", cleared, clips)
	}
	if p.Busy() {
		t.Fatal("busy after kill")
	}
	p.Service(t0.Add(time.Second), nil)
	if len(r.data) != 0 {
		t.Fatalf("prebuffered audio was written after kill: %d samples", len(r.data))
	}
}

func TestStreamWaitsForJitterSamples(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40) // 40 ms at 8 kHz: 320 samples
	p.Stream(ramp(200, 1), t0)
	p.Service(t0, nil)
	if len(r.data) != 0 {
		t.Fatalf("wrote %d samples before the prebuffer filled", len(r.data))
	}
	p.Stream(ramp(119, 201), t0.Add(time.Millisecond))
	p.Service(t0.Add(2*time.Millisecond), nil)
	if len(r.data) != 0 {
		t.Fatalf("wrote %d samples at 319 of 320 buffered", len(r.data))
	}
	p.Stream(ramp(1, 320), t0.Add(3*time.Millisecond))
	p.Service(t0.Add(3*time.Millisecond), nil)
	if !reflect.DeepEqual(r.data, ramp(320, 1)) {
		t.Fatalf("after the prebuffer filled the ring holds %d samples, want the 320 streamed", len(r.data))
	}
	// Playing: more streamed audio goes straight on, no new prebuffer.
	r.pull(100)
	p.Stream(fill(5, 9), t0.Add(4*time.Millisecond))
	p.Service(t0.Add(4*time.Millisecond), nil)
	if len(r.data) != 325 {
		t.Fatalf("while playing, new streamed audio waited: ring has %d", len(r.data))
	}
}

func TestStreamWaitsForJitterTime(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	p.Stream(fill(80, 4), t0)
	p.Service(t0.Add(39*time.Millisecond), nil)
	if len(r.data) != 0 {
		t.Fatalf("wrote %d samples 39 ms after arrival (jitter 40 ms)", len(r.data))
	}
	p.Service(t0.Add(40*time.Millisecond), nil)
	if len(r.data) != 80 {
		t.Fatalf("40 ms after arrival the ring holds %d samples, want 80", len(r.data))
	}
}

func TestStreamRebuffersAfterUnderrun(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	p.Stream(fill(400, 1), t0)
	p.Service(t0, nil)
	if len(r.data) != 400 {
		t.Fatalf("ring %d", len(r.data))
	}
	r.pullAll() // played out: idle again
	p.Stream(fill(100, 2), t0.Add(time.Second))
	p.Service(t0.Add(time.Second), nil)
	if len(r.data) != 400 {
		t.Fatalf("after an underrun, streamed audio did not wait for the prebuffer (ring %d)", len(r.data))
	}
	p.Service(t0.Add(time.Second+40*time.Millisecond), nil)
	if len(r.data) != 500 {
		t.Fatalf("ring %d, want 500", len(r.data))
	}
}

func TestStreamMarkEndsPrebuffer(t *testing.T) {
	// A mark behind short streamed audio means the stretch is complete.
	r := newRing(10000)
	p := New(r, 8000, 10, 40)
	p.Stream(fill(10, 1), t0)
	p.Mark(id("end"))
	p.Service(t0, nil)
	if len(r.data) != 10 {
		t.Fatalf("ring %d, want 10", len(r.data))
	}
}

func TestMarksPlayoutAtTheirPosition(t *testing.T) {
	r := newRing(10000)
	p := New(r, 8000, 10, 0)
	p.Stream(fill(100, 1), t0)
	p.Mark(id("m1"))
	p.Stream(fill(50, 2), t0)
	p.Mark(id("m2"))
	p.Mark(id("m3"))
	p.Stream(fill(30, 3), t0)
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("notices before anything played: %v", brief(ns))
	}
	want := append(append(fill(100, 1), fill(50, 2)...), fill(30, 3)...)
	if !reflect.DeepEqual(r.data, want) {
		t.Fatalf("ring content wrong (%d samples): marks must not be in-band", len(r.data))
	}
	r.pull(99)
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("mark early: %v", brief(ns))
	}
	r.pull(1)
	ns := p.Service(t0, nil)
	if got := brief(ns); !reflect.DeepEqual(got, []string{`mark:"m1"`}) {
		t.Fatalf("at 100: %v", got)
	}
	r.pull(50)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`mark:"m2"`, `mark:"m3"`}) {
		t.Fatalf("at 150: %v", got)
	}
	r.pull(30)
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("at the end: %v", brief(ns))
	}
	if p.Busy() {
		t.Fatal("busy at the end")
	}
}

func TestBeepHasNoPlayDone(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Beep(fill(80, 1000))
	p.Clip(fill(20, 5), id("a"))
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("notices %v", brief(ns))
	}
	if !reflect.DeepEqual(r.data, append(fill(80, 1000), fill(20, 5)...)) {
		t.Fatal("ring is not beep then clip")
	}
	r.pull(80)
	if ns := p.Service(t0, nil); len(ns) != 0 {
		t.Fatalf("beep played out: %v", brief(ns))
	}
	r.pull(20)
	if got := brief(p.Service(t0, nil)); !reflect.DeepEqual(got, []string{`play_start:"a"`, `play_done:"a"`}) {
		t.Fatalf("%v", got)
	}
}

func TestServiceAppendsToOut(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(10, 1), id("a"))
	p.Service(t0, nil)
	r.pull(1)
	prev := []Notice{{Event: "x"}}
	ns := p.Service(t0, prev)
	if got := brief(ns); !reflect.DeepEqual(got, []string{"x:", `play_start:"a"`}) {
		t.Fatalf("%v", got)
	}
}

func TestEmptyClipStartsBeforeDone(t *testing.T) {
	r := newRing(1000)
	p := New(r, 8000, 10, 40)
	p.Clip(nil, id("empty"))
	var ns []Notice
	for i := 0; i < 3; i++ {
		ns = p.Service(t0, ns)
	}
	if got, want := brief(ns), []string{`play_start:"empty"`, `play_done:"empty"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("empty clip: %v, want %v", got, want)
	}
}

func TestAbandonNamesWhatItDiscards(t *testing.T) {
	r := newRing(150)
	p := New(r, 8000, 10, 40)
	p.Clip(fill(100, 1), id("a"))
	p.Mark(id("m1"))
	p.Clip(fill(100, 2), nil) // partly in the ring: named once
	p.Clip(fill(100, 3), id("c"))
	p.Service(t0, nil)
	clips, marks := p.Abandon()
	if want := []json.RawMessage{id("a"), nil, id("c")}; !reflect.DeepEqual(clips, want) {
		t.Fatalf("abandoned clips %s, want %s", clips, want)
	}
	if got, want := fmt.Sprintf("%s", marks), `["m1"]`; got != want {
		t.Fatalf("abandoned marks %s, want %s", got, want)
	}
	if p.Busy() || r.discards != 1 {
		t.Fatalf("after Abandon: busy %v, ring discards %d", p.Busy(), r.discards)
	}
}
