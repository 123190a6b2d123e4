package wsdial

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawServer answers each upgrade request with answer(key), key being the
// request's Sec-WebSocket-Key; "" leaves the request unanswered, the
// connection open until the test ends.
func rawServer(t *testing.T, answer func(key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit); ln.Close() })
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
				if a := answer(req.Header.Get("Sec-WebSocket-Key")); a != "" {
					c.Write([]byte(a))
				}
				<-quit
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/listen"
}

func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func answer101(headers ...string) string {
	return "HTTP/1.1 101 Switching Protocols\r\n" + strings.Join(headers, "\r\n") + "\r\n\r\n"
}

// TestUpgradeAnswers: each way a server can get the upgrade's answer wrong
// is named as what it is, not as "refused the upgrade: HTTP 101".
func TestUpgradeAnswers(t *testing.T) {
	cases := []struct {
		name   string
		answer func(key string) string
		want   string
	}{
		{"wrong-accept", func(string) string {
			return answer101("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptKey("another key"))
		}, "answered the upgrade (HTTP 101) with a wrong Sec-WebSocket-Accept: not a WebSocket server, or a proxy in the way"},
		{"no-accept", func(string) string {
			return answer101("Upgrade: websocket", "Connection: Upgrade")
		}, "answered the upgrade (HTTP 101) without Sec-WebSocket-Accept"},
		{"no-upgrade", func(k string) string {
			return answer101("Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptKey(k))
		}, `answered the upgrade (HTTP 101) without "Upgrade: websocket"`},
		{"no-connection", func(k string) string {
			return answer101("Upgrade: websocket", "Sec-WebSocket-Accept: "+acceptKey(k))
		}, `answered the upgrade (HTTP 101) without "Connection: Upgrade"`},
		{"unoffered-subprotocol", func(k string) string {
			return answer101("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptKey(k),
				"Sec-WebSocket-Protocol: evil.example"+strings.Repeat("x", 200))
		}, `chose the subprotocol "evil.example` + strings.Repeat("x", 52) + `", which was not offered`},
		{"malformed-answer", func(string) string {
			return answer101("Upgrade: websocket", "Bad\x01Line"+strings.Repeat("y", 5000))
		}, `: malformed MIME header: missing colon: "Bad\x01Line` + strings.Repeat("y", 160-len(`malformed MIME header: missing colon: "Bad\x01Line`)) + "…"},
		{"malformed-status", func(string) string {
			return "HTTP/1.1 1O1 \x00\xff\r\n\r\n"
		}, `: malformed HTTP status code "1O1"`},
		{"unoffered-extension", func(k string) string {
			return answer101("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptKey(k),
				"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover")
		}, `answered with the extension "permessage-deflate; server_no_context_takeover; client_no_contex", which was not offered`},
		{"deflate-without-takeover", func(k string) string {
			return answer101("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: "+acceptKey(k),
				"Sec-WebSocket-Extensions: permessage-deflate")
		}, `answered with the extension "permessage-deflate", which was not offered`},
		{"unknown-status", func(string) string {
			return "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n"
		}, "refused the upgrade: HTTP 599"},
		{"status-text-not-echoed", func(string) string {
			return "HTTP/1.1 403 Go away\x07" + strings.Repeat("!", 5000) + "\r\nContent-Length: 0\r\n\r\n"
		}, "refused the upgrade: HTTP 403 Forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, tc.answer)
			_, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second, Subprotocols: []string{"audio.jambonz.org"}})
			if err == nil {
				t.Fatal("the dial succeeded")
			}
			if !strings.HasPrefix(err.Error(), url) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "Go away") || strings.Contains(err.Error(), "HTTP 101 Switching") {
				t.Fatalf("error %q repeats the server's text", err)
			}
		})
	}
	// The right answer, with and without an offered subprotocol, connects.
	for _, proto := range []string{"", "audio.jambonz.org"} {
		url := rawServer(t, func(k string) string {
			h := []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: " + acceptKey(k)}
			if proto != "" {
				h = append(h, "Sec-WebSocket-Protocol: "+proto)
			}
			return answer101(h...)
		})
		conn, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second, Subprotocols: []string{"audio.jambonz.org"}})
		if err != nil {
			t.Fatalf("subprotocol %q: %v", proto, err)
		}
		if conn.Subprotocol() != proto {
			t.Errorf("subprotocol %q, want %q", conn.Subprotocol(), proto)
		}
		conn.Close()
	}
}

// TestCancelAbandonsTheDial: a server that takes the upgrade request and
// never answers holds the dial only until the context is cancelled, not for
// the whole connect timeout.
func TestCancelAbandonsTheDial(t *testing.T) {
	url := rawServer(t, func(string) string { return "" })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := Dial(ctx, Options{URL: url, Timeout: 10 * time.Second})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "connecting was cancelled") {
		t.Fatalf("error %v, want it to say the connecting was cancelled", err)
	}
	t.Logf("cancelled 300 ms into the upgrade: Dial returned after %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Fatalf("Dial returned %v after the cancel: it waited for the connect timeout", took-300*time.Millisecond)
	}
	// The timeout still reads as a timeout.
	_, err = Dial(context.Background(), Options{URL: url, Timeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("error %v, want \"no answer within 200ms\"", err)
	}
}

// upgradeServer upgrades each request and hands the connection to serve.
func upgradeServer(t *testing.T, serve func(c *websocket.Conn)) string {
	t.Helper()
	quit := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
		<-quit
	}))
	t.Cleanup(func() { close(quit); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// TestKeepaliveGivesUpASilentServer: a server that neither reads (so never
// answers a ping) nor sends is given up two intervals after it was last
// heard from; the blocked read fails, and so does a write blocked on the
// server's full buffers, both saying why.
func TestKeepaliveGivesUpASilentServer(t *testing.T) {
	url := upgradeServer(t, func(*websocket.Conn) {})
	const every = 100 * time.Millisecond
	conn, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second, PingInterval: every, SendBuffer: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	readErr := make(chan error, 1)
	go func() {
		_, _, err := conn.NextReader()
		readErr <- err
	}()
	// Writes fill the buffers and then block, until the keepalive ends them.
	var writeErr error
	written := 0
	for writeErr == nil && time.Since(start) < 10*time.Second {
		writeErr = conn.WriteMessage(websocket.BinaryMessage, make([]byte, 64<<10))
		written++
	}
	want := "the server sent nothing, not even a pong, for 200ms"
	if writeErr == nil || writeErr.Error() != want {
		t.Fatalf("write error %v after %d writes, want %q", writeErr, written, want)
	}
	select {
	case err := <-readErr:
		if err == nil || err.Error() != want {
			t.Fatalf("read error %v, want %q", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read is still blocked")
	}
	took := time.Since(start)
	t.Logf("silent server given up after %v (%d KiB written before the writes blocked)", took.Round(time.Millisecond), written*64)
	if took < 2*every {
		t.Fatalf("given up after %v, before two intervals of silence", took)
	}
}

// TestKeepaliveKeepsAQuietServer: a server that reads, so answers pings,
// but sends nothing else is alive: pinged every interval, never dropped.
func TestKeepaliveKeepsAQuietServer(t *testing.T) {
	var pings atomic.Int32
	got := make(chan string, 1)
	url := upgradeServer(t, func(c *websocket.Conn) {
		c.SetPingHandler(func(data string) error {
			pings.Add(1)
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		_, b, err := c.ReadMessage()
		if err == nil {
			got <- string(b)
		}
	})
	const every = 50 * time.Millisecond
	conn, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second, PingInterval: every})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readErr := make(chan error, 1)
	go func() {
		_, _, err := conn.NextReader()
		readErr <- err
	}()
	select {
	case err := <-readErr:
		t.Fatalf("the connection to a server that answers pings failed: %v", err)
	case <-time.After(20 * every):
	}
	if n := pings.Load(); n < 5 {
		t.Fatalf("%d pings in 20 intervals", n)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "still here" {
		t.Fatalf("server got %q", s)
	}
	t.Logf("%d pings in %v, connection kept", pings.Load(), 20*every)
}

// TestNoPingsWhenOff: pingIntervalMs 0 sends no pings and gives nobody up.
func TestNoPingsWhenOff(t *testing.T) {
	var pings atomic.Int32
	url := upgradeServer(t, func(c *websocket.Conn) {
		c.SetPingHandler(func(string) error { pings.Add(1); return nil })
		c.ReadMessage()
	})
	conn, err := Dial(context.Background(), Options{URL: url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(300 * time.Millisecond)
	if err := conn.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := pings.Load(); n != 0 {
		t.Fatalf("%d pings with the keepalive off", n)
	}
}
