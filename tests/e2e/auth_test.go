package e2e

import (
	"encoding/base64"
	"reflect"
	"testing"
	"time"
)

// TestAuthAndSubprotocols: wsAuth arrives as HTTP basic auth on the
// upgrade; both subprotocol names are offered by default, only the
// configured ones otherwise, and the one the server picks is reported in the
// "connect" event.
func TestAuthAndSubprotocols(t *testing.T) {
	t.Parallel()
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	both := []string{"audio.jambonz.org", "audio.drachtio.org"}
	cases := []struct {
		name       string
		extra      map[string]any // config keys besides url
		serverOpts []ServerOption
		wantAuth   string // "" : no Authorization header
		wantOffer  []string
		wantChosen string
	}{
		{name: "wsAuth-object", extra: map[string]any{"wsAuth": map[string]any{"username": "u", "password": "p w"}},
			wantAuth: basic("u", "p w"), wantOffer: both, wantChosen: "audio.jambonz.org"},
		{name: "wsAuth-dotted-keys", extra: map[string]any{"wsAuth.username": "user", "wsAuth.password": "pä:ss"},
			wantAuth: basic("user", "pä:ss"), wantOffer: both, wantChosen: "audio.jambonz.org"},
		{name: "no-auth", extra: map[string]any{},
			wantOffer: both, wantChosen: "audio.jambonz.org"},
		{name: "drachtio-only-config", extra: map[string]any{"subprotocols": []string{"audio.drachtio.org"}},
			wantOffer: []string{"audio.drachtio.org"}, wantChosen: "audio.drachtio.org"},
		{name: "drachtio-only-server", extra: map[string]any{},
			serverOpts: []ServerOption{WithSubprotocols("audio.drachtio.org")},
			wantOffer:  both, wantChosen: "audio.drachtio.org"},
	}
	servers := make([]*WSServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = NewWSServer(t, nil, tc.serverOpts...)
		cfg := map[string]any{"url": servers[i].URL}
		for k, v := range tc.extra {
			cfg[k] = v
		}
		sims[i] = Sim{Config: mustJSON(t, cfg), Hangup: 0.5}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			c := servers[i].WaitDone(t, 1, 5*time.Second)[0]
			if got := c.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", got, tc.wantAuth)
			}
			if n := len(c.Header.Values("Authorization")); n > 1 {
				t.Errorf("%d Authorization headers", n)
			}
			if got := c.OfferedSubprotocols(); !reflect.DeepEqual(got, tc.wantOffer) {
				t.Errorf("subprotocols offered %q, want %q", got, tc.wantOffer)
			}
			if c.Subprotocol != tc.wantChosen {
				t.Errorf("server chose %q, want %q", c.Subprotocol, tc.wantChosen)
			}
			call := r.Call(t, 0)
			conn := call.EventsNamed("connect")
			if len(conn) != 1 {
				t.Fatalf("%d connect events, want 1\n%s", len(conn), r.Describe())
			}
			if got := conn[0].String("subprotocol"); got != tc.wantChosen {
				t.Errorf("connect event subprotocol %q, want %q (%s)", got, tc.wantChosen, conn[0].JSON)
			}
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup", call.ReasonString())
			}
		})
	}
}
