package e2e

import (
	"strings"
	"testing"
)

// TestSeveralListensOnePlayer: a host running several listens on one call
// marks every start after the one that plays with playback-taken; a config
// that would play too is refused, naming the fix, and one that does not play
// starts.
func TestSeveralListensOnePlayer(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	refused := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL}), Flags: "playback-taken", Hangup: 0.5})
	if c := refused.Call(t, 0); !strings.Contains(c.Error,
		`another listen plays audio into this call already, and only one may; this config asks for playback too (set "bidirectionalAudio":{"enabled":false} on it)`) {
		t.Errorf("a second player: error %q\n%s", c.Error, refused.Describe())
	}
	if n := len(srv.Conns()); n != 0 {
		t.Errorf("the refused listen connected %d times", n)
	}
	recorder := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "bidirectionalAudio": map[string]any{"enabled": false}}),
		Flags: "playback-taken", Hangup: 0.5})
	recorder.MustSucceed(t, 1)
}
