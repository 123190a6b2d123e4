package playback

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// TestRandomSchedule drives the player with a random mix of clips, beeps,
// streamed audio and marks through rings of random size, and checks after
// every Service that the ring holds exactly the queued audio in order (no
// gap, no loss, no repeat) and that a clip's play_done and a mark's playout
// come exactly once, never before the consumed position passes them.
func TestRandomSchedule(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		r := newRing(1 + rng.Intn(400))
		p := New(r, 8000, 1000, rng.Intn(3)*20)
		now := t0
		var want []int16
		var next int16
		ends := map[string]uint64{}   // clip or mark id -> ring position after it
		starts := map[string]uint64{} // clip id -> ring position of its first sample
		started := map[string]bool{}  // play_start seen
		kinds := map[string]string{}
		reported := map[string]bool{}
		n := 0
		audio := func(k int) []int16 {
			s := make([]int16, k)
			for i := range s {
				next++
				if next == 0 {
					next = 1 // zero means "nothing": keep it out
				}
				s[i] = next
			}
			want = append(want, s...)
			return s
		}
		for step := 0; step < 300; step++ {
			switch rng.Intn(7) {
			case 6:
				if rng.Intn(4) != 0 {
					continue
				}
				// killAudio: what is unreported is cleared; marks come back in order.
				var wantCleared []string
				for i := 1; i <= n; i++ {
					if id := fmt.Sprintf(`"m%d"`, i); kinds[id] != "" && !reported[id] {
						wantCleared = append(wantCleared, id)
					}
				}
				cleared, _ := p.Kill()
				got := []string{}
				for _, c := range cleared {
					got = append(got, string(c))
				}
				if len(wantCleared) == 0 {
					wantCleared = []string{}
				}
				if !slices.Equal(got, wantCleared) {
					t.Fatalf("seed %d: Kill cleared %v, want %v", seed, got, wantCleared)
				}
				for id := range ends {
					if !reported[id] {
						delete(ends, id)
						delete(kinds, id)
					}
				}
				want = want[:len(r.data)]
				continue
			case 0:
				n++
				name := fmt.Sprintf(`"c%d"`, n)
				starts[name] = uint64(len(want))
				s := audio(1 + rng.Intn(300))
				if err := p.Clip(s, []byte(name)); err != nil {
					t.Fatal(err)
				}
				ends[name], kinds[name] = uint64(len(want)), "play_done"
			case 1:
				p.Beep(audio(1 + rng.Intn(100)))
			case 2:
				p.Stream(audio(1+rng.Intn(200)), now)
			case 3:
				n++
				name := fmt.Sprintf(`"m%d"`, n)
				p.Mark([]byte(name))
				ends[name], kinds[name] = uint64(len(want)), "mark"
			default:
				r.pull(rng.Intn(250))
				now = now.Add(time.Duration(rng.Intn(30)) * time.Millisecond)
			}
			consumed := r.consumed
			for _, nt := range p.Service(now, nil) {
				id := string(nt.ID)
				if nt.Event == "play_start" {
					if kinds[id] != "play_done" || started[id] || starts[id] >= consumed {
						t.Fatalf("seed %d: play_start %s (clip? %v, again? %v) at start %d, consumed %d",
							seed, id, kinds[id] == "play_done", started[id], starts[id], consumed)
					}
					started[id] = true
					continue
				}
				if nt.Event == "play_done" && !started[id] {
					t.Fatalf("seed %d: play_done %s before its play_start", seed, id)
				}
				if kinds[id] != nt.Event {
					t.Fatalf("seed %d: unexpected notice %s %s", seed, nt.Event, id)
				}
				if reported[id] {
					t.Fatalf("seed %d: %s %s reported twice", seed, nt.Event, id)
				}
				if ends[id] > consumed {
					t.Fatalf("seed %d: %s %s at %d, consumed only %d", seed, nt.Event, id, ends[id], consumed)
				}
				reported[id] = true
			}
			for id, end := range ends {
				if kinds[id] == "play_done" && end <= consumed && !reported[id] {
					t.Fatalf("seed %d: clip %s ends at %d, consumed %d, no play_done", seed, id, end, consumed)
				}
				if kinds[id] == "play_done" && starts[id] < consumed && !started[id] {
					t.Fatalf("seed %d: clip %s starts at %d, consumed %d, no play_start", seed, id, starts[id], consumed)
				}
			}
			if len(r.data) > len(want) || !slices.Equal(r.data, want[:len(r.data)]) {
				t.Fatalf("seed %d step %d: ring content is not the queued audio in order: ring %d want %d; ring head %v want head %v", seed, step, len(r.data), len(want), r.data[:min(5, len(r.data))], want[:min(5, len(want))])
			}
		}
		// Drain.
		for i := 0; i < 1000000 && (p.Busy() || r.consumed < uint64(len(r.data))); i++ {
			now = now.Add(time.Second)
			for _, nt := range p.Service(now, nil) {
				if nt.Event == "play_start" {
					started[string(nt.ID)] = true
				} else {
					if reported[string(nt.ID)] {
						t.Fatalf("seed %d: %s twice", seed, nt.ID)
					}
					reported[string(nt.ID)] = true
				}
			}
			r.pullAll()
		}
		if !slices.Equal(r.data, want) {
			t.Fatalf("seed %d: after draining the ring holds %d samples, want %d", seed, len(r.data), len(want))
		}
		for id := range ends {
			if !reported[id] || kinds[id] == "play_done" && !started[id] {
				t.Fatalf("seed %d: %s never reported", seed, id)
			}
		}
	}
}
