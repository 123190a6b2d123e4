package e2e

import (
	"testing"
	"time"
)

// TestServerNeverReads: a server that accepts and then never reads. The
// engine's socket buffers fill, the media thread must not notice (hook times
// are printed, not asserted: they depend on the machine), the oldest audio is
// dropped and reported by exactly one buffer_overrun event, the stop event
// counts the dropped frames, switchsim ends in bounded time (the engine gives
// up flushing after flushTimeout, 2 s by default), and memory stays bounded.
//
// Two servers: one on plain loopback (its 64 KiB MSS would let Linux grow an
// uncapped send buffer to megabytes, swallowing the whole call: the engine
// must cap it), one with an Ethernet MSS and a small receive buffer, stalling
// as a server across a network does.
func TestServerNeverReads(t *testing.T) {
	t.Parallel()
	const (
		callSeconds = 10
		codec       = 48000
	)
	cases := []struct {
		name string
		opts []ServerOption
		srv  *WSServer
	}{
		{name: "loopback"},
		{name: "network-like", opts: []ServerOption{WithReceiveBuffer(4096), WithMaxSegment(1460)}},
	}
	caller := WriteWAV(t, "caller.wav", codec, Sine(codec, 1000, -6, callSeconds))
	callee := WriteWAV(t, "callee.wav", codec, Sine(codec, 600, -6, callSeconds))
	sims := make([]Sim, len(cases))
	for i := range cases {
		cases[i].srv = NewWSServer(t, NeverReadHandler, cases[i].opts...)
		sims[i] = Sim{
			Config: mustJSON(t, map[string]any{"url": cases[i].srv.URL, "sampleRate": 48000, "mixType": "stereo"}),
			Rate:   codec, Caller: caller, Callee: callee,
			// The stop event is due within flushTimeout (2 s) plus the close
			// handshake's 1 s after the hangup; wait no longer than needed to tell.
			Wait:     10,
			QuietLog: true,
			Timeout:  90 * time.Second,
		}
	}
	// One test running both (not parallel subtests): they are real-time and
	// mostly idle, and would otherwise hold both of go test's slots.
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkServerNeverReads(t, results[i], tc.srv, callSeconds)
		})
	}
}

func checkServerNeverReads(t *testing.T, r *Result, srv *WSServer, callSeconds int) {
	if r.Summary != nil {
		t.Log(r.Summary)
	}
	if r.Elapsed > time.Duration(callSeconds+20)*time.Second {
		t.Errorf("switchsim took %v for a %d s call, want < %d s (flush timeout 2 s, no action hook)",
			r.Elapsed.Round(time.Millisecond), callSeconds, callSeconds+20)
	}
	if r.ExitCode != 0 {
		t.Errorf("switchsim exited with %d, want 0", r.ExitCode)
	}
	call := r.Call(t, 0)
	if call.Reason == nil || *call.Reason == "" {
		t.Errorf("no stop reason: the stream never ended\n%s", r.Describe())
	} else {
		t.Logf("stop reason %q, stop event %s", *call.Reason, func() string { e, _ := call.Stop(); return string(e.JSON) }())
	}
	overruns := call.EventsNamed("buffer_overrun")
	if len(overruns) != 1 {
		t.Errorf("%d buffer_overrun events, want exactly 1\n%s", len(overruns), r.Describe())
	}
	for _, e := range overruns {
		var n int
		if !e.Field("framesDropped", &n) || n <= 0 {
			t.Errorf("buffer_overrun event %s: want framesDropped > 0", e.JSON)
		}
	}
	if call.FramesDropped == nil || *call.FramesDropped <= 0 {
		t.Errorf("stop event framesDropped %v, want > 0", call.FramesDropped)
	}
	if call.FramesIn != int64(callSeconds*50) {
		t.Errorf("framesIn %d, want %d: the media thread must keep pushing at the codec's pace", call.FramesIn, callSeconds*50)
	}
	if r.Summary != nil && r.Summary.MaxRSSKiB > 200<<10 {
		t.Errorf("maxrss %.0f KiB, want < 200 MiB", r.Summary.MaxRSSKiB)
	}
	if n := len(srv.Conns()); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
