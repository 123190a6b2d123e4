package stream

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/modlisten/mod_listen/go/config"
)

// listener accepts TCP connections and hands each to serve.
func listener(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
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
			go serve(c)
		}
	}()
	return "ws://" + ln.Addr().String() + "/x"
}

func startWith(t *testing.T, cfg string, set config.Settings, h Host) *Stream {
	t.Helper()
	l, err := config.ParseListen([]byte(cfg), set)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: l, Settings: set, CodecRate: 8000}, &fakeMedia{}, h)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	return s
}

// TestStopAbandonsTheDial: a stop while the server sits on the upgrade
// request ends the stream at once, not at the 30 s connect timeout, and
// no connect_failed is reported for a listen that was stopped.
func TestStopAbandonsTheDial(t *testing.T) {
	quit := make(chan struct{})
	defer close(quit)
	url := listener(t, func(c net.Conn) {
		defer c.Close()
		<-quit
	})
	set := config.DefaultSettings()
	set.ConnectTimeout = 30 * time.Second
	rec := &recorder{}
	s := startWith(t, `{"url":"`+url+`"}`, set, rec)
	time.Sleep(200 * time.Millisecond)
	stopped := time.Now()
	s.Stop(ReasonHangup)
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not finish within 10 s of the stop")
	}
	t.Logf("stream done %v after the stop", time.Since(stopped).Round(time.Millisecond))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.events, " ") != "stop" || !strings.Contains(rec.bodies["stop"], `"reason":"hangup"`) ||
		strings.Contains(rec.bodies["stop"], `"error"`) {
		t.Fatalf("events %v, stop %s: want only a stop, reason hangup, no error", rec.events, rec.bodies["stop"])
	}
}

// TestRedialsBoundedAcrossTheListen: a server that completes the upgrade
// and drops the connection at once gets the first connection and
// reconnect.attempts redials, then the listen ends with connection_lost.
func TestRedialsBoundedAcrossTheListen(t *testing.T) {
	var conns atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns.Add(1)
		c.UnderlyingConn().Close()
	}))
	defer srv.Close()
	rec := &recorder{}
	s := startWith(t, `{"url":"ws`+strings.TrimPrefix(srv.URL, "http")+`","reconnect":{"attempts":2,"backoffMs":10}}`,
		config.DefaultSettings(), rec)
	wakeUntilDone(t, s, 5*time.Second)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (the first and 2 redials); events %v", n, rec.events)
	}
	if !strings.Contains(rec.bodies["stop"], `"reason":"connection_lost"`) {
		t.Fatalf("stop %s, want reason connection_lost", rec.bodies["stop"])
	}
}
