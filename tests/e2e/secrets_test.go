package e2e

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The secrets a listen is given; none may appear in a log line or an event.
const (
	secWsPassword   = "s3cr3t-pw"     // wsAuth.password
	secURLPassword  = "urlpw"         // ws://user:urlpw@host
	secBearer       = "tok-s3cr3t"    // headers.Authorization: Bearer …
	secHookPassword = "hookpw-s3cr3t" // actionHook.password
	secHookURLPw    = "hookurlpw"     // http://hookuser:hookurlpw@host
)

// secForbidden is every secret, and the encodings they travel in.
func secForbidden() []string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return []string{
		secWsPassword, secURLPassword, secBearer, secHookPassword, secHookURLPw,
		b64("bob:" + secWsPassword), b64("user:" + secURLPassword),
		b64("hk:" + secHookPassword), b64("hookuser:" + secHookURLPw),
	}
}

// secHookServer answers action hooks: /ok with 200, /hang never (until the
// test ends); it records the Authorization header of each request.
type secHookServer struct {
	*httptest.Server
	mu    sync.Mutex
	auths map[string][]string // path -> Authorization headers
}

func secNewHookServer(t *testing.T) *secHookServer {
	h := &secHookServer{auths: map[string][]string{}}
	quit := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.auths[r.URL.Path] = append(h.auths[r.URL.Path], r.Header.Get("Authorization"))
		h.mu.Unlock()
		if r.URL.Path == "/hang" {
			select {
			case <-r.Context().Done():
			case <-quit:
			}
			return
		}
		w.Write([]byte("thanks"))
	}))
	t.Cleanup(func() { close(quit); h.Close() })
	return h
}

func (h *secHookServer) Auths(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.auths[path]...)
}

// TestSecretsNotLogged: runs that use basic auth (password s3cr3t-pw), a URL
// with user info (ws://user:urlpw@host), a bearer token (tok-s3cr3t), an
// action hook with a password and one with user info in its URL, through
// success, a refused upgrade, an unreachable server, a TLS failure, a
// dropped and redialled connection, a refused config, a hook that fails on
// the network and one that times out. The engine's log lines (switchsim's
// stderr, at logLevel 7) and events (stdout) never contain a secret, nor
// its base64 form, while the secrets did reach the servers.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	srv := fltNewServer(t, nil)
	pki := tlsNewPKI(t)
	tlsSrv := fltNewServer(t, pki.tlsServerConfig(pki.SelfSigned, false))
	hooks := secNewHookServer(t)
	hookHost := strings.TrimPrefix(hooks.URL, "http://")
	hookOK := map[string]any{"url": hooks.URL + "/ok", "username": "hk", "password": secHookPassword}
	hookURLUser := "http://hookuser:" + secHookURLPw + "@" + hookHost + "/ok"
	hookDown := map[string]any{"url": "http://127.0.0.1:1/hook", "username": "hk", "password": secHookPassword}
	hookHang := map[string]any{"url": "http://hookuser:" + secHookURLPw + "@" + hookHost + "/hang",
		"username": "hk", "password": secHookPassword}
	wsAuth := map[string]any{"username": "bob", "password": secWsPassword}
	bearer := map[string]string{"Authorization": "Bearer " + secBearer}
	withUser := func(u string) string { return strings.Replace(u, "://", "://user:"+secURLPassword+"@", 1) }

	cases := []struct {
		name     string
		config   map[string]any
		settings map[string]any
		check    func(t *testing.T, r *Result)
	}{
		{name: "basic-auth-hook-ok", config: map[string]any{"url": srv.URLFor("ok"), "wsAuth": wsAuth,
			"actionHook": hookOK, "metadata": map[string]any{"case": "basic-auth-hook-ok"}}},
		{name: "bearer-hook-url-userinfo", config: map[string]any{"url": srv.URLFor("ok"), "headers": bearer,
			"actionHook": hookURLUser, "metadata": map[string]any{"case": "bearer-hook-url-userinfo"}}},
		{name: "bearer-setting-redialled", config: map[string]any{"url": srv.URLFor("close-abnormal-at-0.5s-once"),
			"wsAuth": wsAuth, "reconnect": map[string]any{"attempts": 2, "backoffMs": 50}, "actionHook": hookOK},
			settings: map[string]any{"headers": bearer}},
		{name: "url-userinfo", config: map[string]any{"url": withUser(srv.URLFor("ok")), "actionHook": hookOK}},
		{name: "upgrade-refused-hook-down", config: map[string]any{"url": srv.URLFor("401"), "wsAuth": wsAuth,
			"headers": bearer, "actionHook": hookDown}},
		{name: "unreachable-hook-timeout", config: map[string]any{"url": withUser("ws://127.0.0.1:1/listen"),
			"wsAuth": wsAuth, "headers": bearer, "actionHook": hookHang},
			settings: map[string]any{"hookTimeoutMs": 500}},
		{name: "tls-refused", config: map[string]any{"url": tlsSrv.URLFor("ok"), "wsAuth": wsAuth,
			"headers": bearer, "actionHook": hookURLUser}},
		{name: "config-refused-url", config: map[string]any{"url": "wz://user:" + secURLPassword + "@127.0.0.1/x",
			"wsAuth": wsAuth, "headers": bearer}},
		{name: "config-refused-hook", config: map[string]any{"url": srv.URLFor("ok"), "wsAuth": wsAuth,
			"actionHook": map[string]any{"url": "ftp://hookuser:" + secHookURLPw + "@127.0.0.1/x", "password": secHookPassword}}},
	}
	sims := make([]Sim, len(cases))
	for i, tc := range cases {
		settings := map[string]any{"logLevel": 7, "connectTimeoutMs": 2000}
		for k, v := range tc.settings {
			settings[k] = v
		}
		sims[i] = Sim{Config: mustJSON(t, tc.config), Settings: mustJSON(t, settings), Hangup: 1.5, Timeout: 60 * time.Second}
	}
	results := RunSims(t, sims)
	seen := map[string]bool{} // event names seen over all runs
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			out := r.Stdout + "\n" + r.Stderr
			for _, s := range secForbidden() {
				for _, line := range strings.Split(out, "\n") {
					if strings.Contains(line, s) {
						t.Errorf("secret %q appears in the output: %s", s, line)
					}
				}
			}
			for _, c := range r.Calls {
				for _, e := range c.Events {
					seen[e.Name] = true
				}
				if c.Error != "" {
					seen["create error"] = true
				}
			}
			t.Logf("exit %d, events %v, %d stderr lines", r.ExitCode, func() []string {
				var n []string
				for _, c := range r.Calls {
					n = append(n, fltEventNames(c), c.Error)
				}
				return n
			}(), strings.Count(r.Stderr, "\n"))
		})
	}
	// The runs must have gone where they were meant to, or the check above
	// proves little: errors, hook answers and failures were all printed.
	for _, name := range []string{"connect", "connect_failed", "disconnect", "reconnecting", "hook_response", "hook_failed", "stop", "create error"} {
		if !seen[name] {
			t.Errorf("no run produced a %q: the secrets were not exercised on that path", name)
		}
	}
	// And the secrets did reach the servers.
	wantAuth := map[string]bool{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("bob:"+secWsPassword)): false,
		"Bearer " + secBearer: false,
	}
	for _, q := range srv.Requests() {
		if _, ok := wantAuth[q.Header.Get("Authorization")]; ok {
			wantAuth[q.Header.Get("Authorization")] = true
		}
	}
	for k, ok := range wantAuth {
		if !ok {
			t.Errorf("no upgrade request carried Authorization %q", k)
		}
	}
	hookAuth := map[string]bool{}
	for _, a := range hooks.Auths("/ok") {
		hookAuth[a] = true
	}
	for _, want := range []string{
		"Basic " + base64.StdEncoding.EncodeToString([]byte("hk:"+secHookPassword)),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("hookuser:"+secHookURLPw)),
	} {
		if !hookAuth[want] {
			t.Errorf("no hook request carried Authorization %q (got %v)", want, hooks.Auths("/ok"))
		}
	}
}

// TestSecretsURLUserinfo: a ws:// URL with user info is accepted by the
// config (and redacted from every text); its credentials must then be used,
// as HTTP basic auth on the upgrade, like wsAuth.
func TestSecretsURLUserinfo(t *testing.T) {
	t.Parallel()
	srv := fltNewServer(t, nil)
	u := strings.Replace(srv.URLFor("ok"), "://", "://user:"+secURLPassword+"@", 1)
	r := RunSim(t, Sim{Config: mustJSON(t, map[string]any{"url": u}), Hangup: 0.5})
	r.MustSucceed(t, 1)
	call := r.Call(t, 0)
	if call.ReasonString() != "hangup" {
		t.Fatalf("stop reason %s, want hangup: the URL's credentials must be usable (events %v)",
			call.ReasonString(), fltJSONs(call.Events))
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secURLPassword))
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Header.Get("Authorization") != want {
		t.Errorf("upgrade requests %v, want one with Authorization %q", reqs, want)
	}
	if c := call.EventsNamed("connect"); len(c) == 1 && strings.Contains(string(c[0].JSON), secURLPassword) {
		t.Errorf("connect event %s shows the password", c[0].JSON)
	}
}
