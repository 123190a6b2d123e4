package e2e

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hcStopBound is how soon after the hangup the stop event must come (the
// issue's bound), on top of how late switchsim's media loop ran: the
// hangup itself is that late.
const hcStopBound = 100

// TestHostileStopWhileConnecting: a hangup while a dial is in progress ends
// the listen at once, with reason hangup and no connect_failed after it,
// whatever the dial is waiting for:
//   - the first upgrade, which the server never answers (connect timeout 30 s);
//   - a redial's upgrade, never answered, after the first connection dropped;
//   - the backoff before a redial (backoffMs 20000).
func TestHostileStopWhileConnecting(t *testing.T) {
	t.Parallel()
	const hangup = 1.5
	cases := []struct {
		name      string
		plan      []string
		reconnect map[string]any
		wantConns int // WebSocket connections the server accepted
	}{
		{name: "upgrade-unanswered", plan: []string{"hang-upgrade"}},
		{name: "redial-unanswered", plan: []string{"close-abnormal-at-0.5s", "hang-upgrade"},
			reconnect: map[string]any{"attempts": 3, "backoffMs": 100}, wantConns: 1},
		{name: "backoff", plan: []string{"close-abnormal-at-0.5s"},
			reconnect: map[string]any{"attempts": 3, "backoffMs": 20000}, wantConns: 1},
	}
	servers := make([]*fltServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		servers[i] = fltNewServer(t, nil, tc.plan...)
		cfg := map[string]any{"url": servers[i].URLFor("mixed")}
		if tc.reconnect != nil {
			cfg["reconnect"] = tc.reconnect
		}
		sims[i] = Sim{Config: mustJSON(t, cfg), Settings: `{"connectTimeoutMs":30000}`, Hangup: hangup, Wait: 5}
	}
	results := RunSims(t, sims)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			t.Logf("events %s", fltEventNames(call))
			stop, ok := call.Stop()
			if !ok {
				t.Fatalf("no stop event\n%s", r.Describe())
			}
			if call.ReasonString() != "hangup" {
				t.Errorf("stop reason %s, want hangup: %s", call.ReasonString(), stop.JSON)
			}
			if e := stop.String("error"); e != "" {
				t.Errorf("stop event has error %q: the listen was stopped, nothing failed", e)
			}
			if n := len(call.EventsNamed("connect_failed")); n != 0 {
				t.Errorf("%d connect_failed events for a listen stopped while connecting", n)
			}
			late := stop.T - int64(hangup*1000)
			t.Logf("stop event %d ms after the hangup (the media loop ran up to %.1f ms late)", late, r.Summary.MaxLateMs)
			if float64(late) > hcStopBound+r.Summary.MaxLateMs {
				t.Errorf("stop event %d ms after the hangup, want within %d ms", late, hcStopBound)
			}
			if n := len(servers[i].Conns()); n != tc.wantConns {
				t.Errorf("%d connections, want %d", n, tc.wantConns)
			}
		})
	}
}

// TestHostileReconnectStorm: a server that accepts the upgrade and drops the
// connection at once, to a call with reconnect attempts 3. The connections
// that fail within stableMs count against the attempts: 4 connections in
// all (the first and 3 redials), each gap about twice the one before
// (backoffMs 200: 200, 400, 800 ms, plus up to a quarter of jitter), then
// the listen ends with connection_lost long before the hangup.
//
// Stable periods reset the count: a server that drops every connection
// after 1 s, with stableMs 500 and attempts 1, is redialled for the whole
// call; with the default stableMs (5 s), the second drop ends the listen.
func TestHostileReconnectStorm(t *testing.T) {
	t.Parallel()
	const hangup = 5.0
	storm := fltNewServer(t, nil)
	stable := fltNewServer(t, nil)
	unstable := fltNewServer(t, nil)
	results := RunSims(t, []Sim{
		{Config: mustJSON(t, map[string]any{"url": storm.URLFor("close-abnormal-at-0s"),
			"reconnect": map[string]any{"attempts": 3, "backoffMs": 200}}), Hangup: hangup, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": stable.URLFor("close-abnormal-at-1s"),
			"reconnect": map[string]any{"attempts": 1, "backoffMs": 100, "stableMs": 500}}), Hangup: hangup, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": unstable.URLFor("close-abnormal-at-1s"),
			"reconnect": map[string]any{"attempts": 1, "backoffMs": 100}}), Hangup: hangup, QuietLog: true},
	})

	t.Run("storm", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		conns := storm.Conns()
		var gaps []time.Duration
		for i := 1; i < len(conns); i++ {
			gaps = append(gaps, conns[i].Accepted.Sub(conns[i-1].Accepted))
		}
		stop, _ := call.Stop()
		t.Logf("%d connections, gaps %v; stop %s", len(conns), gaps, stop.JSON)
		if len(conns) != 4 {
			t.Fatalf("%d connections in %.0f s from one call with attempts 3, want 4 (the first and 3 redials)", len(conns), hangup)
		}
		for i, g := range gaps {
			floor := 200 * time.Millisecond << i
			if g < floor {
				t.Errorf("gap %d is %v, want at least the backoff, %v", i+1, g, floor)
			}
			if i > 0 && g <= gaps[i-1] {
				t.Errorf("gap %d (%v) is not longer than gap %d (%v): the backoff does not grow", i+1, g, i, gaps[i-1])
			}
		}
		if call.ReasonString() != "connection_lost" {
			t.Errorf("stop reason %s, want connection_lost", call.ReasonString())
		}
		if stop.String("error") == "" {
			t.Errorf("stop event %s has no error", stop.JSON)
		}
		if stop.T > 4000 {
			t.Errorf("stop at %d ms: the listen did not give up after its 3 redials (about 1.4-1.75 s of backoff)", stop.T)
		}
		rec := call.EventsNamed("reconnecting")
		var attempts []int
		for _, e := range rec {
			var n int
			e.Field("attempt", &n)
			attempts = append(attempts, n)
		}
		if fmt.Sprint(attempts) != "[1 2 3]" {
			t.Errorf("reconnecting events' attempts %v, want [1 2 3]", attempts)
		}
	})

	t.Run("stable-periods-reset", func(t *testing.T) {
		r := results[1]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		n := len(stable.Conns())
		t.Logf("%d connections, reconnecting events %d, reason %s", n, len(call.EventsNamed("reconnecting")), call.ReasonString())
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup: each connection lasted 1 s, over stableMs 500", call.ReasonString())
		}
		if n < 3 {
			t.Errorf("%d connections, want one about every 1.1 s of the %.0f s call", n, hangup)
		}
	})

	t.Run("unstable-default", func(t *testing.T) {
		r := results[2]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		n := len(unstable.Conns())
		t.Logf("%d connections, reason %s", n, call.ReasonString())
		if n != 2 {
			t.Errorf("%d connections, want 2: the redial's connection also dropped within stableMs (5 s), its second failure with attempts 1", n)
		}
		if call.ReasonString() != "connection_lost" {
			t.Errorf("stop reason %s, want connection_lost", call.ReasonString())
		}
	})
}

// TestHostileKeepalive: pingIntervalMs 300.
//   - A server that stops reading after the first frame and sends nothing
//     (as a half-open connection looks) answers no ping: the listen ends
//     with connection_lost about two intervals after it was last heard from,
//     saying why.
//   - The same on the first connection only, with reconnect on: redialled,
//     and the call goes on to the hangup.
//   - A server that reads (so answers pings) and sends nothing else is
//     pinged every interval and kept to the hangup.
func TestHostileKeepalive(t *testing.T) {
	t.Parallel()
	const (
		hangup   = 4.0
		interval = 300
	)
	silent := fltNewServer(t, nil)
	var pings atomic.Int32
	quiet := NewWSServer(t, func(c *WSConn) {
		c.SetPingHandler(func(data string) error {
			pings.Add(1)
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		c.ReadAll()
	})
	cfg := func(url string, extra map[string]any) string {
		m := map[string]any{"url": url, "pingIntervalMs": interval}
		for k, v := range extra {
			m[k] = v
		}
		return mustJSON(t, m)
	}
	results := RunSims(t, []Sim{
		{Config: cfg(silent.URLFor("never-read"), nil), Hangup: hangup, QuietLog: true},
		{Config: cfg(silent.URLFor("never-read-once"), map[string]any{"reconnect": map[string]any{"attempts": 2, "backoffMs": 100}}),
			Hangup: hangup, QuietLog: true},
		{Config: cfg(quiet.URL, nil), Hangup: hangup, QuietLog: true},
	})
	wantErr := fmt.Sprintf("the server sent nothing, not even a pong, for %dms", 2*interval)

	t.Run("silent-server", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		stop, _ := call.Stop()
		connects := call.EventsNamed("connect")
		t.Logf("events %s; stop %s", fltEventNames(call), stop.JSON)
		if call.ReasonString() != "connection_lost" || stop.String("error") != wantErr {
			t.Fatalf("stop %s, want reason connection_lost, error %q", stop.JSON, wantErr)
		}
		if len(connects) != 1 {
			t.Fatalf("%d connect events", len(connects))
		}
		// Last heard from at the upgrade's answer; given up two intervals
		// later (600 ms), with a generous bound for a loaded machine.
		after := stop.T - connects[0].T
		t.Logf("stop %d ms after the connect event (two intervals: %d ms)", after, 2*interval)
		if after < interval || after > 2*interval+1000 {
			t.Errorf("stop %d ms after the connect, want about %d ms", after, 2*interval)
		}
	})

	t.Run("silent-server-redialled", func(t *testing.T) {
		r := results[1]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		rec := call.EventsNamed("reconnecting")
		t.Logf("events %s", fltEventNames(call))
		if len(rec) != 1 || rec[0].String("error") != wantErr {
			t.Errorf("reconnecting events %v, want one saying %q", fltJSONs(rec), wantErr)
		}
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup", call.ReasonString())
		}
	})

	t.Run("quiet-server-kept", func(t *testing.T) {
		r := results[2]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		n := pings.Load()
		t.Logf("%d pings in a %.0f s call; reason %s", n, hangup, call.ReasonString())
		if call.ReasonString() != "hangup" {
			t.Errorf("stop reason %s, want hangup: the server answered every ping", call.ReasonString())
		}
		if len(quiet.Conns()) != 1 {
			t.Errorf("%d connections, want 1", len(quiet.Conns()))
		}
		if want := int32(hangup) * 1000 / interval / 2; n < want {
			t.Errorf("%d pings, want one every %d ms (at least %d)", n, interval, want)
		}
	})
}

// TestHostileHandshake: a server whose 101 answer has a wrong
// Sec-WebSocket-Accept fails the connect, saying so (not "refused the
// upgrade: HTTP 101"); upgrade headers HTTP cannot carry as given, and a URL
// with a fragment, are refused at create with a message naming them.
func TestHostileHandshake(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "not the GUID"))
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
					base64.StdEncoding.EncodeToString(h[:]))
				time.Sleep(time.Second)
			}()
		}
	}()
	url := "ws://" + ln.Addr().String() + "/listen"
	refused := []struct {
		name, config, want string
	}{
		{"header-name", `{"url":"ws://127.0.0.1:9/x","headers":{"X-Call(1)":"a"}}`, `"X-Call(1)" is not a valid header name`},
		{"header-nul", `{"url":"ws://127.0.0.1:9/x","headers":{"X-Token":"ab\u0000cd"}}`, `the value of "X-Token" holds a control character (byte 0x00 at 2)`},
		{"header-crlf", `{"url":"ws://127.0.0.1:9/x","headers":{"X-Token":"ab\r\nHost: x"}}`, `the value of "X-Token" holds a control character (byte 0x0d at 2)`},
		{"fragment", `{"url":"ws://127.0.0.1:9/x#frag"}`, `"url" must not have a fragment`},
	}
	sims := []Sim{{Config: mustJSON(t, map[string]any{"url": url}), Hangup: 1, QuietLog: true}}
	for _, c := range refused {
		sims = append(sims, Sim{Config: c.config, Hangup: 0.2})
	}
	results := RunSims(t, sims)

	t.Run("wrong-accept", func(t *testing.T) {
		r := results[0]
		r.MustSucceed(t, 1)
		call := r.Call(t, 0)
		failed := call.EventsNamed("connect_failed")
		want := url + " answered the upgrade (HTTP 101) with a wrong Sec-WebSocket-Accept: not a WebSocket server, or a proxy in the way"
		if len(failed) != 1 || failed[0].String("error") != want {
			t.Fatalf("connect_failed events %v, want one saying %q", fltJSONs(failed), want)
		}
		if call.ReasonString() != "connect_failed" {
			t.Errorf("stop reason %s, want connect_failed", call.ReasonString())
		}
	})
	for i, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := results[i+1]
			if r.ExitCode != 2 || len(r.Calls) != 1 {
				t.Fatalf("exit code %d with %d calls, want 2 with the create's error\n%s", r.ExitCode, len(r.Calls), r.Describe())
			}
			if e := r.Calls[0].Error; !strings.Contains(e, c.want) {
				t.Errorf("create error %q, want it to say %q", e, c.want)
			}
			if strings.Contains(r.Calls[0].Error, "#frag") {
				t.Errorf("create error %q shows the fragment", r.Calls[0].Error)
			}
		})
	}
}
