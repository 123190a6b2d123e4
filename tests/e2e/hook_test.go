package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The action hook, end to end: switchsim → liblisten.so → a real local HTTP
// server (httptest). Helpers are in lifecycle_test.go.

// hookAfterAudio waits for the first audio frame (the stream is going).
func hookAfterAudio(c *WSConn) bool {
	_, ok := c.WaitFor(3*time.Second, func(f Frame) bool { return f.Kind == websocket.BinaryMessage })
	return ok
}

// TestHookReasons: for each way a listen ends, exactly one POST with the
// call's attributes, reason, duration, durationMs, digits when a key ended
// it and error when one did; the stop event agrees with it.
func TestHookReasons(t *testing.T) {
	t.Parallel()
	type hookCase struct {
		name       string
		handler    Handler // nil: record everything
		url        string  // instead of a test server
		extra      map[string]any
		dtmf       string
		args       []string // more switchsim arguments
		wantReason string
		wantDigits string
		wantError  string // "" : no error in the body; else a text it must contain
		anyError   bool   // an error of any text is wanted
	}
	cases := []hookCase{
		{name: "hangup", dtmf: "5@0.3", wantReason: "hangup"},
		{name: "disconnect", handler: func(c *WSConn) {
			done := c.ReadInBackground()
			if hookAfterAudio(c) {
				c.SendJSON(map[string]any{"type": "disconnect"})
			}
			<-done
		}, wantReason: "disconnect"},
		{name: "server_closed", handler: func(c *WSConn) {
			done := c.ReadInBackground()
			if hookAfterAudio(c) {
				c.CloseWith(websocket.CloseNormalClosure, "bye")
			}
			<-done
		}, wantReason: "server_closed"},
		{name: "connect_failed", url: "ws://127.0.0.1:1/listen", wantReason: "connect_failed", anyError: true},
		{name: "server_error", handler: func(c *WSConn) {
			done := c.ReadInBackground()
			if hookAfterAudio(c) {
				c.SendJSON(map[string]any{"type": "error", "data": map[string]any{"error": "quota exceeded for tenant 7"}})
			}
			<-done
		}, wantReason: "server_error", wantError: "quota exceeded for tenant 7"},
		{name: "finishOnKey", extra: map[string]any{"finishOnKey": "#"}, dtmf: "3@0.3,#@0.8",
			wantReason: "finishOnKey", wantDigits: "#"},
		{name: "maxLength", extra: map[string]any{"maxLength": 1}, dtmf: "5@0.3", wantReason: "maxLength"},
		{name: "timeout", extra: map[string]any{"timeout": 1}, wantReason: "timeout"},
		{name: "stop-by-host", args: []string{"--stop-reason", "stop"}, wantReason: "stop"},
	}
	servers := make([]*WSServer, len(cases))
	hooks := make([]*lifecycleHookServer, len(cases))
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		url := tc.url
		if url == "" {
			servers[i] = NewWSServer(t, tc.handler)
			url = servers[i].URL
		}
		hooks[i] = newLifecycleHookServer(t, nil)
		cfg := map[string]any{"url": url, "actionHook": hooks[i].URL}
		for k, v := range tc.extra {
			cfg[k] = v
		}
		sims[i] = Sim{Config: mustJSON(t, cfg), Call: mustJSON(t, lifecycleCall), DTMF: tc.dtmf, Hangup: 2.5, QuietLog: true,
			Extra: tc.args}
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
			reqs := hooks[i].settle()
			if len(reqs) != 1 {
				t.Fatalf("%d hook requests, want exactly 1\n%s", len(reqs), r.Describe())
			}
			q := reqs[0]
			if q.Method != http.MethodPost {
				t.Errorf("hook method %s, want POST", q.Method)
			}
			if q.Path != "/hook" {
				t.Errorf("hook path %s, want /hook", q.Path)
			}
			if ct := q.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("hook Content-Type %q, want application/json", ct)
			}
			if q.HasAuth {
				t.Errorf("hook has basic auth %q:%q, none was configured", q.User, q.Pass)
			}
			wantErr := tc.wantError
			if tc.anyError {
				wantErr = ""
				var m map[string]any
				json.Unmarshal(q.Body, &m)
				if e, _ := m["error"].(string); e == "" {
					t.Errorf("hook body has no error text for reason %s: %s", tc.wantReason, q.Body)
				} else {
					wantErr = e // checked below like any other
				}
			}
			lifecycleCheckHookBody(t, q.Body, call, tc.wantReason, tc.wantDigits, wantErr)
			stop, ok := call.Stop()
			if !ok {
				t.Fatal("no stop event")
			}
			if got := stop.String("reason"); got != tc.wantReason {
				t.Errorf("stop event reason %q", got)
			}
			if wantErr != "" && !strings.Contains(stop.String("error"), wantErr) {
				t.Errorf("stop event error %q, want it to contain %q", stop.String("error"), wantErr)
			}
			if tc.wantDigits != "" && stop.String("digits") != tc.wantDigits {
				t.Errorf("stop event digits %q, want %q", stop.String("digits"), tc.wantDigits)
			}
			if len(call.EventsNamed("hook_response")) != 1 {
				t.Errorf("%d hook_response events, want 1", len(call.EventsNamed("hook_response")))
			}
			t.Logf("hook body: %s", q.Body)
		})
	}
}

// TestHookObjectPutBasicAuth: actionHook as an object {url, method,
// username, password}: the request is a PUT with HTTP basic auth, and the
// credentials are not shown in the hook_response event.
func TestHookObjectPutBasicAuth(t *testing.T) {
	t.Parallel()
	srv := NewWSServer(t, nil)
	hook := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.answer = `{"put":"ok"}` })
	cfg := map[string]any{"url": srv.URL, "actionHook": map[string]any{
		"url": hook.URL, "method": "PUT", "username": "hookuser", "password": "s3cr:et pw"}}
	r := RunSim(t, Sim{Config: mustJSON(t, cfg), Call: mustJSON(t, lifecycleCall), Hangup: 0.6, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	reqs := hook.settle()
	if len(reqs) != 1 {
		t.Fatalf("%d hook requests, want 1\n%s", len(reqs), r.Describe())
	}
	q := reqs[0]
	if q.Method != http.MethodPut {
		t.Errorf("hook method %s, want PUT", q.Method)
	}
	if !q.HasAuth || q.User != "hookuser" || q.Pass != "s3cr:et pw" {
		t.Errorf("hook basic auth %v %q:%q, want hookuser:\"s3cr:et pw\" (Authorization %q)",
			q.HasAuth, q.User, q.Pass, q.Header.Get("Authorization"))
	}
	lifecycleCheckHookBody(t, q.Body, call, "hangup", "", "")
	ev := call.EventsNamed("hook_response")
	if len(ev) != 1 {
		t.Fatalf("%d hook_response events, want 1\n%s", len(ev), r.Describe())
	}
	if strings.Contains(string(ev[0].JSON), "s3cr") {
		t.Errorf("hook_response shows the password: %s", ev[0].JSON)
	}
	if ev[0].String("body") != `{"put":"ok"}` {
		t.Errorf("hook_response body %q, want the answer", ev[0].String("body"))
	}
}

// TestHookResponseEvent: the hook's answer (status, body) reaches the host
// in a hook_response event, before the stop event, which is last; an HTTP
// error status is an answer, not retried.
func TestHookResponseEvent(t *testing.T) {
	t.Parallel()
	const answer = `{"verb":"hangup","note":"thanks"}`
	ok := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.answer = answer })
	bad := newLifecycleHookServer(t, func(h *lifecycleHookServer) {
		h.status, h.answer = http.StatusServiceUnavailable, "try later"
	})
	s1, s2 := NewWSServer(t, nil), NewWSServer(t, nil)
	results := RunSims(t, []Sim{
		{Config: mustJSON(t, map[string]any{"url": s1.URL, "actionHook": ok.URL}), Call: mustJSON(t, lifecycleCall), Hangup: 0.6, QuietLog: true},
		{Config: mustJSON(t, map[string]any{"url": s2.URL, "actionHook": bad.URL}), Call: mustJSON(t, lifecycleCall), Hangup: 0.6, QuietLog: true},
	})
	for i, tc := range []struct {
		name   string
		hook   *lifecycleHookServer
		status int
		body   string
	}{{"200", ok, 200, answer}, {"503", bad, 503, "try later"}} {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			r.MustSucceed(t, 1)
			call := r.Call(t, 0)
			if n := len(tc.hook.settle()); n != 1 {
				t.Errorf("%d hook requests, want 1 (an HTTP status is an answer, not retried)", n)
			}
			ev := call.EventsNamed("hook_response")
			if len(ev) != 1 {
				t.Fatalf("%d hook_response events, want 1\n%s", len(ev), r.Describe())
			}
			var status int
			ev[0].Field("status", &status)
			if status != tc.status || ev[0].String("body") != tc.body {
				t.Errorf("hook_response %s, want status %d body %q", ev[0].JSON, tc.status, tc.body)
			}
			if ev[0].String("url") != tc.hook.URL {
				t.Errorf("hook_response url %q, want %q", ev[0].String("url"), tc.hook.URL)
			}
			if n := len(call.EventsNamed("hook_failed")); n != 0 {
				t.Errorf("%d hook_failed events", n)
			}
			if last := call.Events[len(call.Events)-1]; last.Name != "stop" {
				t.Errorf("last event is %s, want stop", last.Name)
			}
		})
	}
}

// TestHookTimeout: a hook server that never answers does not hold the call:
// with hookTimeoutMs 1000 the stop event comes about 1 s after the listen
// ended (hangup at 1 s), after a hook_failed event.
func TestHookTimeout(t *testing.T) {
	t.Parallel()
	hook := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.hang = true })
	srv := NewWSServer(t, nil)
	const hangupMs = 1000
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "actionHook": hook.URL}),
		Settings: `{"hookTimeoutMs":1000}`, Call: mustJSON(t, lifecycleCall), Hangup: hangupMs / 1000.0, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	stop, ok := call.Stop()
	if !ok {
		t.Fatalf("no stop event\n%s", r.Describe())
	}
	if call.ReasonString() != "hangup" {
		t.Errorf("stop reason %s, want hangup", call.ReasonString())
	}
	// About 1 s after the end; slack for a loaded 2-core machine.
	if d := stop.T - hangupMs; d < 900 || d > 1000+800 {
		t.Errorf("stop event %d ms after the hangup, want about 1000 (900..1800): hookTimeoutMs not honoured\n%s", d, r.Describe())
	}
	ev := call.EventsNamed("hook_failed")
	if len(ev) != 1 {
		t.Fatalf("%d hook_failed events, want 1\n%s", len(ev), r.Describe())
	}
	var attempts int
	ev[0].Field("attempts", &attempts)
	if attempts < 1 || ev[0].String("error") == "" {
		t.Errorf("hook_failed %s: want an error and attempts ≥ 1", ev[0].JSON)
	}
	if ev[0].T > stop.T {
		t.Errorf("hook_failed at %d ms after the stop event at %d ms", ev[0].T, stop.T)
	}
	if n := len(call.EventsNamed("hook_response")); n != 0 {
		t.Errorf("%d hook_response events from a hook that never answered", n)
	}
	if n := len(hook.Requests()); n < 1 {
		t.Errorf("the hook server got no request")
	}
	t.Logf("stop at %d ms; hook_failed %s", stop.T, ev[0].JSON)
}

// TestHookRetry: a network error is retried: a hook server that resets the
// first connection without answering gets a second request, which is
// answered; the host sees hook_response, not hook_failed.
func TestHookRetry(t *testing.T) {
	t.Parallel()
	hook := newLifecycleHookServer(t, func(h *lifecycleHookServer) { h.resetFirst = 1; h.answer = "second" })
	srv := NewWSServer(t, nil)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": srv.URL, "actionHook": hook.URL}),
		Call: mustJSON(t, lifecycleCall), Hangup: 0.6, QuietLog: true})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	reqs := hook.settle()
	if len(reqs) != 2 {
		t.Fatalf("%d hook requests, want 2 (the reset one and its retry)\n%s", len(reqs), r.Describe())
	}
	if string(reqs[0].Body) != string(reqs[1].Body) {
		t.Errorf("the retry's body differs:\n%s\n%s", reqs[0].Body, reqs[1].Body)
	}
	lifecycleCheckHookBody(t, reqs[1].Body, call, "hangup", "", "")
	ev := call.EventsNamed("hook_response")
	if len(ev) != 1 || ev[0].String("body") != "second" {
		t.Errorf("hook_response events %v, want one with the second answer\n%s", ev, r.Describe())
	}
	if n := len(call.EventsNamed("hook_failed")); n != 0 {
		t.Errorf("%d hook_failed events", n)
	}
}
