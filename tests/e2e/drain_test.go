package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestDrainRefusesNewListensAndStopsTheRestAtItsDeadline: call 0 streams;
// at 0.5 s a drain with a 2 s deadline begins; call 1, created at 1.5 s, is
// refused; call 0 streams on until the deadline, then ends with reason
// shutdown, its audio delivered to the last frame, the socket closed with
// 1000 and its action hook called.
func TestDrainRefusesNewListensAndStopsTheRestAtItsDeadline(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	hook := newLifecycleHookServer(t, nil)
	cfg := map[string]any{"url": srv.URL, "actionHook": hook.URL}
	// Ramp 3: call 1 starts 1.5 s after call 0, well after the drain.
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Calls: 2, Ramp: 3, Hangup: 8, QuietLog: true,
		Extra: []string{"--drain", "0.5:2"}})
	if r.ExitCode != 0 && !strings.Contains(r.Stderr, "listen_stream_create") {
		t.Fatalf("switchsim failed\n%s", r.Describe())
	}
	refused := r.Call(t, 1)
	if !strings.Contains(refused.Error, "the engine is draining: new listens are refused (listen_drain off cancels)") {
		t.Errorf("call 1 created during the drain: error %q, want the drain's refusal\n%s", refused.Error, r.Describe())
	}
	call := r.Call(t, 0)
	if call.ReasonString() != "shutdown" {
		t.Fatalf("call 0 ended with %s, want shutdown\n%s", call.ReasonString(), r.Describe())
	}
	stop, _ := call.Stop()
	// The drain began at 0.5 s and gave 2 s: the listen lasted ~2.5 s of
	// media, not the 8 s of the call (generous bounds: the machine is noisy).
	if stop.T < 2000 || stop.T > 6000 {
		t.Errorf("call 0 stopped at %d ms, want about 2500", stop.T)
	}
	conns := srv.WaitDone(t, 1, 5*time.Second)
	if len(conns) != 1 {
		t.Fatalf("%d connections, want 1 (the refused call must not connect)", len(conns))
	}
	if code, _ := conns[0].CloseCode(); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d, want 1000", code)
	}
	var sent int
	stop.Field("framesSent", &sent)
	if got := len(conns[0].BinaryFrames()); got != sent || got < 100 {
		t.Errorf("server received %d audio frames, the stop event says %d (want all of ~125)", got, sent)
	}
	reqs := hook.settle()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"reason":"shutdown"`) {
		t.Errorf("hook requests %d, want 1 with reason shutdown: %v", len(reqs), reqs)
	}
}
