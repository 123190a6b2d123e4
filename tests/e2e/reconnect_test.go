package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rcCounter is caller audio that numbers its own samples: sample i is
// 3·i mod 2^16 (as int16), a sawtooth that repeats only after 65536 samples
// (8.2 s at 8 kHz). Streamed at the codec's rate the engine does not
// resample, so every sample on the wire says where in the stream it is.
func rcCounter(n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(uint16(3 * i))
	}
	return out
}

// rcSamples decodes one binary frame.
func rcSamples(b []byte) []int16 {
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

// rcResume is the first frame of a resumed connection.
type rcResume struct {
	Resumed    bool  `json:"resumed"`
	Reconnects int   `json:"reconnects"`
	StartMs    int64 `json:"startMs"`
	LostMs     int64 `json:"lostMs"`
	BufferedMs int64 `json:"bufferedMs"`
	SampleRate int   `json:"sampleRate"`
}

// TestReconnect: the server drops the socket 2 s into a 6 s call.
//   - With "reconnect":{"attempts":3,"backoffMs":100} a second connection
//     arrives; its first frame is JSON with "resumed": true, "startMs",
//     "lostMs" and "bufferedMs"; the audio after it starts at startMs of
//     the stream, the frames it repeats match what the first connection
//     received, and the two stitched together are the caller's 6 s exactly,
//     sample for sample (the counter in the audio shows any gap or repeat).
//     Both a TCP drop without a close frame and a close with code 1011.
//   - Without reconnect the listen ends with reason connection_lost, for
//     both (read.go: only code 1000 is a clean server_closed).
//   - A clean close (1000) or a disconnect message is final: never redialled,
//     even with reconnect on.
//   - An outage longer than the 1 s capture buffer (backoff 1.5 s): the
//     resumption frame's lostMs is what was dropped, and the stitched audio
//     has exactly one gap of that length.
//   - A server that refuses every redial: 3 attempts, then connection_lost.
func TestReconnect(t *testing.T) {
	t.Parallel()
	const (
		codec   = 8000
		seconds = 6
	)
	caller := rcCounter(codec * seconds)
	wavPath := WriteWAV(t, "counter.wav", codec, caller)
	on := map[string]any{"attempts": 3, "backoffMs": 100}
	cases := []struct {
		name       string
		path       string
		reconnect  map[string]any
		wantConns  int
		wantReason string
		stitched   bool // the connections carry the whole call between them
		long       bool // the outage outlasts the capture buffer: lostMs of audio lost
	}{
		{name: "drop-redialled", path: "close-abnormal-at-2s-once", reconnect: on, wantConns: 2, wantReason: "hangup", stitched: true},
		{name: "1011-redialled", path: "close-1011-at-2s-once", reconnect: on, wantConns: 2, wantReason: "hangup", stitched: true},
		{name: "drop-long-outage", path: "close-abnormal-at-2s-once", reconnect: map[string]any{"attempts": 3, "backoffMs": 1500},
			wantConns: 2, wantReason: "hangup", stitched: true, long: true},
		{name: "drop-no-reconnect", path: "close-abnormal-at-2s-once", wantConns: 1, wantReason: "connection_lost"},
		{name: "1011-no-reconnect", path: "close-1011-at-2s-once", wantConns: 1, wantReason: "connection_lost"},
		{name: "1000-final", path: "close-1000-at-2s-once", reconnect: on, wantConns: 1, wantReason: "server_closed"},
		{name: "disconnect-final", path: "disconnect-at-2s-once", reconnect: on, wantConns: 1, wantReason: "disconnect"},
		{name: "redial-refused", path: "close-abnormal-at-2s-then-500", reconnect: on, wantConns: 1, wantReason: "connection_lost"},
	}
	servers := make([]*fltServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = fltNewServer(t, nil)
		cfg := map[string]any{"url": servers[i].URLFor(tc.path), "sampleRate": codec}
		if tc.reconnect != nil {
			cfg["reconnect"] = tc.reconnect
		}
		sims[i] = Sim{Config: mustJSON(t, cfg), Rate: codec, Caller: wavPath, QuietLog: true, Timeout: 60 * time.Second}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			stop, _ := call.Stop()
			t.Logf("events %s; stop %s", fltEventNames(call), stop.JSON)
			if call.ReasonString() != tc.wantReason {
				t.Errorf("stop reason %s, want %s\n%s", call.ReasonString(), tc.wantReason, r.Describe())
			}
			// A redial, if any, comes within the backoff: wait long enough to see it.
			time.Sleep(300 * time.Millisecond)
			conns := servers[i].Conns()
			if len(conns) != tc.wantConns {
				t.Fatalf("%d connections, want %d", len(conns), tc.wantConns)
			}
			if tc.name == "redial-refused" {
				rcCheckRefused(t, call, servers[i])
				return
			}
			if !tc.stitched {
				if n := len(call.EventsNamed("reconnecting")); n != 0 {
					t.Errorf("%d reconnecting events for a listen that must not redial", n)
				}
				return
			}
			servers[i].WaitDone(t, 2, 10*time.Second)
			rcCheckStitched(t, call, conns[0], conns[1], codec, seconds, tc.long)
		})
	}
}

func rcCheckRefused(t *testing.T, call CallResult, srv *fltServer) {
	t.Helper()
	failed := call.EventsNamed("connect_failed")
	if len(failed) != 3 {
		t.Errorf("%d connect_failed events, want 3 (one per attempt): %v", len(failed), fltJSONs(failed))
	}
	if n := len(srv.Requests()); n != 4 {
		t.Errorf("%d upgrade requests, want 4 (the first connection and 3 attempts)", n)
	}
	if stop, ok := call.Stop(); ok {
		// Attempts 100, 200, 400 ms apart after a drop at 2 s: the
		// listen ends long before the 6 s hangup (generous bound).
		if stop.T > 5000 {
			t.Errorf("stop at %d ms: the redials did not give up after 3 attempts", stop.T)
		}
		if stop.String("error") == "" {
			t.Errorf("stop event %s has no error text", stop.JSON)
		}
	}
}

// rcIndex is the sample index a counter sample stands for (3 is invertible
// mod 2^16: 3·43691 = 2·65536 + 1).
func rcIndex(v int16) int { return int(uint16(uint16(v) * 43691)) }

// rcCheckStitched checks the resumption frame and that the two connections'
// audio, stitched by startMs, is the caller's audio exactly: with no gap, or
// (long, when the outage outlasted the 1 s capture buffer) with exactly one
// gap of lostMs, the audio the engine could not keep.
func rcCheckStitched(t *testing.T, call CallResult, first, second *WSConn, rate, seconds int, long bool) {
	t.Helper()
	frameN := rate / 50
	var dropped int64 = -1
	if call.FramesDropped != nil {
		dropped = *call.FramesDropped
	}
	if !long && dropped != 0 {
		t.Errorf("framesDropped %d, want 0: a 100 ms outage fits in the 1 s capture buffer (load average %s)", dropped, rcLoad())
	}
	if n := len(call.EventsNamed("reconnecting")); n != 1 {
		t.Errorf("%d reconnecting events, want 1", n)
	}
	connects := call.EventsNamed("connect")
	if len(connects) != 2 {
		t.Errorf("%d connect events, want 2", len(connects))
	} else {
		var resumed bool
		if !connects[1].Field("resumed", &resumed) || !resumed {
			t.Errorf("second connect event %s: want resumed: true", connects[1].JSON)
		}
	}

	a := first.BinaryFrames()
	frames := second.Frames()
	if len(frames) == 0 || frames[0].Kind != websocket.TextMessage {
		t.Fatalf("the second connection did not start with a text frame")
	}
	var keys map[string]json.RawMessage
	var res rcResume
	if err := json.Unmarshal(frames[0].Data, &keys); err != nil {
		t.Fatalf("resumption frame %q: %v", frames[0].Data, err)
	}
	json.Unmarshal(frames[0].Data, &res)
	t.Logf("first connection: %d frames; resumption frame %s", len(a), frames[0].Data)
	for _, k := range []string{"resumed", "startMs", "lostMs", "bufferedMs"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("resumption frame has no %q: %s", k, frames[0].Data)
		}
	}
	if !res.Resumed || res.SampleRate != rate || res.Reconnects != 1 {
		t.Errorf("resumption frame %s: want resumed: true, reconnects: 1, sampleRate %d", frames[0].Data, rate)
	}
	if !strings.Contains(string(frames[0].Data), `"resumed":true`) {
		t.Errorf("resumption frame %s: want \"resumed\":true", frames[0].Data)
	}
	if long {
		// 1.5 s away, 1 s kept: about 0.5 s lost, as many as were dropped.
		if res.LostMs <= 0 || res.LostMs != dropped*20 {
			t.Errorf("lostMs %d, want > 0 and the frames dropped (%d × 20 ms)", res.LostMs, dropped)
		}
		if res.BufferedMs < 800 || res.BufferedMs > 1200 {
			t.Errorf("bufferedMs %d, want about the 1 s capture buffer", res.BufferedMs)
		}
	} else {
		if res.LostMs != 0 {
			t.Errorf("lostMs %d, want 0 (the outage was short)", res.LostMs)
		}
		// The outage is the 100 ms backoff plus a local dial: bufferedMs
		// (the outage's audio kept) is at least the backoff and far below
		// the 2 s the first connection lasted (generous bound: 1 s).
		if res.BufferedMs < 100 || res.BufferedMs >= 1000 {
			t.Errorf("bufferedMs %d, want the outage: at least the 100 ms backoff, under 1000 ms", res.BufferedMs)
		}
	}
	if res.StartMs%20 != 0 {
		t.Fatalf("startMs %d is not on a 20 ms frame boundary", res.StartMs)
	}
	var b [][]byte
	for _, f := range frames[1:] {
		if f.Kind == websocket.BinaryMessage {
			b = append(b, f.Data)
		}
	}
	start := int(res.StartMs / 20)
	if start > len(a) {
		t.Fatalf("startMs %d: the second connection resumes at frame %d, but the first received only %d frames: %d ms of audio never arrived",
			res.StartMs, start, len(a), (start-len(a))*20)
	}
	// The frames sent again must be the ones received before.
	for j := 0; start+j < len(a) && j < len(b); j++ {
		if string(b[j]) != string(a[start+j]) {
			t.Errorf("frame %d (%d ms) sent again after the resumption differs from the one received before", start+j, (start+j)*20)
			break
		}
	}
	if start < len(a)-10 {
		t.Errorf("startMs %d repeats %d frames the server had: more than the few in flight", res.StartMs, len(a)-start)
	}
	stitched := append([][]byte(nil), a...)
	if len(a)-start < len(b) {
		stitched = append(stitched, b[len(a)-start:]...)
	}
	var audio []int16
	for _, f := range stitched {
		if len(f) != frameN*2 {
			t.Fatalf("a frame of %d bytes, want %d", len(f), frameN*2)
		}
		audio = append(audio, rcSamples(f)...)
	}
	// Walk the counter: every sample must follow the one before. Audio
	// missing at the resumption point must be lostMs; audio missing
	// anywhere in all must be what framesDropped counts.
	total := seconds * rate
	if len(audio) == 0 || rcIndex(audio[0]) != 0 {
		t.Fatalf("the stitched audio does not start at the call's first sample")
	}
	join := start + rcReplayFrames                     // the first frame after the ones sent again
	lo, hi := min(len(a), join)-1, max(len(a), join)+1 // frames around the resumption point
	var gaps []string
	joinMs, otherMs := 0, 0
	last := 0
	for i := 1; i < len(audio); i++ {
		prev, cur := rcIndex(audio[i-1]), rcIndex(audio[i])
		if prev == total-1 {
			break // the end of the caller's audio: silence may follow
		}
		last = cur
		if cur <= prev {
			t.Errorf("at %.3f s of the wire (frame %d): sample %d follows %d: audio repeated or out of order",
				float64(i)/float64(rate), i/frameN, cur, prev)
			break
		}
		if cur != prev+1 {
			ms := (cur - prev - 1) * 1000 / rate
			if f := i / frameN; f >= lo && f <= hi {
				joinMs += ms
			} else {
				otherMs += ms
			}
			gaps = append(gaps, fmt.Sprintf("at %.3f s of the wire (frame %d): sample %d follows %d (%+d ms)",
				float64(i)/float64(rate), i/frameN, cur, prev, ms))
		}
	}
	if int64(joinMs) != res.LostMs {
		t.Errorf("%d ms of audio missing at the resumption point (frames %d-%d), the resumption frame says lostMs %d; gaps %v",
			joinMs, lo, hi, res.LostMs, gaps)
	}
	if int64(joinMs+otherMs) != dropped*20 {
		t.Errorf("%d ms of audio missing from the stitched stream, framesDropped %d says %d ms; gaps %v",
			joinMs+otherMs, dropped, dropped*20, gaps)
	}
	if !long && len(gaps) != 0 {
		t.Errorf("stitched audio (first connection %d frames, resumed at frame %d) is not continuous: %v (load average %s)",
			len(a), start, gaps, rcLoad())
	}
	if last != total-1 {
		t.Errorf("the stitched audio ends at sample %d, want the caller's last, %d", last, total-1)
	}
	if c, _ := second.CloseCode(); c != websocket.CloseNormalClosure {
		t.Errorf("second connection closed with %d, want 1000", c)
	}
	t.Logf("stitched: %d frames, gaps %v", len(stitched), gaps)
}

// rcReplayFrames: the README's "the last 100 ms sent before the drop are
// sent again"; audio lost in the outage is missing right after them.
const rcReplayFrames = 5

// rcLoad is the machine's load average, for failure messages: a test host
// starved of CPU for over a second drops audio by design.
func rcLoad() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
