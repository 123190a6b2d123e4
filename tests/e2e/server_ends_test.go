package e2e

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServerEndsListen: the server ends the listen, by the spec's
// {"type":"disconnect"} command or by closing the socket; the call's stop
// event gives the reason, well before the call's own hangup.
func TestServerEndsListen(t *testing.T) {
	t.Parallel()
	const hangup = 3.0
	afterAudio := func(c *WSConn) bool {
		_, ok := c.WaitFor(2*time.Second, func(f Frame) bool { return f.Kind == websocket.BinaryMessage })
		return ok
	}
	cases := []struct {
		name       string
		handler    Handler
		wantReason string
	}{
		{"disconnect-command", func(c *WSConn) {
			done := c.ReadInBackground()
			if afterAudio(c) {
				c.SendJSON(map[string]any{"type": "disconnect"})
			}
			<-done
		}, "disconnect"},
		{"server-close-1000", func(c *WSConn) {
			done := c.ReadInBackground()
			if afterAudio(c) {
				c.CloseWith(websocket.CloseNormalClosure, "bye")
			}
			<-done
		}, "server_closed"},
	}
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = NewWSServer(t, tc.handler)
		sims[i] = Sim{Config: mustJSON(t, map[string]any{"url": servers[i].URL}), Hangup: hangup, QuietLog: true}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if call.ReasonString() != tc.wantReason {
				t.Errorf("stop reason %s, want %s\n%s", call.ReasonString(), tc.wantReason, r.Describe())
			}
			stop, ok := call.Stop()
			if !ok {
				t.Fatal("no stop event")
			}
			if stop.T > int64(hangup*1000)-500 {
				t.Errorf("stop event at %d ms: the listen did not end when the server asked", stop.T)
			}
			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			if code, _ := c.CloseCode(); code != websocket.CloseNormalClosure {
				t.Errorf("close code %d, want 1000", code)
			}
			t.Logf("stop at %d ms: %s", stop.T, stop.JSON)
		})
	}
}
